"""Seed 004's low-frequency contrarian trade (engine/contrarian): Wilder's RSI and the EMA against a hand computation
on real BTC closes, and the rules on real SOL candles from the bundled data: an extreme faded only with the big
trend, never in a one-sided market, one light position with its stop and target, a cool-down after each exit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hedgeops.api.enhancement import Contrarian, ContrarianPhase
from hedgeops.engine.common.errors import RedLineError
from hedgeops.engine.common.indicators import ema, rsi
from hedgeops.engine.contrarian.machine import ContrarianState, ContrarianView, brackets, step
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.marketdata.replay_candles import closed_candles
from hedgeops.model.orders import Side

from .test_engine_grid import LAID_AT, hourly

D = Decimal
SOL = "SOL/USDT:USDT"
RULES = PAPER_MARKETS[SOL]
SPEC = Contrarian(symbol=SOL, stopLossRatio=D("-0.03"))
CAPITAL = D(1000)
EUPHORIA_IN_A_FALL = datetime(2025, 3, 24, 12, tzinfo=UTC)  # SOL 4h RSI 74.7, daily close under its EMA, ADX 23.3
ONE_SIDED = datetime(2025, 3, 24, 16, tzinfo=UTC)  # RSI 74.2, but ADX 25.9
EUPHORIA_IN_A_RISE = datetime(2025, 5, 8, 16, tzinfo=UTC)  # RSI 76.0 with the daily close above its EMA
PANIC_IN_A_RISE = datetime(2025, 9, 22, 8, tzinfo=UTC)  # RSI 25.0, daily trend up, ADX 18.5


def test_rsi_and_ema_match_the_hand_computation() -> None:
    # The seven real BTC closes of tests/test_engine_grid.py's slice; period 3.
    #   changes −278.9, 24.2, 111.7, −454.7, −0.2, 150.2: first gain (24.2 + 111.7) / 3 = 45.3, loss 278.9 / 3 =
    #   92.9667; then (g × 2 + gain) / 3: 30.2, 20.1333, 63.4889; losses 213.5444, 142.4296, 94.9531;
    #   RSI = 100 − 100 / (1 + 63.4889 / 94.9531) = 40.07.
    #   EMA: (104485.7 + 104206.8 + 104231.0) / 3 = 104307.8333, then + (x − EMA) × 2 / 4: 104325.2667,
    #   104106.6333, 103997.2167, 104017.6083.
    closes = [c.close for c in hourly(LAID_AT, 7)]
    assert round(rsi(closes, 3) or 0, 2) == D("40.07")
    assert round(ema(closes, 3) or 0, 4) == D("104017.6083")
    assert rsi(closes[:3], 3) is None and ema(closes[:2], 3) is None


def view(at: datetime, **kw: object) -> ContrarianView:
    series = MarketReplay().series(SOL)
    candles = closed_candles(series, "4h", 100, at)
    daily = closed_candles(series, "1d", 150, at)
    base = {"spec": SPEC, "capital": CAPITAL, "rules": RULES, "uid": "uid-1", "now": at, "last": candles[-1].close,
            "position": D(0), "candles": candles, "candle_start": candles[-1].start,
            "candle_starts": tuple(c.start for c in candles), "trend_closes": tuple(c.close for c in daily)}
    base.update(kw)
    return ContrarianView(**base)  # type: ignore[arg-type]


def test_euphoria_in_a_falling_market_is_sold_with_its_stop_and_target() -> None:
    v = view(EUPHORIA_IN_A_FALL)
    s = step(ContrarianState(), v)
    assert s.reason == "Entry" and s.state.phase is ContrarianPhase.SHORT and s.state.trend == "Down"
    assert s.order is not None and s.order.side == Side.SELL and not s.order.reduce_only
    assert s.order.qty == RULES.round_amount(CAPITAL * D("0.5") / v.last)  # light: half its capital, 1x
    assert (s.state.stop, s.state.take_profit) == (v.last * D("1.03"), v.last * D("0.94"))
    assert step(ContrarianState(), v).order == s.order  # deterministic client order id


def test_a_panic_in_a_rising_market_is_bought() -> None:
    s = step(ContrarianState(), view(PANIC_IN_A_RISE))
    assert s.reason == "Entry" and s.order is not None and s.order.side == Side.BUY and s.state.trend == "Up"
    assert brackets(SPEC, Side.BUY, D(100)) == (D(97), D(106))


def test_never_against_the_big_trend_nor_in_a_one_sided_market() -> None:
    against = step(ContrarianState(), view(EUPHORIA_IN_A_RISE))
    assert against.reason == "AgainstTrend" and against.order is None
    one_sided = step(ContrarianState(), view(ONE_SIDED))
    assert one_sided.reason == "OneSided" and one_sided.order is None
    calm = step(ContrarianState(), view(EUPHORIA_IN_A_FALL - timedelta(days=1)))
    assert calm.reason == "NoExtreme" and calm.order is None


def short() -> ContrarianState:
    return step(ContrarianState(), view(EUPHORIA_IN_A_FALL)).state


def test_exits_on_its_stop_or_its_target_and_never_adds() -> None:
    st, q = short(), D("3.48")
    held = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q))
    assert held.reason == "Holding" and held.order is None
    again = step(st, view(EUPHORIA_IN_A_FALL, position=-q))  # the extreme still on: one position at a time
    assert again.reason == "Holding" and again.order is None
    assert st.stop is not None and st.take_profit is not None
    stop = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, last=st.stop))
    assert stop.reason == "StopLoss" and stop.order is not None
    assert (stop.order.side, stop.order.qty, stop.order.reduce_only) == (Side.BUY, q, True)
    target = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, last=st.take_profit))
    assert target.reason == "TakeProfit" and target.order is not None and target.order.side == Side.BUY


def test_no_consecutive_entries_a_cool_down_after_every_exit() -> None:
    exit_at = EUPHORIA_IN_A_FALL + timedelta(minutes=5)
    closed = step(short(), view(exit_at, candles=None, position=D(0)))
    assert closed.finished and closed.state.phase is ContrarianPhase.COOLING_DOWN and closed.state.exited_at == exit_at
    # the next candle still shows euphoria in a falling market (ADX 25.9 aside): no entry until six candles opened
    cooling = step(closed.state, view(ONE_SIDED + timedelta(hours=4)))
    assert cooling.reason == "CoolingDown" and cooling.order is None
    later = step(replace(closed.state, exited_at=EUPHORIA_IN_A_FALL - timedelta(days=2)), view(EUPHORIA_IN_A_FALL))
    assert later.reason == "Entry" and later.state.trades == 2


def test_a_position_it_did_not_open_is_closed_reduce_only_never_entered_over() -> None:
    for at in (EUPHORIA_IN_A_FALL, ONE_SIDED):  # with or without a candle, halted too: it has no stop
        for halt in (None, "maintenance"):
            s = step(ContrarianState(), view(at, position=D(1), halt=halt))
            assert s.reason == "LeftoverPosition" and s.order is not None
            assert (s.order.side, s.order.qty, s.order.reduce_only) == (Side.SELL, D(1), True)
    assert step(ContrarianState(), view(EUPHORIA_IN_A_FALL, candles=None, position=D(-1))).order is not None


def test_halted_or_paused_the_stop_and_the_target_still_act() -> None:
    st, q = short(), D("3.48")
    assert st.stop is not None and st.take_profit is not None
    for controls in ({"halt": "maintenance"}, {"paused": True}):
        stop = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, last=st.stop, **controls))
        assert stop.reason == "StopLoss" and stop.order is not None and stop.order.reduce_only
        target = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, last=st.take_profit, **controls))
        assert target.reason == "TakeProfit" and target.order is not None and target.order.reduce_only
        kept = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, **controls))
        assert kept.reason == "Halted" and kept.order is None and kept.state.stop == st.stop
        # a stop watched from the halted state too, a tick later
        again = step(kept.state, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, last=st.stop, **controls))
        assert again.reason == "StopLoss" and again.order is not None


def test_halt_keeps_the_position_the_breaker_and_close_all_close_it() -> None:
    st, q = short(), D("3.48")
    halted = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, halt="maintenance"))
    assert halted.state.phase is ContrarianPhase.HALTED and halted.order is None
    resumed = step(halted.state, view(EUPHORIA_IN_A_FALL, candles=None, position=-q))
    assert resumed.reason == "Holding" and resumed.state.phase is ContrarianPhase.SHORT
    tripped = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, breaker_tripped=True))
    assert tripped.reason == "BreakerTripped" and tripped.order is not None and tripped.order.reduce_only
    assert step(ContrarianState(), view(EUPHORIA_IN_A_FALL, breaker_tripped=True)).order is None
    closing = step(st, view(EUPHORIA_IN_A_FALL, candles=None, position=-q, close_all=True))
    assert closing.reason == "CloseAll" and closing.order is not None
    flat = step(ContrarianState(), view(EUPHORIA_IN_A_FALL, close_all=True))
    assert flat.reason == "ClosedAll" and flat.order is None


def test_the_red_lines_hold_for_a_spec_built_around_the_schema() -> None:
    with pytest.raises(RedLineError, match="leverage"):
        step(ContrarianState(), view(EUPHORIA_IN_A_FALL, spec=Contrarian.model_construct(**{**dict(SPEC),
                                                                                             "leverage": D(4)})))
    with pytest.raises(RedLineError, match="stop"):
        step(ContrarianState(), view(EUPHORIA_IN_A_FALL, spec=Contrarian.model_construct(**{**dict(SPEC),
                                                                                             "stopLossRatio": D(0)})))
    with pytest.raises(RedLineError, match="liquidation"):  # 0.2 × 3 of the margin: past liquidation
        step(ContrarianState(), view(EUPHORIA_IN_A_FALL, spec=Contrarian.model_construct(**{
            **dict(SPEC), "stopLossRatio": D("-0.2"), "leverage": D(3)})))

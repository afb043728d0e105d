"""Seed 004's second layer, the trend-filtered neutral grid (engine/grid): Wilder's ADX and ATR against a hand
computation on real BTC candles, and the grid's rules (laying, replacing a fill one level away, the breakout
and trend-filter stops, the cool-down, the red lines) on real BTC hourly candles from the bundled data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hedgeops.api.enhancement import Grid, GridPhase
from hedgeops.engine.common.errors import RedLineError
from hedgeops.engine.common.indicators import adx, atr, dx_series, true_ranges
from hedgeops.engine.common.redlines import check_fixed_levels
from hedgeops.engine.grid.machine import GridState, GridStep, GridView, Resting, desired, step
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.marketdata.replay_candles import closed_candles
from hedgeops.model.candles import Candle
from hedgeops.model.orders import Side

D = Decimal
BTC = "BTC/USDT:USDT"
RULES = PAPER_MARKETS[BTC]
SPEC = Grid(symbol=BTC, leverage=D(2), stopLossRatio=D("-0.05"))
CAPITAL = D(2000)
LAID_AT = datetime(2025, 6, 1, 12, tzinfo=UTC)  # BTC's hourly ADX is 20.2 here: a ranging market
TRENDING_AT = datetime(2025, 6, 5, 22, tzinfo=UTC)  # and 27.1 here, after a day-long slide


def hourly(at: datetime, limit: int = 100) -> list[Candle]:
    return closed_candles(MarketReplay().series(BTC), "1h", limit, at)


# Seven real BTC/USDT perp hourly candles (Binance, 2025-06-01 05:00-11:00 UTC, from the bundled 5-minute file):
# (high, low, close). The reference below was worked by hand from them, period 3:
#   TR  = 347.7, 179.5, 181.1, 706.4, 269.6, 304.9          (TR_1 = max(104485.7-104138.0, |104485.7-104485.7|,
#   +DM = 0, 0, 21.6, 0, 0, 108.9                              |104138.0-104485.7|) = 347.7)
#   -DM = 248.7, 0, 0, 463.9, 0, 0
#   S(TR)_3 = 708.3, S(+DM)_3 = 21.6, S(-DM)_3 = 248.7 → +DI 3.0496, -DI 35.1122, DX 84.0178
#   then S ← S − S/3 + x: DX_4 = 95.5286, DX_5 = 95.5286, DX_6 = 41.6449
#   ADX_5 = (84.0178 + 95.5286 + 95.5286) / 3 = 91.6917; ADX_6 = (91.6917 × 2 + 41.6449) / 3 = 75.0094
#   ATR_3 = 708.3 / 3 = 236.1; ATR_6 = ((236.1 × 2 + 706.4) / 3 × 2 + 269.6) / 3 ... = 336.1519
SLICE = [("104671.8", "104386.7", "104485.7"), ("104485.7", "104138.0", "104206.8"),
         ("104327.5", "104148.0", "104231.0"), ("104349.1", "104168.0", "104342.7"),
         ("104410.5", "103704.1", "103888.0"), ("103996.7", "103727.1", "103887.8"),
         ("104105.6", "103800.7", "104038.0")]


def test_the_reference_slice_is_the_bundled_data() -> None:
    real = hourly(LAID_AT, 7)
    assert real[0].start == datetime(2025, 6, 1, 5, tzinfo=UTC)
    assert [(c.high, c.low, c.close) for c in real] == [tuple(D(x) for x in row) for row in SLICE]


def test_adx_and_atr_match_the_hand_computation() -> None:
    bars = hourly(LAID_AT, 7)
    assert true_ranges(bars) == [D("347.7"), D("179.5"), D("181.1"), D("706.4"), D("269.6"), D("304.9")]
    assert [round(x, 4) for x in dx_series(bars, 3)] == [D("84.0178"), D("95.5286"), D("95.5286"), D("41.6449")]
    assert round(adx(bars, 3) or 0, 4) == D("75.0094")
    assert round(atr(bars, 3) or 0, 4) == D("336.1519")
    assert adx(bars[:5], 3) is None and adx(bars[:6], 3) is not None  # the first ADX needs 2n candles
    assert atr(bars[:3], 3) is None


def test_adx_tells_the_range_from_the_trend_on_real_data() -> None:
    assert (adx(hourly(LAID_AT), 14) or 100) < 25 <= (adx(hourly(TRENDING_AT), 14) or 0)


def view(**kw: object) -> GridView:
    candles = hourly(LAID_AT)
    base = {"spec": SPEC, "capital": CAPITAL, "rules": RULES, "uid": "uid-1", "now": LAID_AT,
            "last": candles[-1].close, "position": D(0), "resting": (), "pnl": D(0), "candles": candles,
            "candle_start": candles[-1].start, "candle_starts": tuple(c.start for c in candles)}
    base.update(kw)
    return GridView(**base)  # type: ignore[arg-type]


def resting_of(s: GridStep, skip: set[int] = frozenset()) -> tuple[Resting, ...]:  # type: ignore[assignment]
    return tuple(Resting(p.client_order_id, p.side, p.price, p.qty) for p in s.places if p.level not in skip)


def laid() -> GridStep:
    return step(GridState(), view())


def test_a_ranging_market_lays_a_neutral_grid() -> None:
    s = laid()
    price, spacing = D("104038.0"), D(3) * (atr(hourly(LAID_AT), 14) or 0) / 5
    assert s.reason == "Laid" and s.state.phase is GridPhase.RUNNING and s.state.generation == 1
    levels = s.state.levels
    assert len(levels) == 11 and levels[5] == price
    assert all(abs(levels[i] - (price + (i - 5) * spacing)) <= RULES.price_step for i in range(11))
    buys = [p for p in s.places if p.side == Side.BUY]
    sells = [p for p in s.places if p.side == Side.SELL]
    assert [p.level for p in buys] == [0, 1, 2, 3, 4] and [p.level for p in sells] == [6, 7, 8, 9, 10]
    assert all(p.price < price for p in buys) and all(p.price > price for p in sells)
    # the same size on every level: the layer's capital × leverage over both sides' levels
    assert {p.qty for p in s.places} == {RULES.round_amount(CAPITAL * 2 / (10 * price))}
    assert len({p.client_order_id for p in s.places}) == 10
    assert laid().places == s.places  # deterministic client order ids


def test_a_filled_buy_is_replaced_by_a_sell_one_level_up_and_back() -> None:
    s = laid()
    q, levels = s.state.level_qty, s.state.levels
    # the buy on level 4 filled: a sell goes on level 5 (one level above), nothing else moves
    after = step(s.state, view(candles=None, position=q, last=levels[4], resting=resting_of(s, {4})))
    assert after.cancels == () and [(p.level, p.side, p.price) for p in after.places] == [(5, Side.SELL, levels[5])]
    assert after.places[0].client_order_id not in {p.client_order_id for p in s.places}
    # that sell filled too: flat again, and the buy on level 4 is back
    rest = resting_of(s, {4}) + resting_of(after)
    back = step(after.state, view(candles=None, position=D(0), last=levels[5] + 1,
                                  resting=tuple(r for r in rest if r.price != levels[5])))
    assert [(p.level, p.side) for p in back.places] == [(4, Side.BUY)]


def test_a_sell_fill_is_replaced_by_a_buy_one_level_down() -> None:
    s = laid()
    q, levels = s.state.level_qty, s.state.levels
    after = step(s.state, view(candles=None, position=-q, last=levels[6], resting=resting_of(s, {6})))
    assert [(p.level, p.side) for p in after.places] == [(5, Side.BUY)]


def test_orders_never_cross_the_price_and_never_pass_the_fixed_levels() -> None:
    s = laid()
    q, levels = s.state.level_qty, s.state.levels
    # the price fell through three buys between two looks: their sells go one level above each, none below price
    after = step(s.state, view(candles=None, position=3 * q, last=levels[2] - 1, resting=resting_of(s, {2, 3, 4})))
    assert [(p.level, p.side) for p in after.places] == [(3, Side.SELL), (4, Side.SELL), (5, Side.SELL)]
    # a partial fill between two levels: the resting buys and sells still stop at ±5 levels' worth
    for position in (D("1.4") * q, D("4.6") * q, -D("4.6") * q):
        want = desired(s.state, position, levels[5])
        buys = sum(q for _, side, _ in want if side == Side.BUY)
        sells = sum(q for _, side, _ in want if side == Side.SELL)
        assert position + buys <= 5 * q and position - sells >= -5 * q


def test_the_no_averaging_down_red_line_refuses_orders_beyond_the_levels() -> None:
    check_fixed_levels(D(0), D(5), D(5), D(5), "Grid")
    with pytest.raises(RedLineError, match="fixed levels"):
        check_fixed_levels(D(1), D(5), D(0), D(5), "Grid")
    with pytest.raises(RedLineError):
        check_fixed_levels(D(-1), D(0), D(5), D(5), "Grid")


def test_the_red_lines_hold_for_a_spec_built_around_the_schema() -> None:
    with pytest.raises(RedLineError, match="leverage"):
        step(GridState(), view(spec=Grid.model_construct(**{**dict(SPEC), "leverage": D(5)})))
    with pytest.raises(RedLineError, match="stop"):
        step(GridState(), view(spec=Grid.model_construct(**{**dict(SPEC), "stopLossRatio": D(0)})))


def test_a_breakout_cancels_everything_and_closes_at_market_then_cools_down() -> None:
    s = laid()
    q, levels = s.state.level_qty, s.state.levels
    rest = resting_of(s, {6, 7, 8, 9, 10})
    out = step(s.state, view(candles=None, position=-5 * q, last=levels[-1] + 1, resting=rest))
    assert out.reason == "Breakout" and out.state.phase is GridPhase.STOPPING
    assert set(out.cancels) == {r.client_order_id for r in rest}
    assert out.close is not None and out.close.side == Side.BUY and out.close.qty == 5 * q and not out.places
    flat = step(out.state, view(candles=None, position=D(0), last=levels[-1] + 1, pnl=D(-30)))
    assert flat.finished and flat.state.phase is GridPhase.COOLING_DOWN and flat.state.stops == 1
    assert flat.state.stopped_at == LAID_AT and flat.state.levels == ()


def test_the_trend_filter_flipping_stops_the_grid() -> None:
    s = laid()
    trending = hourly(TRENDING_AT)
    out = step(s.state, view(candles=trending, candle_start=trending[-1].start, position=D(0),
                             resting=resting_of(s), last=s.state.levels[5]))
    assert out.reason == "TrendFilter" and out.state.phase is GridPhase.STOPPING and len(out.cancels) == 10
    assert out.close is None  # nothing held: cancelling is the whole stop


def test_the_loss_stop() -> None:
    s = laid()
    out = step(s.state, view(candles=None, position=s.state.level_qty, last=s.state.levels[4],
                             resting=resting_of(s, {4}), pnl=D(-100)))
    assert out.reason == "StopLoss" and out.close is not None and out.close.side == Side.SELL


def test_the_grid_re_arms_only_after_the_cool_down_and_with_adx_below_the_threshold() -> None:
    stopped = GridState(phase=GridPhase.COOLING_DOWN, generation=1, seq=3, stopped_at=LAID_AT - timedelta(hours=3),
                        stops=1)
    early = step(stopped, view())  # three candles opened since the stop, six are asked for
    assert early.reason == "CoolingDown" and early.state.phase is GridPhase.COOLING_DOWN and not early.places
    later = step(replace(stopped, stopped_at=LAID_AT - timedelta(hours=7)), view())
    assert later.reason == "Laid" and later.state.generation == 2
    assert {p.client_order_id for p in later.places}.isdisjoint(p.client_order_id for p in laid().places)
    trending = hourly(TRENDING_AT)
    still = step(replace(stopped, stopped_at=TRENDING_AT - timedelta(hours=10)),
                 view(candles=trending, candle_start=trending[-1].start, now=TRENDING_AT,
                      candle_starts=tuple(c.start for c in trending), last=trending[-1].close))
    assert still.reason == "Trending" and still.state.phase is GridPhase.WAITING and not still.places


def test_no_grid_over_a_position_it_did_not_open_it_is_closed() -> None:
    out = step(GridState(), view(position=D("0.01")))
    assert out.reason == "LeftoverPosition" and not out.places
    assert out.close is not None and (out.close.side, out.close.qty) == (Side.SELL, D("0.01"))
    assert out.state.phase is GridPhase.STOPPING


def test_halted_or_paused_a_laid_grid_keeps_its_stops() -> None:
    s = laid()
    q, levels = s.state.level_qty, s.state.levels
    for controls in ({"halt": "maintenance"}, {"paused": True}):
        halted = step(s.state, view(candles=None, position=q, resting=resting_of(s, {4}), **controls))
        assert halted.state.phase is GridPhase.HALTED and halted.close is None
        out = step(halted.state, view(candles=None, position=q, last=levels[0] - 1, **controls))
        assert out.reason == "Breakout" and out.close is not None and out.close.side == Side.SELL
        loss = step(halted.state, view(candles=None, position=q, last=levels[4], pnl=D(-100), **controls))
        assert loss.reason == "StopLoss" and loss.close is not None
        trending = hourly(TRENDING_AT)
        flip = step(halted.state, view(candles=trending, candle_start=trending[-1].start, position=q,
                                       last=levels[5], **controls))
        assert flip.reason == "TrendFilter" and flip.close is not None
        done = step(out.state, view(candles=None, position=D(0), last=levels[0] - 1, **controls))
        assert done.finished and done.state.phase is GridPhase.COOLING_DOWN


def test_a_position_past_the_fixed_levels_is_stopped_not_raised() -> None:
    s = laid()
    q = s.state.level_qty
    out = step(s.state, view(candles=None, position=6 * q, last=s.state.levels[5], resting=resting_of(s)))
    assert out.reason == "OverLevels" and out.close is not None and out.close.qty == 6 * q
    assert out.close.side == Side.SELL and len(out.cancels) == 10 and not out.places


def test_halt_cancels_and_keeps_the_position_breaker_closes_it() -> None:
    s = laid()
    q = s.state.level_qty
    halted = step(s.state, view(candles=None, position=q, resting=resting_of(s, {4}), halt="maintenance"))
    assert halted.state.phase is GridPhase.HALTED and len(halted.cancels) == 9 and halted.close is None
    resumed = step(halted.state, view(candles=None, position=q, last=s.state.levels[4]))
    assert resumed.state.phase is GridPhase.RUNNING and len(resumed.places) == 10
    tripped = step(s.state, view(candles=None, position=q, resting=resting_of(s, {4}), breaker_tripped=True))
    assert tripped.reason == "BreakerTripped" and tripped.close is not None and len(tripped.cancels) == 9
    idle = step(GridState(), view(breaker_tripped=True))
    assert idle.state.phase is GridPhase.HALTED and not idle.places


def test_close_all_stops_and_stays_flat() -> None:
    s = laid()
    out = step(s.state, view(candles=None, position=s.state.level_qty, resting=resting_of(s, {4}), close_all=True))
    assert out.reason == "CloseAll" and out.close is not None
    done = step(out.state, view(candles=None, close_all=True))
    assert done.finished and done.state.phase is GridPhase.COOLING_DOWN
    held = step(done.state, view(close_all=True))
    assert held.reason == "ClosedAll" and not held.places
    # waiting or cooling down, a position left on the perp is closed, not reported flat
    for state in (GridState(), done.state):
        left = step(state, view(candles=None, position=D("-0.01"), close_all=True))
        assert left.reason == "CloseAll" and left.close is not None
        assert (left.close.side, left.close.qty) == (Side.BUY, D("0.01"))

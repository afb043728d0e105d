"""Seed 004's low-frequency contrarian trade (第二层, 顾问 1: 反情绪、低频轻仓交易, 非马丁), one pure step.

The rules, exactly (all on closed candles the venue serves, engine/common/indicators.py):

- Sentiment extreme: Wilder's RSI (`rsiPeriod`) of the last closed `timeframe` candle at or below `rsiLow` is a
  panic, at or above `rsiHigh` euphoria.
- The big trend (不逆大趋势): the last closed `trendTimeframe` candle's close against the EMA (`trendEmaPeriod`) of
  those closes: Up above it, Down below. A panic is bought only in an Up trend, euphoria sold only in a Down trend
  (buy the dip of a rising market, sell the rip of a falling one); an extreme against the trend is left alone.
- One-sided markets (单边行情不硬做): no entry while ADX (`adxPeriod`) on `timeframe` is at or above `adxThreshold`.
- Light and never martingale: one position at a time, entered only from flat, of a fixed size (its capital ×
  sizeRatio × leverage ÷ price), never added to (engine/common/redlines.py refuses an order that would add).
- Every entry has its stop and target, fixed at entry from the fill price: stop-loss at entry × (1 + stopLossRatio)
  for a long (× (1 − stopLossRatio) for a short), take-profit at entry × (1 ± takeProfitRatio). Both are watched
  on every tick from the venue's last price and closed at market, reduce-only.
- No consecutive entries (不连续出手): after every exit, `cooldownCandles` candles of `timeframe` must open before
  the next entry is considered. Entries are decided once a candle (low frequency), exits on every tick.
- Halt or spec.paused: no entry; a position is kept (as the carry keeps its legs) and its stop and target still
  act, reduce-only. A tripped breaker closes the position; close-all closes it and keeps it flat.
- A position on its perp that no trade of its own holds (an entry that filled after it was read as not filled, a
  hand-made order) has no stop: it is closed reduce-only at market (LeftoverPosition), never left or adopted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from hedgeops.api.enhancement import Contrarian, ContrarianPhase
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.common.indicators import Bar, adx, ema, rsi
from hedgeops.engine.common.redlines import (
    check_leverage,
    check_not_averaging_down,
    check_stop,
    check_stop_before_liquidation,
)
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import Side

ZERO = Decimal(0)
QUIET = "Waiting"  # a step with nothing new to decide: the runtime keeps the last decision's reason
IN_TRADE = (ContrarianPhase.LONG, ContrarianPhase.SHORT)


@dataclass(frozen=True)
class MarketOrder:
    """A taker order: an entry, or an exit (reduce-only)."""

    client_order_id: str
    side: Side
    qty: Decimal
    reduce_only: bool


@dataclass(frozen=True)
class ContrarianState:
    """What the trade remembers between steps (kept in the object's status.contrarian)."""

    phase: ContrarianPhase = ContrarianPhase.FLAT
    seq: int = 0
    entry: Decimal = ZERO
    stop: Decimal | None = None
    take_profit: Decimal | None = None
    exited_at: datetime | None = None
    last_candle: datetime | None = None
    rsi: Decimal | None = None
    adx: Decimal | None = None
    trend: str | None = None
    trades: int = 0


@dataclass(frozen=True)
class ContrarianView:
    """Everything one step looks at besides the state."""

    spec: Contrarian
    capital: Decimal  # its share of the layer's quote
    rules: MarketRules
    uid: str
    now: datetime  # the venue's clock
    last: Decimal
    position: Decimal  # signed units held on its perp (the perp is this object's alone: claims)
    unrealized: Decimal = ZERO
    candles: Sequence[Bar] | None = None  # `timeframe` candles, when one has closed since last_candle
    candle_start: datetime | None = None
    candle_starts: Sequence[datetime] = ()
    trend_closes: Sequence[Decimal] = ()  # `trendTimeframe` closes, oldest first (read with candles)
    breaker_tripped: bool = False
    halt: str | None = None
    paused: bool = False
    close_all: bool = False


@dataclass(frozen=True)
class ContrarianStep:
    """The answer: where it goes, why, and at most one order."""

    state: ContrarianState
    reason: str
    message: str
    order: MarketOrder | None = None
    finished: bool = False  # a position was found closed: the runtime books the trade in the breaker


def _p(price: Decimal | None) -> str:
    """A price in words: no trailing zeros, no exponent."""
    return "-" if price is None else f"{price.normalize():f}"


def brackets(spec: Contrarian, side: Side, entry: Decimal) -> tuple[Decimal, Decimal]:
    """(stop-loss, take-profit) prices of a position entered at `entry` on `side`."""
    if side == Side.BUY:
        return entry * (1 + spec.stopLossRatio), entry * (1 + spec.takeProfitRatio)
    return entry * (1 - spec.stopLossRatio), entry * (1 - spec.takeProfitRatio)


def _order(state: ContrarianState, view: ContrarianView, side: Side, qty: Decimal,
           reduce_only: bool) -> tuple[ContrarianState, MarketOrder]:
    nxt = replace(state, seq=state.seq + 1)
    cid = client_order_id(plan_id(f"{view.uid}/contrarian", nxt.seq), 0, "t")
    return nxt, MarketOrder(cid, side, qty, reduce_only)


def _exit(state: ContrarianState, view: ContrarianView, reason: str, message: str) -> ContrarianStep:
    qty = view.rules.round_amount(abs(view.position))
    if qty < view.rules.min_amount:
        return _closed(state, view, reason, message)
    nxt, order = _order(state, view, Side.towards(-view.position), qty, True)
    return ContrarianStep(nxt, reason, message, order)


def _closed(state: ContrarianState, view: ContrarianView, reason: str, message: str) -> ContrarianStep:
    """Found flat after a position: the trade is over; the cool-down starts."""
    done = replace(state, phase=ContrarianPhase.COOLING_DOWN, exited_at=view.now, entry=ZERO, stop=None,
                   take_profit=None)
    return ContrarianStep(done, reason, message, finished=True)


def signal(spec: Contrarian, candles: Sequence[Bar], trend_closes: Sequence[Decimal]) -> tuple[
        Decimal | None, Decimal | None, str | None]:
    """(RSI, ADX, trend) of the last closed candles: the module docstring's readings."""
    mean = ema(trend_closes, spec.trendEmaPeriod)
    trend = None if mean is None or not trend_closes else ("Up" if trend_closes[-1] > mean else "Down")
    return rsi([c.close for c in candles], spec.rsiPeriod), adx(candles, spec.adxPeriod), trend


def _flat(state: ContrarianState, view: ContrarianView) -> ContrarianStep:
    spec = view.spec
    if view.rules.round_amount(abs(view.position)) >= view.rules.min_amount:  # nothing manages it: closed
        return _exit(replace(state, phase=ContrarianPhase.FLAT), view, "LeftoverPosition",
                     f"{view.position} held on {spec.symbol}, which is the trade's alone, with no stop: closed "
                     "reduce-only")
    if view.candles is None:
        return ContrarianStep(state, QUIET, "waiting for the next candle")
    value, strength, trend = state.rsi, state.adx, state.trend
    state = replace(state, phase=ContrarianPhase.FLAT)
    if view.breaker_tripped or view.halt is not None or view.paused:
        why = "the breaker is tripped" if view.breaker_tripped else view.halt or "spec.paused is true"
        return ContrarianStep(replace(state, phase=ContrarianPhase.HALTED), "Halted", f"no entry: {why}")
    if state.exited_at is not None:
        opened = sum(1 for s in view.candle_starts if s >= state.exited_at)
        if opened < spec.cooldownCandles:
            return ContrarianStep(replace(state, phase=ContrarianPhase.COOLING_DOWN), "CoolingDown",
                                  f"{opened} of {spec.cooldownCandles} candles since the last exit")
    if value is None or strength is None or trend is None:
        return ContrarianStep(state, "WarmingUp", "too few closed candles for RSI, ADX or the trend's EMA")
    if strength >= spec.adxThreshold:
        return ContrarianStep(state, "OneSided", f"ADX {strength:.1f} ≥ {spec.adxThreshold}: no forcing a "
                              "one-sided market")
    side = Side.BUY if value <= spec.rsiLow else Side.SELL if value >= spec.rsiHigh else None
    if side is None:
        return ContrarianStep(state, "NoExtreme", f"RSI {value:.1f} inside [{spec.rsiLow}, {spec.rsiHigh}]")
    if (side == Side.BUY) != (trend == "Up"):
        return ContrarianStep(state, "AgainstTrend", f"RSI {value:.1f} would {side} against the {trend} trend")
    qty = view.rules.round_amount(view.capital * spec.sizeRatio * spec.leverage / view.last)
    if qty < view.rules.min_amount:
        return ContrarianStep(state, "TooSmall", f"{view.capital:.2f} × {spec.sizeRatio} is below {spec.symbol}'s "
                              "minimum order")
    check_not_averaging_down(view.position, view.unrealized, side.signed(qty), "Contrarian")
    stop, target = brackets(spec, side, view.last)
    nxt, order = _order(state, view, side, qty, False)
    phase = ContrarianPhase.LONG if side == Side.BUY else ContrarianPhase.SHORT
    nxt = replace(nxt, phase=phase, entry=view.last, stop=stop, take_profit=target, trades=state.trades + 1)
    return ContrarianStep(nxt, "Entry", f"RSI {value:.1f}, trend {trend}, ADX {strength:.1f}: {side} {qty} at about "
                          f"{view.last}, stop {_p(stop)}, target {_p(target)}", order)


def step(state: ContrarianState, view: ContrarianView) -> ContrarianStep:
    """One decision. Red lines first, then close-all, the position's exits, then entries."""
    spec = view.spec
    check_leverage(spec.leverage)
    check_stop(spec.stopLossRatio, "Contrarian")
    check_stop_before_liquidation(spec.stopLossRatio, spec.leverage, "Contrarian")
    if view.candles is not None:  # a candle closed: the readings are of it, whatever the phase
        value, strength, trend = signal(spec, view.candles, view.trend_closes)
        state = replace(state, rsi=value, adx=strength, trend=trend, last_candle=view.candle_start)
    held = view.rules.round_amount(abs(view.position)) >= view.rules.min_amount
    if state.phase in IN_TRADE or (state.phase is ContrarianPhase.HALTED and state.stop is not None):
        if not held:
            return _closed(state, view, "Closed", f"position closed, {state.trades} trade(s) so far")
        if view.close_all:
            return _exit(state, view, "CloseAll", "close-all requested: closing at market")
        if view.breaker_tripped:
            return _exit(state, view, "BreakerTripped", "the object's circuit breaker tripped: closing")
        long = view.position > 0
        halted = view.halt is not None or view.paused
        # The stop and the target act halted or paused too (every position has a stop); they only reduce.
        state = replace(state, phase=ContrarianPhase.HALTED if halted else
                        ContrarianPhase.LONG if long else ContrarianPhase.SHORT)
        if state.stop is not None and (view.last <= state.stop if long else view.last >= state.stop):
            return _exit(state, view, "StopLoss", f"price {view.last} through the stop {_p(state.stop)}")
        if state.take_profit is not None and (view.last >= state.take_profit if long
                                              else view.last <= state.take_profit):
            return _exit(state, view, "TakeProfit", f"price {view.last} reached the target {_p(state.take_profit)}")
        if halted:
            return ContrarianStep(state, "Halted", view.halt or "spec.paused is true: position kept with its stop "
                                  "and target, no entry")
        return ContrarianStep(state, "Holding", f"{view.position} from {_p(state.entry)}, stop {_p(state.stop)}, "
                              f"target {_p(state.take_profit)}")
    if view.close_all:
        if held:
            return _exit(state, view, "CloseAll", "close-all requested: closing at market")
        return ContrarianStep(replace(state, phase=ContrarianPhase.HALTED), "ClosedAll", "flat; close-all keeps it so")
    if state.phase is ContrarianPhase.HALTED:
        state = replace(state, phase=ContrarianPhase.COOLING_DOWN if state.exited_at else ContrarianPhase.FLAT)
    return _flat(state, view)

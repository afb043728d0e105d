"""Seed 004's trend-filtered neutral grid (第二层, 顾问 2: 趋势过滤网格), one pure step: the grid's state, what the
venue shows and, when a candle has closed, the candles; the next state and the orders to cancel and place.

The rules, exactly:

- Trend filter: Wilder's ADX (engine/common/indicators.py) of the last closed candle of `timeframe`, over the window
  the runtime fetches. A grid is laid only while ADX < adxThreshold (the seed: ADX < 25, a ranging market).
- Range: laid at the last price P with ATR A (Wilder's, same period): levels P + i × s for i = −n .. n, where
  n = `levels` and s = rangeAtr × A / n, rounded to the tick away from P. The range is [lowest, highest level].
- Size: every level trades the same q = capital × leverage ÷ (2n × P): the grid's capital (its share of the
  layer's) over both sides' levels, so every order resting at once never needs more margin than that capital.
- Neutral grid: no position at laying; buys on the levels below P, sells on the levels above. With position
  k × q (k = position ÷ q, rounded), the current level is c = n − k: buys rest on every level below c, sells on
  every level above, none on c. So a filled buy at level i is replaced by a sell at i + 1 and a filled sell by a
  buy at i − 1 (the classic grid), and the orders follow from the position alone: a restart, or fills between
  two looks, need no memory of which order filled. An order that would cross the last price waits.
- No martingale: the size per level never changes within a grid, the levels are fixed when it is laid, and the
  position can never exceed n × q either way (checked before every order, engine/common/redlines.py); a
  breakout closes everything instead of adding.
- Breakout stop: the last price outside the range, or ADX ≥ adxThreshold on a newly closed candle (the trend
  filter flips), or the grid's PnL since it was laid ≤ stopLossRatio × capital: cancel every order, close the
  position reduce-only at market (Stopping), then CoolingDown. Every grid position has its stop: the range edges
  (known when it is laid) and the loss stop.
- Re-arming: after a stop, no grid until `cooldownCandles` candles have opened since the stop, and then only when
  ADX is back below the threshold (Waiting while it is not).
- Halt, spec.paused or a tripped breaker: no grid is laid and no order rests (a position is kept through a halt,
  as the carry keeps its legs, and the stops above still act on it, reduce-only: every position has a stop; a
  tripped breaker closes it, as it closes the carry's pairs). close-all: stop now (a position left on the perp
  too) and stay flat while it is set.
- A position the grid holds past its fixed levels (n × q either way) is stopped (OverLevels), never refused with
  an error; a position on its perp while no grid is laid (nothing manages it, it has no stop) is closed
  reduce-only (LeftoverPosition)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from hedgeops.api.enhancement import Grid, GridPhase
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.common.indicators import Bar, adx, atr
from hedgeops.engine.common.redlines import check_fixed_levels, check_leverage, check_stop
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import Side

ZERO = Decimal(0)
QUIET = "Waiting"  # a step with nothing new to decide: the runtime keeps the last decision's reason
CLOSE_LEG = 99  # the market close's leg in its client order id (levels are 0 .. 2n ≤ 40)


@dataclass(frozen=True)
class Resting:
    """One order resting on the grid's perp."""

    client_order_id: str
    side: Side
    price: Decimal
    remaining: Decimal


@dataclass(frozen=True)
class Place:
    """A limit order on one level."""

    client_order_id: str
    side: Side
    price: Decimal
    qty: Decimal
    level: int


@dataclass(frozen=True)
class Close:
    """Close the whole position at market, reduce-only."""

    client_order_id: str
    side: Side
    qty: Decimal


@dataclass(frozen=True)
class GridState:
    """What the grid remembers between steps (kept in the object's status.grid)."""

    phase: GridPhase = GridPhase.WAITING
    generation: int = 0
    seq: int = 0  # order plans sent, over every generation (the write-ahead intent's sequence)
    levels: tuple[Decimal, ...] = ()
    level_qty: Decimal = ZERO
    adx: Decimal | None = None
    last_candle: datetime | None = None
    stopped_at: datetime | None = None
    stops: int = 0


@dataclass(frozen=True)
class GridView:
    """Everything one step looks at besides the state."""

    spec: Grid
    capital: Decimal  # the layer's quote: capital.amountQuote × enhancement.capitalShare
    rules: MarketRules
    uid: str
    now: datetime  # the venue's clock
    last: Decimal  # last price of the grid's perp
    position: Decimal  # signed units held on it
    resting: tuple[Resting, ...]  # every order resting on it (the perp is this object's alone: claims)
    pnl: Decimal  # the grid's PnL since this generation was laid (realised − fees + unrealised)
    candles: Sequence[Bar] | None = None  # closed candles, oldest first, when one has closed since last_candle
    candle_start: datetime | None = None  # the newest closed candle's open time
    candle_starts: Sequence[datetime] = ()  # every candle's open time (the cool-down counts those after a stop)
    breaker_tripped: bool = False
    halt: str | None = None
    paused: bool = False
    close_all: bool = False


@dataclass(frozen=True)
class GridStep:
    """The grid's answer: where it goes, why, and what to do (cancel, then close, then place)."""

    state: GridState
    reason: str
    message: str
    cancels: tuple[str, ...] = ()
    close: Close | None = None
    places: tuple[Place, ...] = ()
    finished: bool = False  # a generation ended flat: the runtime books its PnL as one close in the breaker


def _round_qty(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_HALF_EVEN))


def layout(spec: Grid, rules: MarketRules, price: Decimal, average_true_range: Decimal,
           capital: Decimal) -> tuple[tuple[Decimal, ...], Decimal]:
    """The levels (lowest first, the middle one the price) and the fixed size per level; () when the range would
    put two levels on one tick."""
    n = spec.levels
    spacing = spec.rangeAtr * average_true_range / n
    if spacing < 2 * rules.price_step:
        return (), ZERO
    below = [rules.passive_price(price - (n - i) * spacing, Side.BUY) for i in range(n)]
    above = [rules.passive_price(price + (i + 1) * spacing, Side.SELL) for i in range(n)]
    if below[0] <= 0:
        return (), ZERO
    qty = rules.round_amount(capital * spec.leverage / (2 * n * price))
    return (*below, price, *above), qty


def desired(state: GridState, position: Decimal, last: Decimal) -> list[tuple[int, Side, Decimal]]:
    """The orders the grid wants resting: (level, side, price). See the module docstring."""
    n, q = len(state.levels) // 2, state.level_qty
    c = n - _round_qty(position / q)
    cap = n * q  # a partial fill (a position between two levels) never lets the orders pass the fixed levels
    buys = [i for i in range(min(c, len(state.levels)) - 1, -1, -1) if state.levels[i] < last]
    sells = [i for i in range(max(c + 1, 0), len(state.levels)) if state.levels[i] > last]
    out = [(i, Side.BUY, state.levels[i]) for j, i in enumerate(buys) if position + (j + 1) * q <= cap]
    out += [(i, Side.SELL, state.levels[i]) for j, i in enumerate(sells) if position - (j + 1) * q >= -cap]
    return sorted(out)


def _stop(state: GridState, view: GridView, reason: str, message: str) -> GridStep:
    """Cancel every order and close the position at market, reduce-only."""
    nxt = replace(state, phase=GridPhase.STOPPING)
    close = None
    qty = view.rules.round_amount(abs(view.position))
    if qty >= view.rules.min_amount:
        nxt = replace(nxt, seq=state.seq + 1)
        pid = plan_id(f"{view.uid}/grid/{state.generation}", nxt.seq)
        close = Close(client_order_id(pid, CLOSE_LEG, "t"), Side.towards(-view.position), qty)
    return GridStep(nxt, reason, message, tuple(r.client_order_id for r in view.resting), close)


def _stopping(state: GridState, view: GridView) -> GridStep:
    flat = view.rules.round_amount(abs(view.position)) < view.rules.min_amount
    if flat and not view.resting:
        cooled = replace(state, phase=GridPhase.COOLING_DOWN, stopped_at=view.now, stops=state.stops + 1,
                         levels=(), level_qty=ZERO)
        return GridStep(cooled, "Stopped", f"grid {state.generation} closed flat, PnL {view.pnl:.2f}",
                        finished=True)
    return _stop(state, view, "Stopping", f"closing the grid's position {view.position}")


def _halt(state: GridState, view: GridView, reason: str, message: str) -> GridStep:
    """Nothing rests; the levels are kept so the grid can resume over the position it holds."""
    return GridStep(replace(state, phase=GridPhase.HALTED), reason, message,
                    tuple(r.client_order_id for r in view.resting))


def _evaluate(state: GridState, view: GridView) -> tuple[GridState, Decimal | None]:
    """The state with the newest candle's ADX, and that candle's ATR; unchanged without new candles."""
    if view.candles is None:
        return state, None
    period = view.spec.adxPeriod
    value = adx(view.candles, period)
    return replace(state, adx=value, last_candle=view.candle_start), atr(view.candles, period)


def _waiting(state: GridState, view: GridView, average_true_range: Decimal | None) -> GridStep:
    spec, adx_now = view.spec, state.adx
    cancels = tuple(r.client_order_id for r in view.resting)
    phase = GridPhase.WAITING  # the cool-down, if any, is over once past this
    if state.stopped_at is not None:
        opened = sum(1 for s in view.candle_starts if s >= state.stopped_at)
        if opened < spec.cooldownCandles:
            return GridStep(replace(state, phase=GridPhase.COOLING_DOWN), "CoolingDown",
                            f"{opened} of {spec.cooldownCandles} candles since the stop", cancels)
    if adx_now is None or average_true_range is None:
        return GridStep(replace(state, phase=phase), "WarmingUp",
                        f"fewer than {2 * spec.adxPeriod} closed {spec.timeframe} candles for ADX", cancels)
    if adx_now >= spec.adxThreshold:
        return GridStep(replace(state, phase=phase), "Trending",
                        f"ADX {adx_now:.1f} ≥ {spec.adxThreshold}: no grid in a trend", cancels)
    if view.rules.round_amount(abs(view.position)) >= view.rules.min_amount:  # nothing manages it: closed
        return _stop(replace(state, phase=phase), view, "LeftoverPosition",
                     f"{view.position} held on {spec.symbol}, which is the grid's alone: closed reduce-only")
    levels, qty = layout(spec, view.rules, view.last, average_true_range, view.capital)
    if not levels:
        return GridStep(replace(state, phase=phase), "RangeTooNarrow",
                        f"ATR {average_true_range:.6f} × {spec.rangeAtr} over {spec.levels} levels is under two ticks",
                        cancels)
    if qty < view.rules.min_amount:
        return GridStep(replace(state, phase=phase), "TooSmall",
                        f"{view.capital:.2f} over {2 * spec.levels} levels is below {spec.symbol}'s minimum order",
                        cancels)
    laid = replace(state, phase=GridPhase.RUNNING, generation=state.generation + 1, levels=levels,
                   level_qty=qty, stopped_at=None)
    step = _orders(laid, view, cancels)
    return replace(step, reason="Laid", message=f"ADX {adx_now:.1f} < {spec.adxThreshold}: {2 * spec.levels} levels "
                   f"of {qty} in [{levels[0]}, {levels[-1]}] around {view.last}")


def _orders(state: GridState, view: GridView, cancels: tuple[str, ...] = ()) -> GridStep:
    """Cancel what should not rest, place what is missing, within the fixed levels."""
    want = desired(state, view.position, view.last)
    wanted = {(side, price) for _, side, price in want}
    keep = [r for r in view.resting if (r.side, r.price) in wanted and r.client_order_id not in cancels]
    cancels += tuple(r.client_order_id for r in view.resting
                     if (r.side, r.price) not in wanted and r.client_order_id not in cancels)
    resting = {(r.side, r.price) for r in keep}
    missing = [(i, side, price) for i, side, price in want if (side, price) not in resting]
    nxt = state
    places: tuple[Place, ...] = ()
    if missing:
        nxt = replace(state, seq=state.seq + 1)
        pid = plan_id(f"{view.uid}/grid/{state.generation}", nxt.seq)
        places = tuple(Place(client_order_id(pid, i, "m"), side, price, state.level_qty, i)
                       for i, side, price in missing)
    n = len(state.levels) // 2
    check_fixed_levels(view.position, sum((r.remaining for r in keep if r.side == Side.BUY), ZERO)
                       + sum((p.qty for p in places if p.side == Side.BUY), ZERO),
                       sum((r.remaining for r in keep if r.side == Side.SELL), ZERO)
                       + sum((p.qty for p in places if p.side == Side.SELL), ZERO),
                       n * state.level_qty, "Grid")
    return GridStep(nxt, "Gridding", f"{len(keep) + len(places)} orders on {len(state.levels) - 1} levels, "
                    f"position {view.position}", cancels, None, places)


def step(state: GridState, view: GridView) -> GridStep:
    """One decision. Red lines first, then close-all, halt, the breaker, the phase's own rules."""
    check_leverage(view.spec.leverage)
    check_stop(view.spec.stopLossRatio, "Grid")
    state, average_true_range = _evaluate(state, view)
    running = state.phase in (GridPhase.RUNNING, GridPhase.STOPPING) or (
        state.phase is GridPhase.HALTED and bool(state.levels))
    if view.close_all:
        if state.phase is GridPhase.STOPPING or (running and (view.position != 0 or view.resting)):
            return _stopping(state, view) if state.phase is GridPhase.STOPPING else \
                _stop(state, view, "CloseAll", "close-all requested: orders cancelled, position closed at market")
        if view.rules.round_amount(abs(view.position)) >= view.rules.min_amount:  # a leftover on its perp
            return _stop(state, view, "CloseAll", f"close-all requested: {view.position} left on {view.spec.symbol}"
                         " closed at market")
        return GridStep(replace(state, phase=GridPhase.HALTED, levels=(), level_qty=ZERO), "ClosedAll",
                        "flat; close-all keeps it so", tuple(r.client_order_id for r in view.resting))
    if state.phase is GridPhase.STOPPING:
        return _stopping(state, view)
    if view.breaker_tripped:
        if running and (view.position != 0 or view.resting):
            return _stop(state, view, "BreakerTripped", "the object's circuit breaker tripped: grid closed")
        return _halt(replace(state, levels=(), level_qty=ZERO), view, "BreakerTripped",
                     "the object's circuit breaker is tripped: no grid")
    if running and state.levels:  # its stops act whatever the controls say: every position has a stop
        stopped = _stops(state, view)
        if stopped is not None:
            return stopped
    if view.halt is not None:
        return _halt(state, view, "Halted", view.halt)
    if view.paused:
        return _halt(state, view, "Paused", "spec.paused is true: no grid orders")
    if state.phase is GridPhase.HALTED:
        state = replace(state, phase=GridPhase.RUNNING if state.levels else GridPhase.WAITING)
    if state.phase is not GridPhase.RUNNING:
        if view.candles is None:  # nothing new to decide on: the last decision stands
            return GridStep(state, QUIET, "waiting for the next candle", tuple(r.client_order_id for r in view.resting))
        return _waiting(state, view, average_true_range)
    return _orders(state, view)


def _stops(state: GridState, view: GridView) -> GridStep | None:
    """The grid's stops (breakout, trend filter, loss, and a position past its fixed levels), checked on every
    step of a laid grid, halted or paused too: a stop only cancels and closes reduce-only."""
    spec, low, high = view.spec, state.levels[0], state.levels[-1]
    if view.last < low or view.last > high:
        return _stop(state, view, "Breakout", f"price {view.last} left the range [{low}, {high}]: grid stopped")
    if view.candles is not None and state.adx is not None and state.adx >= spec.adxThreshold:
        return _stop(state, view, "TrendFilter", f"ADX {state.adx:.1f} ≥ {spec.adxThreshold}: the market trends, "
                     "grid stopped")
    if view.pnl <= spec.stopLossRatio * view.capital:
        return _stop(state, view, "StopLoss", f"grid PnL {view.pnl:.2f} ≤ {spec.stopLossRatio} × {view.capital:.2f}")
    cap = len(state.levels) // 2 * state.level_qty
    if abs(view.position) > cap:  # more than its fixed levels can hold: never added to, closed (no martingale)
        return _stop(state, view, "OverLevels", f"position {view.position} is past the fixed levels' {cap}: "
                     "grid stopped")
    return None

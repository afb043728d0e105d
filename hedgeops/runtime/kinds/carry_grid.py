"""A FundingArbitrage's second layer in a tick (spec.enhancement.grid, seed 004): the trend-filtered grid's turn.
Recover the orders a killed process was sending, book what the grid's own orders filled since they were last
seen, fetch candles when one has closed, step the pure grid machine (engine/grid/machine.py) and execute its
cancels, close and limit orders, fenced and journalled. A generation that ends is one close for the object's
breaker (the carry's, over its pairs and its grid alike).

A plan's intent carries the grid's status as of the plan, its known orders with their fills included: a process
that recovers it books each fill once (the position and the orders' filled amounts are of the same moment). An
engine error of a part (part_failed) degrades that part alone; the carry's pairs are stepped on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from hedgeops.api.common import Condition
from hedgeops.api.enhancement import ContrarianStatus, GridOrder, GridPhase, GridStatus
from hedgeops.api.funding import FundingArbitrageSpec, FundingArbitrageStatus
from hedgeops.engine.carry.codec import breaker_doc, decode_breaker
from hedgeops.engine.carry.ledger import Breaker
from hedgeops.engine.carry.pairs import q8
from hedgeops.engine.carry.rules import next_funding_time
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.errors import PositionAdjustmentError
from hedgeops.engine.common.pnl import LegBook
from hedgeops.engine.grid.machine import QUIET, GridState, GridStep, GridView, Resting, step
from hedgeops.exchange.venue import CarryVenue
from hedgeops.model.candles import Candle, timeframe_seconds
from hedgeops.model.journal import CancelEntry, DecisionEntry, RecoveredEntry
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import AccountSnapshot, Liquidity, OrderRequest, OrderState, OrderType, Side, parse_enum
from hedgeops.runtime.cycle import CycleEvent, MarketMismatch
from hedgeops.runtime.execution import ExecutionContext, submit
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.kinds.carry_tick import KIND, ZERO, CarryTick

FUNDING_GRACE = timedelta(minutes=10)
CANDLES = 100  # the window ADX and ATR are computed over: always the same length, so the same ADX at each candle
WARNING_REASONS = {"Breakout", "TrendFilter", "StopLoss", "BreakerTripped", "CloseAll", "Halted", "LeftoverPosition",
                   "PlanRecovered", "SymbolChanged"}
GridTurn = tuple[GridStatus, list[CycleEvent], Breaker, bool]  # status, events, breaker after, changed


@dataclass(frozen=True)
class LayerIntentOrder:
    """One order of a second-layer plan (grid or contrarian), enough to find it on the venue and book it."""

    clientOrderId: str
    side: Side
    price: Decimal  # 0 for the market close
    amount: Decimal


@dataclass(frozen=True)
class LayerIntent:
    """The orders one plan of the grid or of the contrarian trade is about to send, written before the first of them
    (runtime/intents.py), each under its own key."""

    seq: int  # the part's plan sequence: newer than its status's, the plan was cut short
    orders: tuple[LayerIntentOrder, ...]
    # The part's status as the plan decided it, before its orders' fills (the grid's levels, the trade's stop): a
    # process that recovers the plan resumes from it and books the orders it finds on top.
    state: dict[str, Any] = field(default_factory=dict)


PartStatus = TypeVar("PartStatus", GridStatus, ContrarianStatus)
# What a second-layer part may fail with alone (a red line its engine refuses, an error of the engine's): that part
# is degraded, its status saying why, while the carry pair and the other part keep being stepped. A venue or lease
# error is the object's and still fails its tick.
PART_ERRORS = (PositionAdjustmentError,)


def part_failed(part: str, current: PartStatus, exc: Exception) -> tuple[PartStatus, list[CycleEvent]]:
    """A part that failed this tick: its last status with reason Failed and the error; a Warning when it is new."""
    message = f"{current.symbol}: {exc}; the {part.lower()} is skipped until it is fixed, the carry runs on"
    events = [] if (current.reason, current.message) == ("Failed", message) else [
        CycleEvent("Warning", f"{part}Failed", message)]
    return current.model_copy(update={"reason": "Failed", "message": message}), events


async def grid_failed_cancels(t: CarryTick, snap: AccountSnapshot, markets: Any, grid: GridStatus | None) -> int:
    """A grid whose turn failed leaves no order resting unwatched: its own open orders are cancelled (their fills
    are booked by the next turn that works, from the orders the status still knows). Its position is kept and the
    condition says so: the failure may be a spec problem, not a reason to trade."""
    if grid is None:
        return 0
    known = {o.clientOrderId for o in grid.orders}
    mine = [o for o in snap.open_orders if o.symbol == grid.symbol and o.client_order_id in known]
    if not mine:
        return 0
    ctx = t.guard.context(f"{t.guard.intents}:grid", markets)
    for o in mine:
        state = await ctx.venue.cancel(o.client_order_id, o.symbol)
        await ctx.record(CancelEntry(clientOrderId=o.client_order_id, filled=state.filled, reason="GridFailed"))
    return len(mine)


def layer_conditions(conditions: list[Condition], parts: Sequence[GridStatus | ContrarianStatus | None],
                     now: datetime, generation: int | None) -> list[Condition]:
    """Condition LayerDegraded: True while a second-layer part fails (part_failed), naming it and why."""
    failed = [p for p in parts if p is not None and p.reason == "Failed"]
    message = "; ".join(p.message or p.symbol for p in failed)
    return set_condition(conditions, "LayerDegraded", bool(failed), "PartFailed" if failed else "AllStepped",
                         message or "every second-layer part is stepped", now, generation)


def grid_spec(spec: FundingArbitrageSpec) -> Any:
    return spec.enhancement.grid if spec.enhancement is not None else None


def layer_capital(spec: FundingArbitrageSpec) -> Decimal:
    """What each part of the second layer trades: capital.amountQuote × enhancement.capitalShare, split equally
    between the grid and the contrarian trade when both are set (the carry sizes its pairs on the rest)."""
    enh = spec.enhancement
    if enh is None:
        return ZERO
    parts = (enh.grid is not None) + (enh.contrarian is not None)
    return spec.capital.amountQuote * enh.capitalShare / max(parts, 1)


def grid_due(spec: FundingArbitrageSpec, grid: GridStatus | None, now: datetime) -> bool:
    """Whether a tick has grid work: orders or a position to look after, or a candle closed since the last one."""
    g = grid_spec(spec)
    if g is None:
        return False
    if grid is None or grid.orders or grid.position != 0 or grid.phase in (GridPhase.RUNNING, GridPhase.STOPPING):
        return True
    return grid_due_candle(g.timeframe, now, grid.lastCandle)


def _state(g: GridStatus) -> GridState:
    return GridState(g.phase, g.generation, g.seq, tuple(g.levels), g.levelQty, g.adx, g.lastCandle, g.stoppedAt,
                     g.stops)


class _Books:
    """The grid's own orders as last seen and the ledger their fills feed (lifetime: realised, fees, position)."""

    def __init__(self, g: GridStatus) -> None:
        self.leg = LegBook(g.position, g.entryPrice, g.grossRealizedQuote)
        self.fees = g.feesQuote
        self.funding = g.fundingQuote
        self.known: dict[str, GridOrder] = {o.clientOrderId: o for o in g.orders}

    def account(self, state: OrderState) -> None:
        seen = self.known.get(state.client_order_id)
        if seen is None:
            return
        delta, fee = state.filled - seen.filled, state.fee_quote - seen.feeQuote
        if delta > 0:
            price = state.average if state.average is not None else seen.price
            self.leg = self.leg.fill(delta if state.side == Side.BUY else -delta, price)
            self.fees += fee
        if state.done:
            del self.known[state.client_order_id]
        else:
            self.known[state.client_order_id] = seen.model_copy(update={"filled": state.filled,
                                                                         "feeQuote": state.fee_quote})

    def pnl(self, mark: Decimal) -> Decimal:
        return self.leg.realized - self.fees + self.funding + self.leg.unrealized(mark)


async def grid_turn(t: CarryTick, snap: AccountSnapshot, markets: Any, breaker: Breaker) -> GridTurn:
    """The grid's turn with the object's breaker as it stands."""
    spec, guard, g = t.fa.spec, t.guard, grid_spec(t.fa.spec)
    venue, symbol = guard.venue, g.symbol
    old = t.status.grid or GridStatus(symbol=symbol)
    events: list[CycleEvent] = []
    if old.symbol != symbol and (old.position != 0 or old.orders):
        message = (f"enhancement.grid.symbol changed from {old.symbol} while its grid holds {old.position} and "
                   f"{len(old.orders)} order(s): close-all first, then change it")
        if old.reason != "SymbolChanged":
            events.append(CycleEvent("Warning", "GridSymbolChanged", message))
        return old.model_copy(update={"reason": "SymbolChanged", "message": message}), events, breaker, \
            old.reason != "SymbolChanged"
    if old.symbol != symbol:
        old = GridStatus(symbol=symbol)
    rules: MarketRules = markets[symbol]
    if not rules.linear_swap:
        raise MarketMismatch(f"enhancement.grid.symbol {symbol} is not a linear perpetual swap on this venue")
    ctx = guard.context(f"{guard.intents}:grid", markets)
    books = _Books(old)
    state = _state(old)
    intents: IntentStore[LayerIntent] = IntentStore(t.services.journal, LayerIntent)
    intent = await intents.pending(f"{guard.intents}:grid", old.seq)
    changed = False
    if intent is not None:  # orders a killed process sent: ours, booked by client id, none sent again
        if intent.state:  # the grid as the plan decided it: its levels, and its books and known orders as of the
            # plan, so a fill the killed tick booked is in both its position and its order's filled (booked once).
            # An intent written without orders keeps the status's (older) ones.
            old = GridStatus.model_validate({"orders": [o.model_dump() for o in old.orders], **intent.state})
            books, state = _Books(old), _state(old)
        for o in intent.orders:
            books.known.setdefault(o.clientOrderId, GridOrder(clientOrderId=o.clientOrderId, side=o.side.value,
                                                              price=o.price, amount=o.amount))
        state = replace(state, seq=intent.seq)
        t.services.metrics.recoveries.labels(KIND).inc()
        await ctx.record(RecoveredEntry(seq=intent.seq, found=tuple(o.clientOrderId for o in intent.orders)))
        events.append(CycleEvent("Warning", "GridPlanRecovered", f"{symbol}: grid plan {intent.seq} was cut short "
                                 "by a restart; its orders were found by client id, none sent again"))
        changed = True
    open_orders = {o.client_order_id: o for o in snap.open_orders if o.symbol == symbol}
    for cid in list(books.known):
        found = open_orders.get(cid) or await venue.order(cid, symbol)
        if found is None:  # never reached the venue
            del books.known[cid]
        else:
            books.account(found)
    paid, booked = await layer_funding(venue, symbol, old.fundingBookedUntil, snap.at)
    books.funding += paid
    old = old.model_copy(update={"fundingBookedUntil": booked})  # what a plan's intent records is booked already
    changed = changed or paid != 0
    pos = snap.positions.get(symbol)
    venue_position = pos.qty if pos else ZERO
    # Between two generations the venue's position is what a new grid must find flat; while one runs, the grid's
    # own fills are its position (consistent with the order states just read, however late the snapshot was).
    # A stop closes what the venue holds (the perp is the object's alone), whatever the books say.
    holding = state.phase is GridPhase.RUNNING or (state.phase is GridPhase.HALTED and bool(state.levels))
    position = books.leg.qty if holding else venue_position
    last = snap.quotes[symbol].last
    candles: list[Candle] | None = None
    if grid_due_candle(g.timeframe, snap.at, old.lastCandle):
        fetched = await venue.candles(symbol, g.timeframe, CANDLES)
        if fetched and (old.lastCandle is None or fetched[-1].start > old.lastCandle):
            candles = fetched
    resting = tuple(Resting(o.client_order_id, parse_enum(Side, o.side, "side"), o.price or ZERO, o.remaining)
                    for o in snap.open_orders if o.symbol == symbol and o.client_order_id in books.known)
    total = books.pnl(last)
    result = step(state, GridView(
        g, layer_capital(spec), rules, f"{t.fa.metadata.uid or t.fa.key}", snap.at, last, position, resting,
        total - old.generationStartPnlQuote, candles, candles[-1].start if candles else None,
        tuple(c.start for c in candles) if candles else (), breaker.tripped, t.controls.halt, spec.paused,
        t.controls.close_all))
    if result.reason == QUIET and old.reason and old.reason != "Failed":  # a failure fixed is not kept
        result = replace(result, reason=old.reason, message=old.message or result.message)
    start_pnl = old.generationStartPnlQuote
    if result.reason == "Laid":
        await venue.set_leverage(symbol, g.leverage)
        start_pnl = total
    if result.close is not None and not holding and books.leg.qty != venue_position:
        # A close of what the venue holds and the books do not (a position left on the perp): adopted at the venue's
        # entry price, so the close's fill nets the books to zero instead of booking the opposite position.
        entry = pos.entry_price if pos is not None and pos.entry_price > 0 else last
        books.leg = LegBook(venue_position, entry, books.leg.realized)
    planned = _status(old, result, books, last, start_pnl, breaker).model_dump(mode="json")
    await _execute(ctx, books, result, symbol, planned)
    acted = bool(result.cancels or result.close or result.places)
    if result.finished:
        day = t.now.date().isoformat()  # the breaker's day is the carry's (runtime/kinds/carry.py rolls it)
        breaker = breaker.record_close(books.pnl(last) - start_pnl, day, spec.circuitBreaker)
    if acted or result.reason != old.reason or candles is not None or result.finished:
        changed = True
    if result.reason != old.reason or result.finished or result.reason == "Laid":
        kind = "Warning" if result.reason in WARNING_REASONS else "Normal"
        events.append(CycleEvent(kind, f"Grid{result.reason}", f"{symbol}: {result.message}"))
        await ctx.record(DecisionEntry(reason=f"Grid{result.reason}", message=result.message,
                                       phase=result.state.phase.value, seq=result.state.seq))
    for order_type, outcome in ctx.outcomes:
        t.services.metrics.orders.labels(KIND, t.fa.metadata.namespace, t.fa.metadata.name, order_type, outcome).inc()
    status = _status(old, result, books, last, start_pnl, breaker)
    t.services.metrics.pnl.labels(KIND, t.fa.metadata.namespace, t.fa.metadata.name, symbol).set(
        float(status.pnlQuote))
    t.services.metrics.position.labels(KIND, t.fa.metadata.namespace, t.fa.metadata.name, symbol).set(
        float(status.position))
    return status, events, breaker, changed


async def layer_funding(venue: CarryVenue, symbol: str, booked: datetime | None,
                        at: datetime) -> tuple[Decimal, datetime]:
    """Funding a second-layer part's perp received (+) or paid (−) in the settlements since `booked`, and the time
    booked up to after (both on the venue's clock). The perp is the object's alone, so every payment on it is the
    part's. Asked only once a settlement time has passed: a venue books one within minutes, so after FUNDING_GRACE
    with nothing booked (no position was held) the settlement is taken as passed."""
    if booked is None:
        return ZERO, at  # nothing was held before the first look
    settlement = next_funding_time(booked)
    if settlement > at:
        return ZERO, booked
    pays = [p for p in await venue.funding_payments(symbol, since=booked) if p.at > booked]
    latest = max((p.at for p in pays), default=booked)
    if at - settlement >= FUNDING_GRACE:
        latest = max(latest, settlement)
    return sum((p.amount for p in pays), ZERO), latest


def grid_due_candle(timeframe: str, at: datetime, last: datetime | None) -> bool:
    """Whether a candle newer than `last` may have closed by the venue's time `at`."""
    step_s = timeframe_seconds(timeframe)
    newest = int(at.timestamp()) // step_s * step_s - step_s
    return last is None or newest > last.timestamp()


async def _execute(ctx: ExecutionContext, books: _Books, result: GridStep, symbol: str,
                   planned: dict[str, Any]) -> None:
    """Cancel, then close at market (reduce-only), then place the levels' limit orders (post-only), the intent
    written before the first order."""
    for cid in result.cancels:
        state = await ctx.venue.cancel(cid, symbol)
        books.account(state)
        await ctx.record(CancelEntry(clientOrderId=cid, filled=state.filled, reason=f"Grid{result.reason}"))
    orders: list[OrderRequest] = []
    if result.close is not None:
        c = result.close
        orders.append(OrderRequest(c.client_order_id, symbol, c.side, c.qty, OrderType.MARKET, reduce_only=True))
    orders += [OrderRequest(p.client_order_id, symbol, p.side, p.qty, OrderType.LIMIT, p.price, post_only=True)
               for p in result.places]
    if not orders:
        return
    await ctx.write_intent(IntentStore.doc(LayerIntent(result.state.seq, tuple(
        LayerIntentOrder(o.client_order_id, o.side, o.price or ZERO, o.amount) for o in orders), planned)))
    for req in orders:
        books.known[req.client_order_id] = GridOrder(clientOrderId=req.client_order_id, side=req.side.value,
                                                     price=req.price or ZERO, amount=req.amount)
        placed = await submit(ctx, req, Liquidity.MAKER if req.post_only else Liquidity.TAKER)
        if placed is None:
            del books.known[req.client_order_id]  # refused (a post-only that would cross): the next tick retries
        else:
            books.account(placed)


def _status(old: GridStatus, result: GridStep, books: _Books, last: Decimal, start_pnl: Decimal,
            breaker: Breaker) -> GridStatus:
    s = result.state
    return old.model_copy(update={
        "phase": s.phase, "reason": result.reason, "message": result.message,
        "adx": None if s.adx is None else q8(s.adx),
        "lastCandle": s.last_candle, "generation": s.generation, "seq": s.seq,
        "lowerPrice": s.levels[0] if s.levels else None, "upperPrice": s.levels[-1] if s.levels else None,
        "levels": list(s.levels), "levelQty": s.level_qty, "position": books.leg.qty,
        "entryPrice": q8(books.leg.entry), "grossRealizedQuote": q8(books.leg.realized), "feesQuote": q8(books.fees),
        "fundingQuote": q8(books.funding), "pnlQuote": q8(books.pnl(last)),
        "generationStartPnlQuote": q8(start_pnl), "stops": s.stops,
        "stoppedAt": s.stopped_at,
        "orders": list(books.known.values()), "breaker": breaker_doc(breaker),
    })


def with_grid(status: FundingArbitrageStatus, grid: GridStatus | None) -> FundingArbitrageStatus:
    """The object's status with its grid, whose PnL and fees (since the first grid) count in the object's."""
    if grid is None:
        return status
    return status.model_copy(update={"grid": grid, "pnlQuote": q8(status.pnlQuote + grid.pnlQuote),
                                     "feesQuote": q8(status.feesQuote + grid.feesQuote)})


def grid_breaker(grid: GridStatus | None) -> Breaker | None:
    """The object's breaker as the grid kept it (None: the grid has none)."""
    return decode_breaker({"breaker": grid.breaker}) if grid is not None and grid.breaker else None

"""A FundingArbitrage's low-frequency contrarian trade in a tick (spec.enhancement.contrarian, seed 004's second
layer): recover an order a killed process was sending, fetch candles when one has closed, step the pure machine
(engine/contrarian/machine.py), send its one market order fenced and journalled, and book the fill. A trade that
ends is one close for the object's breaker, as a carry pair's round trip or a grid generation is.

An entry the venue accepted without showing its fill (ccxt on OKX while an order is not yet visible) is not a
refusal: the trade is in (EntryPending, on the plan's stop and target) and its intent stays pending, so the next tick
reads the order back by client id and prices the stop and target from its fill (or, the order still hidden, from
the position the venue holds); an order that never reached the venue, or ended unfilled, leaves the trade flat.
Only the venue's OrderRejected is EntryRefused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from hedgeops.api.enhancement import ContrarianPhase, ContrarianStatus
from hedgeops.api.funding import FundingArbitrageSpec, FundingArbitrageStatus
from hedgeops.engine.carry.ledger import Breaker
from hedgeops.engine.carry.pairs import q8
from hedgeops.engine.common.pnl import LegBook
from hedgeops.engine.contrarian.machine import (
    QUIET,
    ContrarianState,
    ContrarianStep,
    ContrarianView,
    brackets,
    step,
)
from hedgeops.model.candles import MAX_CANDLES, Candle
from hedgeops.model.journal import DecisionEntry, RecoveredEntry
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import AccountSnapshot, Liquidity, OrderRequest, OrderState, OrderType, Side
from hedgeops.runtime.cycle import CycleEvent, MarketMismatch
from hedgeops.runtime.execution import submit
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.kinds.carry_grid import (
    LayerIntent,
    LayerIntentOrder,
    grid_due_candle,
    layer_capital,
    layer_funding,
)
from hedgeops.runtime.kinds.carry_tick import KIND, ZERO, CarryTick

CANDLES = 100  # RSI and ADX are read over the same window at every candle
WARNING_REASONS = {"StopLoss", "BreakerTripped", "CloseAll", "LeftoverPosition", "PlanRecovered"}
ContrarianTurn = tuple[ContrarianStatus, list[CycleEvent], Breaker, bool]


def contrarian_due(spec: FundingArbitrageSpec, status: ContrarianStatus | None, now: object) -> bool:
    """Whether a tick has contrarian work: a position whose stops are watched, or a candle closed since the last."""
    c = spec.enhancement.contrarian if spec.enhancement is not None else None
    if c is None:
        return False
    if status is None or status.position != 0 or status.phase in (ContrarianPhase.LONG, ContrarianPhase.SHORT):
        return True
    return grid_due_candle(c.timeframe, now, status.lastCandle)  # type: ignore[arg-type]


def _state(c: ContrarianStatus) -> ContrarianState:
    return ContrarianState(c.phase, c.seq, c.entryPrice, c.stopPrice, c.takeProfitPrice, c.exitedAt, c.lastCandle,
                           c.rsi, c.adx, c.trend, c.trades)


def _book(leg: LegBook, fees: Decimal, order: OrderState) -> tuple[LegBook, Decimal]:
    if order.filled <= 0 or order.average is None:
        return leg, fees
    return leg.fill(order.filled if order.side == Side.BUY else -order.filled, order.average), fees + order.fee_quote


async def contrarian_turn(t: CarryTick, snap: AccountSnapshot, markets: Mapping[str, MarketRules],
                          breaker: Breaker) -> ContrarianTurn:
    """The contrarian trade's turn with the object's breaker as it stands."""
    spec, guard = t.fa.spec, t.guard
    assert spec.enhancement is not None and spec.enhancement.contrarian is not None
    c, venue = spec.enhancement.contrarian, guard.venue
    symbol = c.symbol
    old = t.status.contrarian if t.status.contrarian and t.status.contrarian.symbol == symbol else None
    if old is None and t.status.contrarian is not None and t.status.contrarian.position != 0:
        message = (f"enhancement.contrarian.symbol changed from {t.status.contrarian.symbol} while it holds "
                   f"{t.status.contrarian.position}: close-all first, then change it")
        return t.status.contrarian.model_copy(update={"reason": "SymbolChanged", "message": message}), \
            [CycleEvent("Warning", "ContrarianSymbolChanged", message)], breaker, False
    old = old or ContrarianStatus(symbol=symbol)
    rules = markets[symbol]
    if not rules.linear_swap:
        raise MarketMismatch(f"enhancement.contrarian.symbol {symbol} is not a linear perpetual swap on this venue")
    key = f"{guard.intents}:contrarian"
    ctx = guard.context(key, dict(markets))
    leg, fees = LegBook(old.position, old.entryPrice, old.grossRealizedQuote), old.feesQuote
    state, events, changed = _state(old), [], False
    intents: IntentStore[LayerIntent] = IntentStore(t.services.journal, LayerIntent)
    intent = await intents.pending(key, old.seq)
    if intent is not None:  # an order sent without a known result (a killed process, an entry not yet visible):
        # read back by client id and booked if the venue has it, never sent again
        before = old
        if intent.state:  # the trade as the plan decided it (an entry's stop and target), before the order's fill
            old = ContrarianStatus.model_validate(intent.state)
            leg, fees = LegBook(old.position, old.entryPrice, old.grossRealizedQuote), old.feesQuote
            state = _state(old)
        entering = state.phase in (ContrarianPhase.LONG, ContrarianPhase.SHORT) and old.position == 0
        held = snap.positions.get(symbol)
        for sent in intent.orders:
            found = await venue.order(sent.clientOrderId, symbol)
            if entering and found is not None and not found.done and found.filled <= 0:
                # accepted, not filled yet: the trade waits on it (the intent stays pending), nothing is sent
                message = f"{symbol}: the entry {sent.side} {sent.amount} is accepted, its fill not yet shown"
                return before.model_copy(update={"reason": "EntryPending", "message": message}), [], breaker, \
                    before.reason != "EntryPending"
            if found is not None:
                leg, fees = _book(leg, fees, found)
            price = found.average if found is not None and found.filled > 0 else None
            if entering and price is None and held is not None and held.qty != 0 and held.entry_price > 0 \
                    and (held.qty > 0) == (sent.side == Side.BUY):
                # the venue holds the entry's position but does not show the order yet: booked from the position
                leg, price = leg.fill(held.qty, held.entry_price), held.entry_price
            if entering and price is not None:  # the stop and the target from the price it filled at
                stop, target = brackets(c, sent.side, price)
                state = replace(state, entry=price, stop=stop, take_profit=target)
            elif entering:  # it never reached the venue, or ended unfilled: not entered, still flat, no trade
                old = before.model_copy(update={"phase": ContrarianPhase.FLAT, "stopPrice": None,
                                                "takeProfitPrice": None, "trades": state.trades - 1})
                leg, fees = LegBook(old.position, old.entryPrice, old.grossRealizedQuote), old.feesQuote
                state = replace(_state(old), last_candle=state.last_candle, rsi=state.rsi, adx=state.adx,
                                trend=state.trend)
        state = replace(state, seq=intent.seq)
        await ctx.record(RecoveredEntry(seq=intent.seq, found=tuple(x.clientOrderId for x in intent.orders)))
        if before.reason != "EntryPending":
            events.append(CycleEvent("Warning", "ContrarianPlanRecovered", f"{symbol}: order {intent.seq} was cut "
                                     "short by a restart; found by client id, not sent again"))
        changed = True
    paid, booked = await layer_funding(venue, symbol, old.fundingBookedUntil, snap.at)
    funding = old.fundingQuote + paid
    old = old.model_copy(update={"fundingBookedUntil": booked})  # what a plan's intent records is booked already
    changed = changed or paid != 0
    pos = snap.positions.get(symbol)
    position = pos.qty if pos else ZERO
    last = snap.quotes[symbol].last
    candles: list[Candle] | None = None
    trend: list[Candle] = []
    if grid_due_candle(c.timeframe, snap.at, old.lastCandle):
        fetched = await venue.candles(symbol, c.timeframe, CANDLES)
        if fetched and (old.lastCandle is None or fetched[-1].start > old.lastCandle):
            candles = fetched
            trend = await venue.candles(symbol, c.trendTimeframe, min(MAX_CANDLES, max(CANDLES, 3 * c.trendEmaPeriod)))
    start_pnl = old.tradeStartPnlQuote
    pending_seq: int | None = None
    result = step(state, ContrarianView(
        c, layer_capital(spec), rules, f"{t.fa.metadata.uid or t.fa.key}", snap.at, last, position,
        leg.unrealized(last), candles, candles[-1].start if candles else None,
        tuple(x.start for x in candles) if candles else (), tuple(x.close for x in trend), breaker.tripped,
        t.controls.halt, spec.paused, t.controls.close_all))
    if result.reason == QUIET and old.reason and old.reason != "Failed":  # a failure fixed is not kept
        result = replace(result, reason=old.reason, message=old.message or result.message)
    new = result.state
    if result.order is not None:
        o = result.order
        req = OrderRequest(o.client_order_id, symbol, o.side, o.qty, OrderType.MARKET, reduce_only=o.reduce_only)
        if result.reason == "Entry":
            start_pnl = leg.realized - fees + funding + leg.unrealized(last)
        planned = _doc(old, result, new, leg, fees, funding, last, start_pnl).model_dump(mode="json")
        await ctx.write_intent(IntentStore.doc(LayerIntent(new.seq, (LayerIntentOrder(o.client_order_id, o.side, ZERO,
                                                                                    o.qty),), planned)))
        if result.reason == "Entry":
            await venue.set_leverage(symbol, c.leverage)
        elif o.reduce_only and leg.qty != position:
            # A close of what the venue holds and the books do not (a leftover): adopted at the venue's entry price,
            # so the close's fill nets the books to zero instead of booking the opposite position.
            entry = pos.entry_price if pos is not None and pos.entry_price > 0 else last
            leg = LegBook(position, entry, leg.realized)
        done = await submit(ctx, req, Liquidity.TAKER)
        if done is not None:
            leg, fees = _book(leg, fees, done)
        if result.reason == "Entry":
            if done is None:  # refused by the venue (OrderRejected): still flat, nothing to stop
                new = replace(state, seq=new.seq, last_candle=new.last_candle, rsi=new.rsi, adx=new.adx,
                              trend=new.trend)
                result = ContrarianStep(new, "EntryRefused", f"the entry {o.side} {o.qty} was refused")
            elif done.filled <= 0 or done.average is None:  # accepted, its fill not shown yet (not refused)
                # In the trade on the plan's stop and target; the status keeps the sequence before the plan, so its
                # intent stays pending and the next tick reads the order back by client id (prices from its fill).
                pending_seq = old.seq
                result = ContrarianStep(new, "EntryPending", f"the entry {o.side} {o.qty} is accepted, its fill "
                                        "not yet shown: read back by client id")
            else:  # the stop and the target from the price it filled at
                stop, target = brackets(c, o.side, done.average)
                new = replace(new, entry=done.average, stop=stop, take_profit=target)
    pnl = leg.realized - fees + funding + leg.unrealized(last)
    if result.finished:
        day = t.now.date().isoformat()  # the breaker's day is the carry's (runtime/kinds/carry.py rolls it)
        breaker = breaker.record_close(pnl - start_pnl, day, spec.circuitBreaker)
    if result.order is not None or result.reason != old.reason or candles is not None or result.finished:
        changed = True
    if result.reason != old.reason or result.order is not None or result.finished:
        kind = "Warning" if result.reason in WARNING_REASONS else "Normal"
        events.append(CycleEvent(kind, f"Contrarian{result.reason}", f"{symbol}: {result.message}"))
        await ctx.record(DecisionEntry(reason=f"Contrarian{result.reason}", message=result.message,
                                       phase=new.phase.value, seq=new.seq))
    for order_type, outcome in ctx.outcomes:
        t.services.metrics.orders.labels(KIND, t.fa.metadata.namespace, t.fa.metadata.name, order_type, outcome).inc()
    status = _doc(old, result, new, leg, fees, funding, last, start_pnl)
    if pending_seq is not None:
        status = status.model_copy(update={"seq": pending_seq})
    t.services.metrics.pnl.labels(KIND, t.fa.metadata.namespace, t.fa.metadata.name, symbol).set(float(pnl))
    t.services.metrics.position.labels(KIND, t.fa.metadata.namespace, t.fa.metadata.name, symbol).set(
        float(leg.qty))
    return status, events, breaker, changed


def _doc(old: ContrarianStatus, result: ContrarianStep, new: ContrarianState, leg: LegBook, fees: Decimal,
         funding: Decimal, last: Decimal, start_pnl: Decimal) -> ContrarianStatus:
    """The status of the trade: the machine's state, the ledger's figures."""
    return old.model_copy(update={
        "phase": new.phase, "reason": result.reason, "message": result.message,
        "rsi": None if new.rsi is None else q8(new.rsi), "adx": None if new.adx is None else q8(new.adx),
        "trend": new.trend, "lastCandle": new.last_candle, "seq": new.seq, "position": leg.qty,
        "entryPrice": q8(leg.entry), "stopPrice": None if new.stop is None else q8(new.stop),
        "takeProfitPrice": None if new.take_profit is None else q8(new.take_profit), "exitedAt": new.exited_at,
        "trades": new.trades, "grossRealizedQuote": q8(leg.realized), "feesQuote": q8(fees),
        "fundingQuote": q8(funding), "pnlQuote": q8(leg.realized - fees + funding + leg.unrealized(last)),
        "tradeStartPnlQuote": q8(start_pnl)})


def with_contrarian(status: FundingArbitrageStatus, c: ContrarianStatus | None) -> FundingArbitrageStatus:
    """The object's status with its contrarian trade, whose PnL and fees count in the object's."""
    if c is None:
        return status
    return status.model_copy(update={"contrarian": c, "pnlQuote": q8(status.pnlQuote + c.pnlQuote),
                                     "feesQuote": q8(status.feesQuote + c.feesQuote)})

"""One FundingArbitrage pair's turn in a tick: recover a plan a killed process was sending, book the settlements
the venue's clock has passed, step the engine's state machine when due (or when a watch asks), and execute its
actions fenced and journalled."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from hedgeops.api.funding import CarryLegStatus, CarryPair
from hedgeops.engine.carry.codec import funding_marks
from hedgeops.engine.carry.intent import CarryIntent
from hedgeops.engine.carry.ledger import Breaker
from hedgeops.engine.carry.machine import CancelAll, CarryState, Inputs, LegOrder, Transfer, book_funding, step, watch
from hedgeops.engine.carry.pairs import PairMemory, slots
from hedgeops.engine.carry.rules import CarryAccount, CarryMarket, pair_notional
from hedgeops.model.journal import CancelEntry, DecisionEntry, FundingEntry, RecoveredEntry, TransferEntry
from hedgeops.model.orders import AccountSnapshot, Liquidity, OrderRequest, OrderState, OrderType
from hedgeops.runtime.cycle import CycleEvent
from hedgeops.runtime.execution import ExecutionContext, submit
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.kinds.carry_tick import KIND, ZERO, CarryTick

WARNING_REASONS = {"StopLoss", "EmergencyMargin", "UnwindLegs", "BreakerTripped", "Halted", "MarginShortfall",
                   "NegativeFunding", "PlanRecovered", "CloseAll"}

PairTurn = tuple[CarryLegStatus, list[CycleEvent], Breaker, bool]  # leg, events, breaker after, changed


async def pair_turn(t: CarryTick, pair: CarryPair, old: CarryLegStatus | None, snap: AccountSnapshot,
                    markets: Any, breaker: Breaker) -> PairTurn:
    """One pair's turn with the object's breaker as it stands; returns the leg, its events, the breaker after
    it (a close may have counted) and whether anything changed beyond a quiet watch."""
    fa, due, guard = t.fa, t.due, t.guard
    spec, venue, metrics = fa.spec, guard.venue, t.services.metrics
    mem = PairMemory.of(old, spec)
    next_at, booked = funding_marks(old.machine if old else None)
    intent_key = f"{guard.intents}:{pair.perp}"  # one write-ahead intent per pair: pairs trade independently
    ctx = guard.context(intent_key, markets)
    events: list[CycleEvent] = []
    changed = False
    intent = await t.intents.pending(intent_key, mem.state.seq)
    if intent is not None:
        mem = await recover(ctx, intent)
        metrics.recoveries.labels(KIND).inc()
        events.append(CycleEvent("Warning", "PlanRecovered",
                                 f"{pair.perp}: plan {intent.seq} was cut short by a restart; its orders were "
                                 "found by client id and booked, none sent again"))
        snap = await venue.snapshot([pair.spot, pair.perp])
        changed = True
    mem.state = replace(mem.state, breaker=breaker)
    mark = snap.quotes[pair.perp].last
    pos = snap.positions.get(pair.perp)
    perp_qty = pos.qty if pos else ZERO
    # Settlements on the venue's clock (its snapshot's time), not the operator's: a skewed clock must not
    # make one missed or booked twice. Only payments after the last one booked count.
    if perp_qty != 0 and ("settle" in due or (next_at is not None and snap.at >= next_at)):
        for p in await venue.funding_payments(pair.perp, since=booked or t.status.cadence.settle):
            if booked is not None and p.at <= booked:
                continue
            mem.state = book_funding(mem.state, p.amount)
            mem.collateral += p.amount
            booked = p.at if booked is None else max(booked, p.at)
            await ctx.record(FundingEntry(symbol=p.symbol, amount=p.amount, settledAt=p.at))
        next_at, changed = None, True
    reason, message = (old.reason, old.message) if old else (None, None)
    spot_qty = snap.balances.get(markets[pair.spot].base, ZERO)
    mine = [o for o in snap.open_orders if o.symbol in (pair.spot, pair.perp)]
    cash = snap.balances.get(markets[pair.spot].quote, ZERO)  # the venue's cash caps the pair's spot wallet
    account = CarryAccount(spot_qty, perp_qty, min(mem.spot_wallet, cash),
                           mem.collateral + mem.state.ledger.perp.unrealized(mark), len(mine))
    stepping = bool(due & {"scan", "risk", "step"})
    if not stepping and "watch" in due:
        stepping = watch(mem.state, spec, account, markets[pair.perp], snap.quotes[pair.spot].bid,
                         mark) is not None
    if stepping:
        if perp_qty == 0:
            booked = snap.at  # flat: a position opened now is owed nothing settled before it
        rate, next_at = await venue.funding_rate(pair.perp)
        market = CarryMarket(markets[pair.spot], markets[pair.perp], await venue.order_book(pair.spot),
                             await venue.order_book(pair.perp), rate, mark)
        result = step(mem.state, Inputs(spec, market, account, f"{fa.metadata.uid or fa.key}/{pair.perp}", t.now,
                                        pair_notional(spec, slots(spec)), halt=t.controls.halt,
                                        close=t.controls.close_all))
        fills = await execute(ctx, mem, result.state, result.actions, mine)
        spot_qty += fills.get("spot", ZERO)
        perp_qty += fills.get("perp", ZERO)
        if result.actions or result.reason != reason:
            kind = "Warning" if result.reason in WARNING_REASONS else "Normal"
            events.append(CycleEvent(kind, result.reason, f"{pair.perp}: {result.message}"))
            await ctx.record(DecisionEntry(reason=result.reason, message=result.message, phase=result.phase.value,
                                           seq=result.state.seq))
        reason, message, changed = result.reason, result.message, True
        for order_type, outcome in ctx.outcomes:
            metrics.orders.labels(KIND, fa.metadata.namespace, fa.metadata.name, order_type, outcome).inc()
    elif perp_qty != 0 and next_at is None:
        _, next_at = await venue.funding_rate(pair.perp)  # once after each settlement: when is the next one
        changed = True
    leg = mem.leg_status(pair, spot_qty=spot_qty, perp_qty=perp_qty, reason=reason, message=message,
                         spot_mark=snap.quotes[pair.spot].bid, mark=mark, leverage=spec.leverage,
                         next_at=next_at, booked=booked)
    return leg, events, mem.state.breaker, changed


async def execute(ctx: ExecutionContext, mem: PairMemory, new: CarryState, actions: tuple[Any, ...],
                  mine: list[OrderState]) -> dict[str, Decimal]:
    """Cancel, move wallets, then send the legs (the intent first): fills are booked as they come."""
    orders = [a for a in actions if isinstance(a, LegOrder)]
    mem.state = new
    for a in actions:
        if isinstance(a, Transfer):
            mem.transfer(a)
            await ctx.record(TransferEntry(to=a.to, amount=a.amount))
        elif isinstance(a, CancelAll):
            for o in mine:
                state = await ctx.venue.cancel(o.client_order_id, o.symbol)
                await ctx.record(CancelEntry(clientOrderId=o.client_order_id, filled=state.filled, reason="CancelAll"))
    if orders:
        await ctx.write_intent(IntentStore.doc(CarryIntent.of(new, mem.spot_wallet, mem.collateral, orders)))
    moved: dict[str, Decimal] = {}
    for leg in orders:
        req = OrderRequest(leg.client_order_id, leg.symbol, leg.side, leg.qty, OrderType.MARKET,
                           reduce_only=leg.reduce_only)
        done = await submit(ctx, req, Liquidity.TAKER)
        if done is not None:
            mem.apply(leg.leg, done)
            moved[leg.leg] = moved.get(leg.leg, ZERO) + leg.side.signed(done.filled)
    return moved


async def recover(ctx: ExecutionContext, intent: CarryIntent) -> PairMemory:
    """The plan a killed process was sending: its state as decided, its orders found by client id and booked.
    What the venue never saw is not sent now: the machine's next step completes or unwinds the legs."""
    mem = PairMemory.recovered(intent)
    found: list[str] = []
    for o in intent.orders:
        state = await ctx.venue.order(o.clientOrderId, o.symbol)
        if state is not None:
            mem.apply(o.leg, state)
            found.append(state.client_order_id)
    await ctx.record(RecoveredEntry(seq=intent.seq, found=tuple(found)))
    return mem

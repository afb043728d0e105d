"""Executing a plan against a venue: maker first with a deadline, then taker; every step journalled
with the fencing token; orders found by client id, never resubmitted blindly."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hedgeops.api.hedgebook import OrderSummary, WorkingPlan
from hedgeops.engine.common.ids import client_order_id
from hedgeops.engine.hedge.planner import PlannedOrder, RebalancePlan
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderRejected, Venue
from hedgeops.model.journal import (
    CancelEntry,
    FailureEntry,
    FillEntry,
    OrderEntry,
    PlanEntry,
    PlanOrderEntry,
    RecoveredEntry,
    SkippedEntry,
)
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import DONE, Liquidity, OrderRequest, OrderState, OrderStatus, OrderType, Side
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.locks import Lease

ZERO = Decimal(0)


@dataclass(frozen=True)
class IntentOrder:
    """One order a plan may have sent: found again by its client id after a crash."""

    clientOrderId: str
    symbol: str
    type: Liquidity


@dataclass(frozen=True)
class PlanIntent:
    """A HedgeBook plan's write-ahead intent (both objectives), written before its first order. The field names
    are the stored JSON's, so an intent written by an earlier version still recovers."""

    planId: str
    seq: int
    createdAt: datetime
    makerDeadline: datetime
    reason: str
    urgency: str
    orders: tuple[IntentOrder, ...]


class LeaseLost(Exception):
    """The account lock was lost: stop submitting."""


@dataclass
class ExecutionContext:
    """What plan execution needs: the venue, a lease check, a journal sink, the market rules."""

    venue: Venue
    lease: Lease
    still_held: Callable[[], Any]  # async () -> bool
    record: Callable[..., Any]  # async (entry, once=None) -> None: CycleContext.record
    markets: Mapping[str, MarketRules]
    min_order: Mapping[str, Decimal]
    write_intent: Callable[[dict[str, Any]], Any]  # async (intent) -> None: the write-ahead record of a plan
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (type, outcome) for metrics


def fill_entry(state: OrderState) -> FillEntry:
    """The journal's record of an order that closed."""
    return FillEntry(clientOrderId=state.client_order_id, filled=state.filled, average=state.average,
                     feeQuote=state.fee_quote)


def summary_of(state: OrderState, order_type: str) -> OrderSummary:
    """An order as the status reports it."""
    return OrderSummary(clientOrderId=state.client_order_id, symbol=state.symbol, side=state.side,
                        amount=state.amount, filled=state.filled, average=state.average, type=order_type,
                        state=state.status, feeQuote=state.fee_quote)


async def submit(ctx: ExecutionContext, req: OrderRequest, order_type: Liquidity) -> OrderState | None:
    """Place one order, fenced. A duplicate client id means it was placed before: adopt that order."""
    if not await ctx.still_held():
        await ctx.record(FailureEntry(reason="LeaseLost", clientOrderId=req.client_order_id))
        raise LeaseLost(req.client_order_id)
    try:
        state = await ctx.venue.place(req)
        outcome = "accepted"
    except DuplicateClientOrderId:
        state_or_none = await ctx.venue.order(req.client_order_id, req.symbol)
        if state_or_none is None:
            raise
        state, outcome = state_or_none, "adopted"
    except OrderRejected as exc:
        ctx.outcomes.append((order_type, "rejected"))
        await ctx.record(FailureEntry(reason="OrderRejected", clientOrderId=req.client_order_id, symbol=req.symbol,
                                      side=req.side, amount=req.amount, message=str(exc)))
        return None
    ctx.outcomes.append((order_type, outcome))
    await ctx.record(OrderEntry(clientOrderId=state.client_order_id, symbol=state.symbol, side=state.side,
                                amount=state.amount, orderType=order_type, price=req.price, status=state.status,
                                filled=state.filled, outcome=outcome))
    if state.status == OrderStatus.CLOSED:
        await ctx.record(fill_entry(state))
    return state


def _request(o: PlannedOrder, amount: Decimal, order_type: Liquidity, attempt: str, plan_id: str) -> OrderRequest:
    cid = client_order_id(plan_id, o.slot, attempt)
    if order_type is Liquidity.MAKER:
        return OrderRequest(cid, o.symbol, o.side, amount, OrderType.LIMIT, o.price, post_only=True)
    return OrderRequest(cid, o.symbol, o.side, amount, OrderType.MARKET)


async def start_plan(ctx: ExecutionContext, plan: RebalancePlan, now: datetime, maker_timeout_s: int,
                     earlier: Sequence[OrderSummary] = ()) -> WorkingPlan:
    """Submit every order of the plan. A post-only order refused for crossing goes taker at once. `earlier`: the
    orders a previous batch of the same plan sent, kept in the intent so a restart still finds them."""
    await ctx.record(PlanEntry(
        planId=plan.plan_id, seq=plan.seq, urgency=plan.urgency.value, reason=plan.reason_code,
        reasons=tuple(r.message for r in plan.reasons), estCostQuote=plan.est_cost_quote,
        orders=tuple(PlanOrderEntry(clientOrderId=o.client_order_id, symbol=o.symbol, side=o.side, amount=o.amount,
                                    type=o.type) for o in plan.orders),
        skipped=tuple(SkippedEntry(asset=s.asset, reason=s.reason) for s in plan.skipped)),
        once=f"plan:{plan.plan_id}" + (":buys" if earlier else ""))
    deadline = now + timedelta(seconds=maker_timeout_s)
    # Written ahead of the first order: a process killed between two orders leaves the plan to its successor,
    # which finds what was sent by client id instead of planning the same sequence number again.
    await ctx.write_intent(IntentStore.doc(PlanIntent(
        plan.plan_id, plan.seq, now, deadline, plan.reason_code, plan.urgency.value,
        (*(IntentOrder(o.clientOrderId, o.symbol, Liquidity(o.type)) for o in earlier),
         *(IntentOrder(o.client_order_id, o.symbol, o.type) for o in plan.orders)))))
    summaries: list[OrderSummary] = []
    for o in plan.orders:
        state = await submit(ctx, _request(o, o.amount, o.type, o.client_order_id[-1], plan.plan_id), o.type)
        if state is None and o.type is Liquidity.MAKER:
            state = await submit(ctx, _request(o, o.amount, Liquidity.TAKER, "t", plan.plan_id), Liquidity.TAKER)
            if state is not None:
                summaries.append(summary_of(state, Liquidity.TAKER))
                continue
        if state is not None:
            summaries.append(summary_of(state, o.type))
    has_maker = any(s.type == Liquidity.MAKER for s in summaries)
    return WorkingPlan(planId=plan.plan_id, seq=plan.seq, createdAt=now,
                       makerDeadline=deadline if has_maker else None,
                       reason=plan.reason_code, urgency=plan.urgency.value, orders=summaries)


async def progress_plan(
    ctx: ExecutionContext, plan: WorkingPlan, now: datetime, open_ids: set[str], force_taker: bool,
) -> WorkingPlan:
    """Refresh the plan's orders; after the maker deadline (or when forced), cancel what rests and send the
    remainder as taker under the leg's taker client id."""
    deadline_passed = force_taker or (plan.makerDeadline is not None and now >= plan.makerDeadline)
    summaries: list[OrderSummary] = []
    for s in plan.orders:
        if s.state in DONE:
            summaries.append(s)
            continue
        state = None if s.clientOrderId in open_ids and not deadline_passed else (
            await ctx.venue.order(s.clientOrderId, s.symbol))
        if state is None:
            summaries.append(s)
            continue
        if not state.done and deadline_passed:
            state = await ctx.venue.cancel(s.clientOrderId, s.symbol)
            await ctx.record(CancelEntry(clientOrderId=s.clientOrderId, filled=state.filled,
                                         reason="MakerTimeout" if not force_taker else "Emergency"))
        summaries.append(summary_of(state, s.type))
        if state.status == OrderStatus.CANCELED and s.type == Liquidity.MAKER:
            remaining = ctx.markets[s.symbol].round_amount(state.remaining)
            base = ctx.markets[s.symbol].base
            minimum = max(ctx.min_order.get(base, ZERO), ctx.markets[s.symbol].min_amount)
            if remaining >= minimum:
                leg = int(s.clientOrderId[-3:-1])
                req = OrderRequest(client_order_id(plan.planId, leg, "t"), s.symbol, Side(s.side), remaining,
                                   OrderType.MARKET)
                taker = await submit(ctx, req, Liquidity.TAKER)
                if taker is not None:
                    summaries.append(summary_of(taker, Liquidity.TAKER))
        elif state.status == OrderStatus.CLOSED:
            await ctx.record(fill_entry(state))
    return plan.model_copy(update={"orders": summaries,
                                   "makerDeadline": None if deadline_passed else plan.makerDeadline})


async def halt_plan(ctx: ExecutionContext, plan: WorkingPlan) -> WorkingPlan:
    """The kill switch: cancel every order of the plan still resting; nothing is sent in their place."""
    summaries: list[OrderSummary] = []
    for s in plan.orders:
        if s.state in DONE:
            summaries.append(s)
            continue
        state = await ctx.venue.cancel(s.clientOrderId, s.symbol)
        await ctx.record(CancelEntry(clientOrderId=s.clientOrderId, filled=state.filled, reason="Halted"))
        summaries.append(summary_of(state, s.type))
    return plan.model_copy(update={"orders": summaries, "makerDeadline": None})


async def recover_plan(ctx: ExecutionContext, intent: PlanIntent) -> WorkingPlan:
    """Rebuild the plan a killed process was executing from its write-ahead intent: every order it may have
    sent (the maker id and its taker fallback) is looked up by client id; what the venue never saw is not sent
    now (the next plan, under the next sequence number, covers whatever deviation is left)."""
    summaries: list[OrderSummary] = []
    seen: set[str] = set()
    for o in intent.orders:
        cid = o.clientOrderId
        # A maker may have been refused and replaced by its taker, or timed out with the rest sent as taker.
        candidates = ([(cid, Liquidity.TAKER)] if o.type is Liquidity.TAKER
                      else [(cid, Liquidity.MAKER), (cid[:-1] + "t", Liquidity.TAKER)])
        for candidate, order_type in candidates:
            if candidate in seen:  # an earlier batch's maker and its taker fallback are both in the intent
                continue
            seen.add(candidate)
            state = await ctx.venue.order(candidate, o.symbol)
            if state is not None:
                summaries.append(summary_of(state, order_type))
    await ctx.record(RecoveredEntry(planId=intent.planId, seq=intent.seq,
                                    found=tuple(s.clientOrderId for s in summaries)))
    resting = any(s.type == Liquidity.MAKER for s in summaries)
    return WorkingPlan(planId=intent.planId, seq=intent.seq, createdAt=intent.createdAt,
                       makerDeadline=intent.makerDeadline if resting else None,
                       reason=intent.reason, urgency=intent.urgency, orders=summaries)


def plan_done(plan: WorkingPlan) -> bool:
    return all(s.state in DONE for s in plan.orders)


def plan_cost(plan: WorkingPlan) -> Decimal:
    return sum((s.feeQuote for s in plan.orders), ZERO)

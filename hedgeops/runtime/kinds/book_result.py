"""What both HedgeBook objectives (Hedge and Allocation) share at the end of a cycle: the result they return,
the bookkeeping of a completed plan, and the standard conditions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from hedgeops.api.common import Condition
from hedgeops.api.hedgebook import DailyCounters, HedgeBook, HedgeBookStatus, RebalanceRecord, WorkingPlan
from hedgeops.api.policy import Approval, RebalancePolicySpec
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.controls import APPROVE, Controls
from hedgeops.engine.common.forecast import PlanForecast, forecast
from hedgeops.engine.hedge.approval import PendingPlan, PlanState, executed
from hedgeops.engine.hedge.approval_state import review, to_status
from hedgeops.engine.hedge.exposure import BookExposure
from hedgeops.engine.hedge.gate import GateVerdict
from hedgeops.engine.hedge.planner import RebalancePlan
from hedgeops.engine.hedge.triggers import TriggerDecision
from hedgeops.exchange.venue import CarryVenue
from hedgeops.model.journal import (
    ApprovalBypassedEntry,
    ApprovalEntry,
    RebalanceEntry,
    RebalanceFailedEntry,
    RefusedEntry,
)
from hedgeops.model.market import Fees, Quote
from hedgeops.model.orders import Liquidity
from hedgeops.runtime.cycle import CycleEvent, Services
from hedgeops.runtime.execution import ExecutionContext, plan_cost
from hedgeops.runtime.reconcile import Outcome, standard_conditions

Q8 = Decimal("0.00000001")


def q8(x: Decimal) -> Decimal:
    return x.quantize(Q8, rounding=ROUND_HALF_EVEN)


@dataclass
class CycleResult(Outcome[HedgeBookStatus]):
    """A book cycle that ran: the skeleton's outcome and what happened along the way (a cycle that could not
    run returns a plain `Outcome`: read these with getattr defaults)."""

    exposure: BookExposure | None = None
    decision: TriggerDecision | None = None
    plan: RebalancePlan | None = None
    completed: RebalanceRecord | None = None
    failed: str | None = None  # a plan ended with nothing traded (every order refused or cancelled): why


@dataclass
class BookRun:
    """One cycle of one book, as its steps share it: who, under which policy and controls, when, the status it
    started from, the execution context and the result being built."""

    book: HedgeBook
    policy: RebalancePolicySpec
    controls: Controls
    now: datetime
    status: HedgeBookStatus
    venue: CarryVenue
    ctx: ExecutionContext
    result: CycleResult
    today: DailyCounters

    @property
    def names(self) -> tuple[str, str]:
        return self.book.metadata.namespace, self.book.metadata.name


def today_of(status: HedgeBookStatus, now: datetime) -> DailyCounters:
    """Today's counters, started afresh on a new UTC day."""
    if status.today and status.today.date == now.date().isoformat():
        return status.today
    return DailyCounters(date=now.date().isoformat())


async def finish_plan(s: Services, run: BookRun, working: WorkingPlan) -> dict[str, Any]:
    """A plan whose orders are all done: its record, event, journal entry, metrics and the status counters."""
    ctx, result, status, today = run.ctx, run.result, run.status, run.today
    if not any(o.filled > 0 for o in working.orders):
        # Nothing traded (every order refused or cancelled unfilled): not a rebalance. It must not count against
        # the daily limits or reset the stale clock, and the book is not Ready: the exchange would not trade.
        refused = sorted({o.state for o in working.orders})
        stopped = "close-all" if run.controls.close_all else "the halt" if run.controls.halted else None
        result.failed = (f"plan {working.planId}: no order filled ({', '.join(refused)}); " + (
            f"cancelled by {stopped}, it is not tried again while {stopped} lasts" if stopped else
            "the book was not brought back and is tried again at its next interval"))
        result.events.append(CycleEvent("Warning", "RebalanceFailed", result.failed))
        s.metrics.event(*run.names, "RebalanceFailed")
        await ctx.record(RebalanceFailedEntry(planId=working.planId, reason=working.reason, urgency=working.urgency,
                                              states=tuple(refused)), once=f"rebalanceFailed:{working.planId}")
        return {}
    cost = q8(plan_cost(working))
    completed = RebalanceRecord(time=run.now, planId=working.planId, reason=working.reason,
                                urgency=working.urgency, orders=len(working.orders), costQuote=cost)
    s.metrics.rebalances.labels(*run.names, working.urgency, working.reason).inc()
    s.metrics.cost.labels(*run.names).inc(float(cost))
    result.completed = completed
    filled = sum(1 for o in working.orders if o.filled > 0)
    result.events.append(CycleEvent("Normal", "Rebalanced", f"plan {working.planId}: {filled} orders filled, "
                                    f"cost {cost} {run.book.spec.quoteCurrency}"))
    await ctx.record(RebalanceEntry(planId=working.planId, reason=working.reason, urgency=working.urgency,
                                    costQuote=cost, filled=filled), once=f"rebalance:{working.planId}")
    return {"lastRebalance": completed, "rebalancesTotal": status.rebalancesTotal + 1,
            "costTotalQuote": q8(status.costTotalQuote + cost),
            "today": today.model_copy(update={"rebalances": today.rebalances + 1,
                                              "costQuote": q8(today.costQuote + cost)})}


def book_conditions(run: BookRun, *, ready_message: str, within: bool, band_reason: str, band_message: str,
                    pending: PendingPlan | None) -> list[Condition]:
    """The standard conditions (Ready=False RebalanceFailed when the cycle's plan ended with nothing traded),
    and the book's own: WithinBand and AwaitingApproval."""
    now, gen, failed = run.now, run.book.metadata.generation, run.result.failed
    conds = standard_conditions(run.status.conditions, now, gen, ready=failed is None,
                                reason="Reconciled" if failed is None else "RebalanceFailed",
                                message=ready_message if failed is None else failed, controls=run.controls)
    conds = set_condition(conds, "WithinBand", within, "WithinBand" if within else band_reason,
                          "" if within else band_message, now, gen)
    awaiting = pending is not None and pending.state is PlanState.PROPOSED
    return set_condition(conds, "AwaitingApproval", awaiting, "PlanProposed" if awaiting else "NothingPending",
                         f"{APPROVE}={pending.plan_id}" if awaiting and pending else "", now, gen)


async def approval_events(run: BookRun, events: list[tuple[str, str, str]]) -> None:
    for kind, reason, message in events:
        run.result.events.append(CycleEvent(kind, reason, message))
        await run.ctx.record(ApprovalEntry(reason=reason, message=message))


async def idle_review(run: BookRun, pending: PendingPlan | None) -> PendingPlan | None:
    """Nothing is wanted this cycle: a plan awaiting approval is superseded (an approval for it is refused)."""
    approval = run.controls.approval
    if run.policy.approval is not Approval.MANUAL or (pending is None and not approval):
        return pending
    idle = review(pending, None, run.now, run.policy.approvalTtlSeconds, approval)
    await approval_events(run, idle.events)
    return idle.pending


async def bypass_approval(run: BookRun, plan_id: str, reason: str) -> None:
    """An exit executes under approval Manual without waiting: journalled and told, never silent."""
    await run.ctx.record(ApprovalBypassedEntry(planId=plan_id, reason=reason), once=f"approvalBypassed:{plan_id}")
    run.result.events.append(CycleEvent("Warning", "ApprovalBypassed",
                                        f"plan {plan_id} executes without approval: {reason}"))


async def authorise(s: Services, run: BookRun, plan: RebalancePlan, verdict: GateVerdict,
                    pending: PendingPlan | None, *, exit_reason: str | None = None) -> tuple[bool, PendingPlan | None]:
    """After the risk gate, manual approval: (execute the plan now?, the pending plan to show). A refusal by
    the gate is counted, journalled and told (pause and halt are conditions, not refusals). An exit
    (`exit_reason`: close-all, an emergency exit) never waits for approval: waiting would hold the risk the
    exit is there to remove; the bypass is journalled and told, and a plan awaiting approval is superseded (told
    and journalled, as is the refusal of an approval of it)."""
    pspec, ctx, result = run.policy, run.ctx, run.result
    if exit_reason is not None and pspec.approval is Approval.MANUAL and verdict.allowed:
        pending = await idle_review(run, pending)
        await bypass_approval(run, plan.plan_id, exit_reason)
        return True, pending
    review_now = review(pending, plan, run.now, pspec.approvalTtlSeconds, run.controls.approval) \
        if pspec.approval is Approval.MANUAL and verdict.allowed else None
    if review_now is not None:
        pending = review_now.pending
        await approval_events(run, review_now.events)
    if verdict.allowed and (review_now is None or review_now.execute):
        if review_now is not None and review_now.pending is not None:
            pending = executed(review_now.pending)
            await ctx.record(ApprovalEntry(planId=plan.plan_id, id=pending.plan_id, by=pending.approved_by))
        return True, pending
    if not verdict.allowed and verdict.reason not in ("Paused", "Halted"):
        s.metrics.refusals.labels(*run.names, verdict.reason).inc()
        await ctx.record(RefusedEntry(planId=plan.plan_id, reason=verdict.reason, message=verdict.message))
        result.events.append(CycleEvent("Normal", verdict.reason, verdict.message))
    return False, pending


def plan_forecast(plan: RebalancePlan | None, quotes: Mapping[str, Quote], fees: Fees,
                  quote: str) -> PlanForecast | None:
    """A hedge plan's cost forecast for its approver: each order's fee at its type's rate and its forecast price's
    slippage against the symbol's mid (an allocation plan carries its own, from the book walk)."""
    if plan is None:
        return None
    return forecast(quote, [(o.client_order_id, o.amount, o.est_price, quotes[o.symbol].mid,
                             fees.maker if o.type is Liquidity.MAKER else fees.taker)
                            for o in plan.orders if o.symbol in quotes])


def pending_status(pending: PendingPlan | None, plan: RebalancePlan | None,
                   previous: dict[str, Any] | None, forecast: PlanForecast | None = None) -> dict[str, Any] | None:
    """status.pendingPlan: the plan's orders (and its cost forecast) shown while it is proposed, approved or just
    executed."""
    if pending is None:
        return None
    shown = plan if pending.state in (PlanState.PROPOSED, PlanState.APPROVED, PlanState.EXECUTED) else None
    return to_status(pending, shown, previous, forecast)

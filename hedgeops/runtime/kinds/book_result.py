"""What both HedgeBook objectives (Hedge and Allocation) share at the end of a cycle: the result they return,
the bookkeeping of a completed plan, and the standard conditions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.common import Condition
from hedgeops.api.hedgebook import DailyCounters, HedgeBook, HedgeBookStatus, RebalanceRecord, WorkingPlan
from hedgeops.api.policy import Approval, RebalancePolicySpec
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.controls import APPROVE
from hedgeops.engine.hedge.approval import PendingPlan, PlanState, executed
from hedgeops.engine.hedge.approval_state import review, to_status
from hedgeops.engine.hedge.exposure import BookExposure
from hedgeops.engine.hedge.gate import GateVerdict
from hedgeops.engine.hedge.planner import RebalancePlan
from hedgeops.engine.hedge.triggers import TriggerDecision
from hedgeops.runtime.cycle import CycleEvent, Services
from hedgeops.runtime.execution import ExecutionContext, plan_cost

Q8 = Decimal("0.00000001")


def q8(x: Decimal) -> Decimal:
    return x.quantize(Q8)


@dataclass
class CycleResult:
    """What a cycle produced: the new status and what happened along the way."""

    status: HedgeBookStatus
    exposure: BookExposure | None = None
    decision: TriggerDecision | None = None
    plan: RebalancePlan | None = None
    completed: RebalanceRecord | None = None
    events: list[CycleEvent] = field(default_factory=list)
    failed: str | None = None  # a plan ended with nothing traded (every order refused or cancelled): why


def today_of(status: HedgeBookStatus, now: datetime) -> DailyCounters:
    """Today's counters, started afresh on a new UTC day."""
    if status.today and status.today.date == now.date().isoformat():
        return status.today
    return DailyCounters(date=now.date().isoformat())


async def finish_plan(s: Services, book: HedgeBook, working: WorkingPlan, now: datetime, status: HedgeBookStatus,
                      today: DailyCounters, ctx: ExecutionContext, result: CycleResult) -> dict[str, Any]:
    """A plan whose orders are all done: its record, event, journal entry, metrics and the status counters."""
    ns, name = book.metadata.namespace, book.metadata.name
    if not any(o.filled > 0 for o in working.orders):
        # Nothing traded (every order refused or cancelled unfilled): not a rebalance. It must not count against
        # the daily limits or reset the stale clock, and the book is not Ready: the exchange would not trade.
        refused = sorted({o.state for o in working.orders})
        result.failed = (f"plan {working.planId}: no order filled ({', '.join(refused)}); the book was not "
                         "brought back and is tried again at its next interval")
        result.events.append(CycleEvent("Warning", "RebalanceFailed", result.failed))
        await ctx.record({"type": "rebalanceFailed", "planId": working.planId, "reason": working.reason,
                          "urgency": working.urgency, "states": refused})
        return {}
    cost = q8(plan_cost(working))
    completed = RebalanceRecord(time=now, planId=working.planId, reason=working.reason, urgency=working.urgency,
                                orders=len(working.orders), costQuote=cost)
    s.metrics.rebalances.labels(ns, name, working.urgency, working.reason).inc()
    s.metrics.cost.labels(ns, name).inc(float(cost))
    result.completed = completed
    filled = sum(1 for o in working.orders if o.filled > 0)
    result.events.append(CycleEvent("Normal", "Rebalanced", f"plan {working.planId}: {filled} orders filled, "
                                    f"cost {cost} {book.spec.quoteCurrency}"))
    await ctx.record({"type": "rebalance", "planId": working.planId, "reason": working.reason,
                      "urgency": working.urgency, "costQuote": str(cost), "filled": filled})
    return {"lastRebalance": completed, "rebalancesTotal": status.rebalancesTotal + 1,
            "costTotalQuote": q8(status.costTotalQuote + cost),
            "today": today.model_copy(update={"rebalances": today.rebalances + 1,
                                              "costQuote": q8(today.costQuote + cost)})}


def book_conditions(status: HedgeBookStatus, now: datetime, generation: int | None, *, ready_message: str,
                    within: bool, band_reason: str, band_message: str, pending: PendingPlan | None,
                    halted: bool, failed: str | None = None) -> list[Condition]:
    """Ready, WithinBand, Degraded, AwaitingApproval and Halted after a cycle that ran; Ready=False
    RebalanceFailed when its plan ended with nothing traded (`failed`)."""
    conds = set_condition(status.conditions, "Ready", failed is None, "Reconciled" if failed is None else
                          "RebalanceFailed", ready_message if failed is None else failed, now, generation)
    conds = set_condition(conds, "WithinBand", within, "WithinBand" if within else band_reason,
                          "" if within else band_message, now, generation)
    conds = set_condition(conds, "Degraded", False, "Healthy", "", now, generation)
    awaiting = pending is not None and pending.state is PlanState.PROPOSED
    conds = set_condition(conds, "AwaitingApproval", awaiting, "PlanProposed" if awaiting else "NothingPending",
                          f"{APPROVE}={pending.plan_id}" if awaiting and pending else "", now, generation)
    return set_condition(conds, "Halted", halted, "HaltAnnotation" if halted else "Running",
                         "hedgeops.io/halt is set" if halted else "", now, generation)


async def approval_events(ctx: ExecutionContext, result: CycleResult, events: list[tuple[str, str, str]]) -> None:
    for kind, reason, message in events:
        result.events.append(CycleEvent(kind, reason, message))
        await ctx.record({"type": "approval", "reason": reason, "message": message})


async def idle_review(pspec: RebalancePolicySpec, pending: PendingPlan | None, now: datetime, approval: str | None,
                      ctx: ExecutionContext, result: CycleResult) -> PendingPlan | None:
    """Nothing is wanted this cycle: a plan awaiting approval is superseded (an approval for it is refused)."""
    if pspec.approval is not Approval.MANUAL or (pending is None and not approval):
        return pending
    idle = review(pending, None, now, pspec.approvalTtlSeconds, approval)
    await approval_events(ctx, result, idle.events)
    return idle.pending


async def authorise(s: Services, book: HedgeBook, pspec: RebalancePolicySpec, plan: RebalancePlan,
                    verdict: GateVerdict, pending: PendingPlan | None, now: datetime, approval: str | None,
                    ctx: ExecutionContext, result: CycleResult, *,
                    exit_reason: str | None = None) -> tuple[bool, PendingPlan | None]:
    """After the risk gate, manual approval: (execute the plan now?, the pending plan to show). A refusal by
    the gate is counted, journalled and told (pause and halt are conditions, not refusals). An exit
    (`exit_reason`: close-all, an emergency exit) never waits for approval: waiting would hold the risk the
    exit is there to remove; the bypass is journalled and told, and a proposed plan is dropped."""
    if exit_reason is not None and pspec.approval is Approval.MANUAL and verdict.allowed:
        await ctx.record({"type": "approvalBypassed", "planId": plan.plan_id, "reason": exit_reason})
        result.events.append(CycleEvent("Warning", "ApprovalBypassed",
                                        f"plan {plan.plan_id} executes without approval: {exit_reason}"))
        return True, None
    review_now = review(pending, plan, now, pspec.approvalTtlSeconds, approval) \
        if pspec.approval is Approval.MANUAL and verdict.allowed else None
    if review_now is not None:
        pending = review_now.pending
        await approval_events(ctx, result, review_now.events)
    if verdict.allowed and (review_now is None or review_now.execute):
        if review_now is not None and review_now.pending is not None:
            pending = executed(review_now.pending)
            await ctx.record({"type": "approval", "planId": plan.plan_id, "id": pending.plan_id,
                              "by": pending.approved_by})
        return True, pending
    if not verdict.allowed and verdict.reason not in ("Paused", "Halted"):
        s.metrics.refusals.labels(book.metadata.namespace, book.metadata.name, verdict.reason).inc()
        await ctx.record({"type": "refused", "planId": plan.plan_id, "reason": verdict.reason,
                          "message": verdict.message})
        result.events.append(CycleEvent("Normal", verdict.reason, verdict.message))
    return False, pending


def pending_status(pending: PendingPlan | None, plan: RebalancePlan | None,
                   previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """status.pendingPlan: the plan's orders shown while it is proposed, approved or just executed."""
    if pending is None:
        return None
    shown = plan if pending.state in (PlanState.PROPOSED, PlanState.APPROVED, PlanState.EXECUTED) else None
    return to_status(pending, shown, previous)

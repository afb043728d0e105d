"""Manual approval (seed 002) for a book's plans: the pending plan lives in `status.pendingPlan`; a person
approves it by id (`hedgeops.io/approve=<id>` or `hedgeops approve`). Only that exact plan, still valid and
still what the book wants, is executed; expired and superseded plans never are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hedgeops.engine.common.controls import APPROVE
from hedgeops.engine.common.forecast import PlanForecast
from hedgeops.engine.hedge.approval import ApprovalError, PendingPlan, PlanState, approve, fingerprint, propose, settle
from hedgeops.engine.hedge.planner import RebalancePlan


def approval_id(plan: RebalancePlan) -> str:
    """What a person types: the plan's id and what it trades. A re-plan that trades otherwise under the same
    sequence number gets another id, so an approval can only ever name the orders it was shown."""
    digest = fingerprint((o.symbol, o.side, o.amount) for o in plan.orders)
    return f"{plan.plan_id[:8]}-{digest[:8]}"


def to_status(p: PendingPlan, plan: RebalancePlan | None, previous: dict[str, Any] | None,
              forecast: PlanForecast | None = None) -> dict[str, Any]:
    """status.pendingPlan: the plan's orders (each with its forecast price, fee and slippage when `forecast`
    covers it) and the forecast's totals, so the approver sees the cost before approving."""
    by_order = forecast.by_order() if forecast is not None else {}
    orders = ([{"symbol": o.symbol, "side": o.side, "amount": str(o.amount), "type": o.type.value,
                **(by_order[o.client_order_id].doc() if o.client_order_id in by_order else {})}
               for o in plan.orders] if plan is not None else (previous or {}).get("orders", []))
    reasons = [r.message for r in plan.reasons] if plan is not None else (previous or {}).get("reasons", [])
    # A plan no longer shown keeps its last figures, as its orders stay.
    shown = (forecast.doc() if forecast else None) if plan is not None else (previous or {}).get("forecast")
    return {"id": p.plan_id, "state": p.state.value, "proposedAt": p.proposed_at.isoformat(),
            "expiresAt": p.expires_at.isoformat(), "approvedBy": p.approved_by, "orders": orders,
            "reasons": reasons, "approve": f"kubectl annotate ... {APPROVE}={p.plan_id}",
            **({"forecast": shown} if shown else {})}


def from_status(doc: dict[str, Any] | None) -> PendingPlan | None:
    if not doc or "id" not in doc:
        return None
    return PendingPlan(str(doc["id"]), str(doc["id"]).split("-")[-1], datetime.fromisoformat(doc["proposedAt"]),
                       datetime.fromisoformat(doc["expiresAt"]), PlanState(doc["state"]), doc.get("approvedBy"))


@dataclass
class Verdict:
    """What the approval step decided: execute the plan now?, the pending plan to show, and what to say."""

    execute: bool
    pending: PendingPlan | None
    events: list[tuple[str, str, str]]  # (type, reason, message)


def review(current: PendingPlan | None, plan: RebalancePlan | None, now: datetime, ttl_seconds: int,
           approval: str | None) -> Verdict:
    """One cycle of manual approval. `plan` is what the book wants now (None: nothing); `approval` the id a
    person approved since the last cycle."""
    events: list[tuple[str, str, str]] = []
    pid = approval_id(plan) if plan is not None else None
    if current is not None and current.state is PlanState.PROPOSED:
        # The fingerprint part of the id is what settle compares: another id means another plan.
        aged = settle(current, now, pid.split("-")[-1] if pid else None)
        if aged.state is not PlanState.PROPOSED:
            events.append(("Normal", f"Plan{aged.state.value}",
                           f"pending plan {aged.plan_id} {aged.state.value.lower()}"))
        current = aged
    if approval:
        try:
            current = approve(current, approval, now)
            events.append(("Normal", "PlanApproved", f"plan {approval} approved"))
        except ApprovalError as exc:
            events.append(("Warning", f"Approval{exc.reason}", str(exc)))
    if plan is not None and pid is not None and current is not None and current.state is PlanState.APPROVED \
            and current.plan_id == pid:
        return Verdict(True, current, events)
    if plan is None or pid is None:
        return Verdict(False, current, events)
    fresh = propose(pid, pid.split("-")[-1], now, ttl_seconds, current if current is not None and
                    current.state is PlanState.PROPOSED else None)
    if current is None or fresh.plan_id != current.plan_id or current.state is not PlanState.PROPOSED:
        events.append(("Normal", "AwaitingApproval", f"plan {pid} awaits approval until "
                       f"{fresh.expires_at.isoformat()}: {APPROVE}={pid}"))
    return Verdict(False, fresh, events)

"""Manual approval as a plan state (seed 002: every trade needs the user's explicit approval).

A plan is proposed with an id and an expiry. Approving names that id; it executes only if it is still
the proposed plan and has not expired. A newer plan that trades differently supersedes it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from hedgeops.engine.common.errors import PositionAdjustmentError


class PlanState(StrEnum):
    """proposed → approved → executed, or proposed → expired / superseded."""

    PROPOSED = "Proposed"
    APPROVED = "Approved"
    EXECUTED = "Executed"
    EXPIRED = "Expired"
    SUPERSEDED = "Superseded"


class ApprovalError(PositionAdjustmentError):
    """An approval that must not execute anything. `reason` is a CamelCase code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def fingerprint(orders: Iterable[tuple[str, str, Decimal]]) -> str:
    """What a plan would trade, (symbol, side, amount) per order, as a short hash: two plans with the same
    fingerprint trade the same, so re-proposing one does not invalidate an approval in flight."""
    text = "|".join(f"{s}:{side}:{amount.normalize()}" for s, side, amount in sorted(orders))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PendingPlan:
    """A plan waiting for (or having received) a person's approval."""

    plan_id: str
    fingerprint: str
    proposed_at: datetime
    expires_at: datetime
    state: PlanState = PlanState.PROPOSED
    approved_by: str | None = None


def propose(plan_id: str, digest: str, now: datetime, ttl_seconds: int, current: PendingPlan | None) -> PendingPlan:
    """The plan to show for approval. If the one already proposed trades the same and is still valid it
    stays (so the id a person is about to approve keeps working); otherwise the new plan replaces it."""
    if current is not None and current.state is PlanState.PROPOSED and current.fingerprint == digest \
            and now < current.expires_at:
        return current
    return PendingPlan(plan_id, digest, now, now + timedelta(seconds=ttl_seconds))


def settle(current: PendingPlan, now: datetime, digest: str | None) -> PendingPlan:
    """Age a pending plan: past its expiry it is Expired; if the book now wants something else (another
    fingerprint, or nothing at all: None) it is Superseded."""
    if current.state is not PlanState.PROPOSED:
        return current
    if now >= current.expires_at:
        return replace(current, state=PlanState.EXPIRED)
    if digest != current.fingerprint:
        return replace(current, state=PlanState.SUPERSEDED)
    return current


def approve(current: PendingPlan | None, plan_id: str, now: datetime, who: str = "annotation") -> PendingPlan:
    """Approve exactly `plan_id`. Raises ApprovalError for anything else: nothing pending, another id, an
    expired, superseded or already executed plan."""
    if current is None:
        raise ApprovalError("NothingPending", f"no plan awaits approval (asked for {plan_id})")
    if current.plan_id != plan_id:
        raise ApprovalError("WrongPlan", f"plan {plan_id} is not the pending plan {current.plan_id}")
    if current.state is PlanState.EXECUTED or current.state is PlanState.APPROVED:
        raise ApprovalError("AlreadyApproved", f"plan {plan_id} was already {current.state.value.lower()}")
    if current.state is PlanState.SUPERSEDED:
        raise ApprovalError("Superseded", f"plan {plan_id} was superseded by a newer plan")
    if current.state is PlanState.EXPIRED or now >= current.expires_at:
        raise ApprovalError("Expired", f"plan {plan_id} expired at {current.expires_at.isoformat()}")
    return replace(current, state=PlanState.APPROVED, approved_by=who)


def executed(current: PendingPlan) -> PendingPlan:
    """Mark an approved plan executed, so the same approval can never run it twice."""
    if current.state is not PlanState.APPROVED:
        raise ApprovalError("NotApproved", f"plan {current.plan_id} is {current.state.value}, not Approved")
    return replace(current, state=PlanState.EXECUTED)

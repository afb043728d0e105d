"""A person's "rebalance now" (hedgeops.io/rebalance-now=<value>, or `hedgeops rebalance-now`) on an Allocation
book, as a small state kept in `status.rebalanceNow`: each annotation value is acted on once. It is Pending while
its plan awaits approval or another plan is in flight, Done once its plan started (or found nothing to trade), and
Refused when the book is paused, closing all, halted, or the cost tolerance or a risk limit refuses the plan, or
nobody approved it within the policy's approval TTL (counted from its plan's proposal), and Withdrawn when the
annotation is removed (or changed) while it is Pending. The same value left on the book asks for nothing more; a new
value asks again. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hedgeops.api.allocation import RebalanceNowStatus
from hedgeops.engine.allocation.weights import AllocationDecision
from hedgeops.engine.hedge.gate import GateVerdict

PENDING, DONE, REFUSED, WITHDRAWN = "Pending", "Done", "Refused", "Withdrawn"


def outstanding(value: str | None, handled: RebalanceNowStatus | None) -> bool:
    """Whether the annotation's value still asks for a rebalance: set, and not the value already settled."""
    return value is not None and not (handled is not None and handled.value == value and handled.state != PENDING)


@dataclass(frozen=True)
class CycleFacts:
    """What the cycle did, as far as a request is concerned."""

    decision: AllocationDecision
    verdict: GateVerdict | None
    in_flight: bool  # a plan was in flight at the cycle's start
    started: str | None  # the id of the plan this cycle started
    awaiting: str | None  # the id of the plan awaiting approval


def settle(value: str, handled: RebalanceNowStatus | None, facts: CycleFacts, now: datetime,
           approval_ttl_s: int) -> RebalanceNowStatus:
    """The request's state after a cycle that saw it. A Pending request's `at` is when it began waiting for what
    its message names (a plan in flight, or its own plan's approval): the approval time limit counts from its
    plan's proposal, not from the time it spent behind another plan."""
    d, v = facts.decision, facts.verdict

    def to(state: str, message: str) -> RebalanceNowStatus:
        same_wait = handled is not None and handled.value == value and handled.state == PENDING \
            and handled.message == message
        at = handled.at if same_wait and handled is not None else now
        return RebalanceNowStatus(value=value, state=state, at=at, message=message)

    if d.action == "Exit":
        return to(REFUSED, "close-all is in force: nothing is bought back")
    if d.reason == "Paused":
        return to(REFUSED, "the book is paused (spec.paused)")
    if facts.in_flight:
        return to(PENDING, "a plan is in flight: the request is handled once it is done")
    if facts.started is not None:
        return to(DONE, f"plan {facts.started} started ({d.reason}: {d.message})")
    if v is not None and v.reason == "NothingToTrade":
        return to(DONE, f"nothing to trade: {v.message or 'every weight is at its target'}")
    if v is not None and not v.allowed:
        return to(REFUSED, f"{v.reason}: {v.message}")
    if facts.awaiting is not None:
        waiting = to(PENDING, f"plan {facts.awaiting} awaits approval")
        if now - waiting.at >= timedelta(seconds=approval_ttl_s):
            return to(REFUSED, f"plan {facts.awaiting} was not approved within {approval_ttl_s} s")
        return waiting
    return to(PENDING, "waiting for the order books or the next cycle")


def withdrawn(value: str | None, handled: RebalanceNowStatus | None, now: datetime) -> RebalanceNowStatus | None:
    """A Pending request whose annotation was removed or replaced is settled as Withdrawn (never left Pending);
    None: nothing to withdraw."""
    if handled is None or handled.state != PENDING or handled.value == value:
        return None
    return RebalanceNowStatus(value=handled.value, state=WITHDRAWN, at=now,
                              message="the annotation was removed or replaced while the request was pending")


def refused_on_hedge(value: str | None, handled: RebalanceNowStatus | None,
                     now: datetime) -> RebalanceNowStatus | None:
    """A Hedge-objective book does not take rebalance-now (it trades on its bands, and a hedge back to the band
    centre on request would bypass the triggers its policy was tuned for): each new value is refused once, so the
    request is never silently ignored. None: nothing new to refuse."""
    if not outstanding(value, handled):
        return None
    assert value is not None
    return RebalanceNowStatus(value=value, state=REFUSED, at=now, message="rebalance-now applies to Allocation books; "
                              "a Hedge book trades on its bands (narrow them in its policy to trade sooner)")

"""Seed 002 review findings in local mode's runtime (paper venue, real prices, simulated clock): a rebalance-now
request withdrawn while pending, no notice for a book on hold, and a restart keeping one trade per request value
and one notice per fire."""

from __future__ import annotations

from datetime import UTC, datetime

from hedgeops.api.policy import Schedule
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler

from .runtime_fixtures import Rig, policy, rig
from .test_runtime_allocation import alloc_book, venue_of
from .test_runtime_allocation_requests import invested, taker
from .test_runtime_allocation_schedule import cycle


async def test_a_pending_request_whose_annotation_is_removed_is_settled_as_withdrawn() -> None:
    r, b = await invested(taker())
    pol = taker(approval="Manual")
    b, _ = await cycle(r, b, pol, rebalance_now="r1")
    assert b.status is not None and b.status.rebalanceNow is not None and b.status.rebalanceNow.state == "Pending"
    r.clock.advance(60)
    b, res = await cycle(r, b, pol)  # the annotation is gone
    assert [e.reason for e in res.events if e.reason.startswith("RebalanceNow")] == ["RebalanceNowWithdrawn"]
    assert b.status is not None and b.status.rebalanceNow is not None
    assert (b.status.rebalanceNow.value, b.status.rebalanceNow.state) == ("r1", "Withdrawn")
    r.clock.advance(60)
    b, res = await cycle(r, b, pol)
    assert not [e for e in res.events if e.reason.startswith("RebalanceNow")]  # settled once


async def test_a_book_on_hold_gets_no_notice_of_a_fire_it_would_not_act_on() -> None:
    r = rig(datetime(2025, 1, 31, 23, 0, tzinfo=UTC))
    pol = policy(execution={"normal": "Taker"}, allocation={"preset": "IndexFund"}, schedule={"noticeSeconds": 3600})
    b = alloc_book(paused=True)
    b, res = await cycle(r, b, pol)
    assert not [e for e in res.events if e.reason == "RebalanceScheduled"]
    b, res = await cycle(r, b, pol, halt="hedgeops.io/halt is set")
    assert not [e for e in res.events if e.reason == "RebalanceScheduled"]
    r.clock.advance(600)
    running = b.model_copy(update={"spec": b.spec.model_copy(update={"paused": False})})
    b, res = await cycle(r, running, pol)  # the hold is lifted before the fire: the notice follows
    assert [e.reason for e in res.events if e.reason == "RebalanceScheduled"] == ["RebalanceScheduled"]


def restarted(r: Rig) -> Rig:
    """The next process: a reconciler of its own over the same venue, journal, locks and metrics; the book's
    status is what the last cycle wrote (as the API server keeps it)."""
    return Rig(r.clock, r.venues, r.locks, r.journal, r.metrics,
               HedgeBookReconciler(Services(r.venues, r.locks, r.journal, r.metrics, owner="test")))


async def test_a_restart_neither_repeats_a_rebalance_now_nor_a_notice() -> None:
    r = rig(datetime(2025, 1, 31, 22, 0, tzinfo=UTC))
    pol = policy(execution={"normal": "Taker"}, allocation={"preset": "IndexFund", "driftRatio": "0.5"},
                 schedule={"noticeSeconds": 3600})
    b, res = await cycle(r, alloc_book(), pol, rebalance_now="v1")
    assert res.completed is not None and res.completed.reason == "Manual"
    orders = len(venue_of(r).account.orders)
    r.clock.advance(60 * 65)  # 23:05: inside the hour before Feb 1st's fire
    b, res = await cycle(r, b, pol, rebalance_now="v1")
    assert [e.reason for e in res.events] == ["RebalanceScheduled"]
    for _ in range(2):
        r = restarted(r)
        r.clock.advance(600)
        b, res = await cycle(r, b, pol, rebalance_now="v1")
        assert res.plan is None and not res.events  # no second trade for v1, no second notice for the fire
    assert len(venue_of(r).account.orders) == orders
    r = restarted(r)
    b, res = await cycle(r, b, pol, rebalance_now="v2")  # a new value is a new request
    assert res.completed is not None and res.completed.reason == "Manual"


async def test_a_stored_cron_that_never_fires_is_a_condition_not_a_crash() -> None:
    """The API refuses "0 0 31 2 *" now; a policy stored before (or written around the API) says so as a
    condition naming the cron."""
    r = rig()
    pol = policy(execution={"normal": "Taker"})
    never = Schedule.model_construct(cron="0 0 31 2 *", dynamic=None, noticeSeconds=3600)
    pol = pol.model_copy(update={"spec": pol.spec.model_copy(update={"schedule": never})})
    b, res = await cycle(r, alloc_book(), pol)
    assert b.status is not None
    ready = next(c for c in b.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "ScheduleInvalid") and "0 0 31 2 *" in ready.message
    assert [e.reason for e in res.events] == ["ScheduleInvalid"]


async def test_an_edited_cron_that_drops_an_announced_fire_says_so_once() -> None:
    r = rig(datetime(2025, 2, 2, 23, 10, tzinfo=UTC))  # a Sunday: Monday's fire is within the hour
    weekly = policy(execution={"normal": "Taker"}, schedule={"cron": "0 0 * * 1", "noticeSeconds": 3600})
    b, res = await cycle(r, alloc_book(), weekly)
    assert [e.reason for e in res.events if e.reason == "RebalanceScheduled"] == ["RebalanceScheduled"]
    r.clock.advance(300)
    tuesdays = policy(execution={"normal": "Taker"}, schedule={"cron": "0 0 * * 2", "noticeSeconds": 3600})
    b, res = await cycle(r, b, tuesdays)
    moved = [e for e in res.events if e.reason == "RebalanceRescheduled"]
    assert len(moved) == 1 and "2025-02-03T00:00:00+00:00" in moved[0].message
    r.clock.advance(300)
    b, res = await cycle(r, b, tuesdays)
    assert not [e for e in res.events if e.reason == "RebalanceRescheduled"]

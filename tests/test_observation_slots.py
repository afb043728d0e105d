"""One observation per account per due slot, by construction: the schedule puts every object on aligned slots of
its interval, the guard tells the account's venue which slot a cycle observes under, and the ccxt venue keeps one
snapshot per slot (a short age bound alone is outrun by a busy machine), up to a 10 s bound of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from hedgeops.api import HedgeBook
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.reconcile import Schedule, next_slot
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues

from .emulator_fixtures import Rig, start, venue
from .runtime_fixtures import book, policy
from .test_runtime_ccxt import read_secret

NOW = datetime(2025, 1, 2, 0, 0, 17, tzinfo=UTC)
SOL, ETH = "SOL/USDT:USDT", "ETH/USDT:USDT"


def test_objects_on_one_interval_share_aligned_slots() -> None:
    s = Schedule(retry_seconds=5)
    assert s.due("a", NOW, 1) == (NOW, None)  # never seen: at once, under a slot of its own
    s.done("a", NOW, 60, degraded=False)
    s.due("b", NOW + timedelta(seconds=20), 1)
    s.done("b", NOW + timedelta(seconds=20), 60, degraded=False)
    slot = next_slot(NOW, 60)
    assert slot == datetime(2025, 1, 2, 0, 1, tzinfo=UTC)
    assert s.due("a", slot - timedelta(seconds=1), 1) is None
    # Both are due at the same instant, and a cycle that starts late still observes under that slot.
    assert s.due("a", slot + timedelta(seconds=3), 1) == (slot, 3.0)
    assert s.due("b", slot + timedelta(seconds=40), 1) == (slot, 40.0)


def test_a_change_is_due_at_once_and_a_degraded_cycle_is_retried_soon() -> None:
    s = Schedule(retry_seconds=5)
    s.due("a", NOW, 1)
    s.done("a", NOW, 3600, degraded=False)
    later = NOW + timedelta(seconds=1)
    assert s.due("a", later, 2) == (later, None)  # what it decides on changed: now, not in an hour
    s.done("a", later, 3600, degraded=True)  # at 00:00:18: retried on the 5-second grid, at 00:00:20
    assert s.due("a", later + timedelta(seconds=1), 2) is None
    assert s.due("a", later + timedelta(seconds=2), 2) == (later + timedelta(seconds=2), 0.0)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        yield r


async def test_a_slot_that_stretches_past_its_age_bound_observes_again(rig: Rig) -> None:
    """One snapshot a slot, but never an old one: a cycle queued long behind the slot's others observes anew, so
    a change made outside this process (a position closed by hand) is seen (hostile review, R1)."""
    ticks = [0.0]
    client = venue(rig).client
    v = CcxtVenue(client, snapshot_max_age_s=0, slot_snapshot_age_s=10, monotonic=lambda: ticks[0])
    try:
        slot = datetime(2025, 1, 2, 0, 1, tzinfo=UTC)
        v.begin_slot(slot)
        await v.snapshot([SOL])
        before = rig.app.requests
        ticks[0] = 9.9
        v.begin_slot(slot)
        await v.snapshot([SOL])
        assert rig.app.requests == before  # within the bound: shared
        ticks[0] = 10.1
        v.begin_slot(slot)
        await v.snapshot([SOL])
        assert rig.app.requests == before + 4  # the same slot, but too old: observed again
    finally:
        await v.close()


async def test_the_venue_observes_once_per_slot_whatever_the_age_bound(rig: Rig) -> None:
    v = venue(rig, max_age_s=0)  # no sharing by age at all outside a slot: only the slot can make cycles share
    try:
        first = datetime(2025, 1, 2, 0, 1, tzinfo=UTC)
        v.begin_slot(first)
        await v.snapshot([SOL, ETH])
        before = rig.app.requests
        for _ in range(50):  # fifty objects of the account due in this slot, one after the other
            v.begin_slot(first)
            await v.snapshot([SOL])
        assert rig.app.requests == before
        v.begin_slot(first + timedelta(seconds=60))  # the next slot observes anew
        await v.snapshot([SOL])
        assert rig.app.requests == before + 4  # tickers, balance, open orders, positions
        v.begin_slot(None)  # an unscheduled cycle (a tool, a test) with a zero age bound: observes anew too
        await v.snapshot([SOL])
        assert rig.app.requests == before + 8
    finally:
        await v.close()


def live_book(name: str, asset: str, symbol: str) -> HedgeBook:
    return book(name, mode="Live", exchange={"name": "okx", "account": "main",
                                             "credentialsSecretRef": {"name": "okx-creds"}},
                holdings={"source": "Static", "static": {asset: 1}}, legs=[{"asset": asset, "symbol": symbol}])


async def test_two_books_of_one_account_cost_one_observation_per_slot_through_the_reconciler(rig: Rig) -> None:
    venues = Venues(PaperVenues(rig.clock), CcxtVenues(read_secret, {"okx": rig.url}, snapshot_max_age_s=0))
    schedule = Schedule()
    reconciler = HedgeBookReconciler(Services(venues, InMemoryLocks(lambda: 0.0), InMemoryJournal(), Metrics(),
                                              "test"), schedule)
    books = [live_book("sol", "SOL", SOL), live_book("eth", "ETH", ETH)]
    try:
        async def tick() -> None:
            for i, b in enumerate(books):
                outcome = await reconciler.reconcile(b, rig.clock(), None, policy())
                if outcome.changed:
                    books[i] = b.model_copy(update={"status": outcome.status})

        await tick()  # the first hedge of each (they trade: the traded symbol is observed again)
        hedged = {b.metadata.name: b.status.rebalancesTotal for b in books if b.status is not None}
        assert hedged == {"sol": 1, "eth": 1}
        rig.clock.advance(300)  # the next slot (policy interval 60 s; a 5-minute bar later)
        before = rig.app.requests
        await tick()
        assert all(b.status is not None and b.status.lastCheck == rig.clock() for b in books)
        # Both books cycled, one observation between them: the age bound is zero, so only the slot shared it.
        assert rig.app.requests - before == 4
    finally:
        await venues.close()

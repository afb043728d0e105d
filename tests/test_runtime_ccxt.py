"""The operator's HedgeBook cycle trading Live through the ccxt venue, real ccxt, over loopback to the
emulator: the integration the runtime runs in a cluster, with the exchange replaced by the emulator only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api import HedgeBook
from hedgeops.api.common import Mode
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal, journal_stream
from hedgeops.runtime.kinds.book_result import CycleResult
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues

from .emulator_fixtures import KEY, PASSPHRASE, SECRETS, Rig, read_secret, start
from .runtime_fixtures import as_result, book, policy

D = Decimal
SOL, ETH = "SOL/USDT:USDT", "ETH/USDT:USDT"




@dataclass
class Live:
    rig: Rig
    venues: Venues
    journal: InMemoryJournal
    reconciler: HedgeBookReconciler

    async def step(self, b: HedgeBook) -> tuple[HedgeBook, CycleResult]:
        result = as_result(await self.reconciler.reconcile(b, self.rig.clock(), None, policy()))
        return b.model_copy(update={"status": result.status}), result

    def entries(self, b: HedgeBook) -> list[dict[str, Any]]:
        return [e for _, e in self.journal.streams[journal_stream("HedgeBook", b.key)]]


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    async for rig in start():
        venues = Venues(PaperVenues(rig.clock), CcxtVenues(read_secret, {"okx": rig.url}, snapshot_max_age_s=0))
        journal = InMemoryJournal()
        reconciler = HedgeBookReconciler(Services(venues, InMemoryLocks(lambda: 0.0), journal, Metrics(), "test"))
        try:
            yield Live(rig, venues, journal, reconciler)
        finally:
            await venues.close()


def live_book(**spec: Any) -> HedgeBook:
    return book(mode="Live", exchange={"name": "okx", "account": "main",
                                       "credentialsSecretRef": {"name": "okx-creds"}}, **spec)


async def test_a_live_book_is_hedged_through_ccxt_then_stays_in_band(live: Live) -> None:
    b, res = await live.step(live_book())
    assert res.completed is not None and res.completed.urgency == "Emergency", b.status
    positions = live.rig.emu.account(KEY).venue.account.positions({})
    assert positions[SOL].qty == D(-100) and positions[ETH].qty == D(-3)
    types = [e["type"] for e in live.entries(b)]
    assert types[0] == "plan" and types.count("order") == 2 and types[-1] == "rebalance"
    ids = [e["clientOrderId"] for e in live.entries(b) if e["type"] == "order"]
    assert set(ids) <= set(live.rig.emu.account(KEY).ord_ids)  # the venue got exactly our client ids
    live.rig.clock.advance(300)
    before = live.rig.app.requests
    b, res = await live.step(b)
    assert res.plan is None and b.status is not None and b.status.rebalancesTotal == 1
    assert live.rig.app.requests - before == 4  # tickers, balance, open orders, positions


async def test_a_normal_rebalance_goes_maker_then_taker_on_the_emulator(live: Live) -> None:
    b, _ = await live.step(live_book())
    holdings = b.spec.holdings.model_copy(update={"static": {"SOL": D(104), "ETH": D(3)}})
    b = b.model_copy(update={"spec": b.spec.model_copy(update={"holdings": holdings})})
    live.rig.clock.advance(300)
    b, res = await live.step(b)
    working = b.status.workingPlan if b.status else None
    assert working is not None and [o.type for o in working.orders] == ["maker"]
    assert [o.client_order_id for o in live.rig.emu.account(KEY).venue.account.open_orders()] == [
        working.orders[0].clientOrderId]
    for _ in range(12):
        live.rig.clock.advance(300)
        b, res = await live.step(b)
        if res.completed is not None:
            break
    assert res.completed is not None
    assert live.rig.emu.account(KEY).venue.account.positions({})[SOL].qty == D(-104)


async def test_live_without_credentials_or_with_bad_ones_is_a_condition(live: Live) -> None:
    b, _ = await live.step(book(mode="Live", exchange={"name": "okx", "account": "nocreds"}))
    ready = next(c for c in b.status.conditions if c.type == "Ready")  # type: ignore[union-attr]
    assert ready.reason == "VenueUnavailable" and "credentialsSecretRef" in ready.message
    SECRETS[("default", "wrong")] = {"apiKey": KEY, "secret": "nope", "passphrase": PASSPHRASE}
    b, _ = await live.step(book(mode="Live", exchange={"name": "okx", "account": "bad",
                                                       "credentialsSecretRef": {"name": "wrong"}}))
    ready = next(c for c in b.status.conditions if c.type == "Ready")  # type: ignore[union-attr]
    assert ready.reason == "CredentialsRejected" and "nope" not in ready.message
    assert not live.rig.emu.account(KEY).ord_ids


async def test_books_of_one_account_starting_together_share_one_ccxt_client() -> None:
    """The Secret read awaits; a hundred books of one account arriving in that gap must still get one client
    (one rate limiter, one market load), and none may be built only to leak unclosed."""
    reads = 0

    async def slow_secret(namespace: str, name: str) -> Mapping[str, str]:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        return SECRETS[(namespace, name)]

    venues = CcxtVenues(slow_secret, {"okx": "http://127.0.0.1:9"})
    ref = live_book().spec.exchange
    try:
        got = await asyncio.gather(*(venues.venue_for(ref, Mode.LIVE, "default") for _ in range(100)))
        assert len({id(v) for v in got}) == 1 and len(venues.clients) == 1 and reads == 1
    finally:
        await venues.close()


async def test_a_plan_the_exchange_refuses_whole_is_no_rebalance_and_not_ready(live: Live) -> None:
    """Every order refused (51008): nothing traded, so nothing counts against the daily limits, the stale clock
    is not reset, and the book says it was not brought back; once the exchange trades again, it is."""
    live.rig.emu.faults.rejects = 10
    b, res = await live.step(live_book())
    assert res.completed is None and b.status is not None and b.status.rebalancesTotal == 0
    assert b.status.lastRebalance is None and (b.status.today is None or b.status.today.rebalances == 0)
    ready = next(c for c in b.status.conditions if c.type == "Ready")
    assert (ready.status.value, ready.reason) == ("False", "RebalanceFailed") and "no order filled" in ready.message
    assert "RebalanceFailed" in [e.reason for e in res.events]
    assert any(e["type"] == "rebalanceFailed" for e in live.entries(b))
    live.rig.emu.faults.rejects = 0
    live.rig.clock.advance(300)
    b, res = await live.step(b)
    assert res.completed is not None and b.status is not None and b.status.rebalancesTotal == 1
    assert next(c for c in b.status.conditions if c.type == "Ready").status.value == "True"

"""Paper mode on live markets: public prices and books through real ccxt (no credentials), the account
simulated by the emulator's own matching. The emulator stands in for the exchange's public API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest

from hedgeops.exchange.ccxt.client import make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL
from hedgeops.exchange.paper.live import LivePaperVenue
from hedgeops.exchange.venue import OrderRejected
from hedgeops.model.orders import OrderRequest
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import LivePaperVenues, Venues

from .emulator_fixtures import KEY, Rig, start
from .runtime_fixtures import as_result, book, policy

D = Decimal
SOL = "SOL/USDT:USDT"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        yield r


@pytest.fixture
async def paper(rig: Rig) -> AsyncIterator[LivePaperVenue]:
    v = LivePaperVenue(CcxtVenue(make_client("okx", None, base_url=rig.url, rate_limit=False), snapshot_max_age_s=0))
    try:
        yield v
    finally:
        await v.close()


async def test_takers_walk_the_live_book_and_nothing_reaches_the_exchange(paper: LivePaperVenue, rig: Rig) -> None:
    q = (await paper.snapshot([SOL])).quotes[SOL]
    assert q.last == rig.emu.quote(BY_SYMBOL[SOL]).last
    big = await paper.place(OrderRequest("hop1", SOL, "sell", D(500), "market"))
    assert big.status == "closed" and big.average is not None and big.average < q.bid  # walked down the bids
    snap = await paper.snapshot([SOL])
    assert snap.positions[SOL].qty == D(-500)
    assert not rig.emu.account(KEY).ord_ids and rig.app.requests > 0  # only public endpoints were called


async def test_a_resting_order_fills_when_a_later_print_goes_through_it(paper: LivePaperVenue, rig: Rig) -> None:
    q = (await paper.snapshot([SOL])).quotes[SOL]
    with pytest.raises(OrderRejected, match="would cross"):
        await paper.place(OrderRequest("hop2", SOL, "buy", D(1), "limit", q.ask, post_only=True))
    await paper.place(OrderRequest("hop3", SOL, "buy", D(1), "limit", q.bid, post_only=True))
    series = rig.emu.replay.series(SOL)
    closes = [b for b in series.bars_between(rig.clock(), rig.clock() + timedelta(days=3))]
    first_below = next(b for b in closes if b.close < q.bid)
    for bar in closes:
        rig.clock.t = bar.end + timedelta(seconds=1)
        state = await paper.order("hop3", SOL)
        assert state is not None
        if bar.end < first_below.end:
            assert state.status == "open"  # a low that touched is not seen: only the prices we observed count
        else:
            assert state.status == "closed" and state.average == q.bid
            break


async def test_a_paper_book_on_live_prices_hedges_without_credentials(rig: Rig) -> None:
    venues = Venues(LivePaperVenues({"okx": rig.url}))
    reconciler = HedgeBookReconciler(Services(venues, InMemoryLocks(lambda: 0.0), InMemoryJournal(), Metrics(), "t"))
    try:
        result = as_result(await reconciler.reconcile(book(exchange={"name": "okx", "account": "paper"}), rig.clock(),
                                                     None, policy()))
        assert result.completed is not None and result.completed.urgency == "Emergency"
        venue = await venues.venue_for(book().spec.exchange.model_copy(update={"account": "paper"}),
                                       book().spec.mode, "default")
        assert (await venue.snapshot([SOL])).positions[SOL].qty == D(-100)
        assert not rig.emu.account(KEY).ord_ids
    finally:
        await venues.close()


async def test_every_paper_account_on_live_prices_shares_one_public_client_per_exchange(rig: Rig) -> None:
    """One poller and one rate limiter per exchange: a client per account label let a tenant's hundred Paper
    objects multiply the operator's requests from its one address."""
    live = LivePaperVenues({"okx": rig.url})
    venues = Venues(live)
    try:
        ref = book().spec.exchange
        accounts = [await venues.account(ref.model_copy(update={"account": f"a{i}"}), book().spec.mode, ns)
                    for i in range(3) for ns in ("team-a", "team-b")]
        assert len({a.key for a in accounts}) == 6 and len(live.public) == 1  # 6 accounts, 1 client
        assert len({id(a.venue) for a in accounts}) == 6  # each its own simulated account
    finally:
        await venues.close()

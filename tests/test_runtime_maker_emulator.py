"""Seed 003 through real ccxt against the OKX emulator, on real SOL prices (2025-06-01 from 15:00): the market
maker's quotes fill as the replayed bars trade through them, and then its risk rules act on the venue itself —
risk-close after the lines are tightened, stop-loss and take-profit close at market reduce-only and carry on,
close-all flattens. Funding settled on its position is read back from the venue's bills and booked once; every
cycle leaves its summary in the status, the journal has it when the cycle did something, and the fill rate, fees
and funding are metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api.marketmaker import MarketMaker, MarketMakerStatus
from hedgeops.engine.common.controls import Controls
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.paper.account import FundingBill
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal, journal_stream
from hedgeops.runtime.kinds.marketmaker import MarketMakerReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.reconcile import Schedule
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock, Rig, read_secret

D = Decimal
SOL = "SOL/USDT:USDT"
T0 = datetime(2025, 6, 1, 15, 0, tzinfo=UTC)




def maker(generation: int = 1, **spec: Any) -> MarketMaker:
    body: dict[str, Any] = {
        "mode": "Live", "exchange": {"name": "okx", "account": "mm", "credentialsSecretRef": {"name": "okx-creds"}},
        "symbol": SOL, "spreadRatio": "0.001", "quantity": "1", "maxOrders": 1, "positionThreshold": "2",
        "maxPosition": "3", "stopLossQuote": "-1", "intervalSeconds": 60}
    body.update(spec)
    return MarketMaker.model_validate({"kind": "MarketMaker", "metadata": {
        "name": "sol", "namespace": "default", "uid": "uid-mm", "generation": generation}, "spec": body})


@dataclass
class Run:
    rig: Rig
    rec: MarketMakerReconciler
    journal: InMemoryJournal
    metrics: Metrics
    mm: MarketMaker

    async def tick(self, controls: Controls | None = None) -> MarketMakerStatus:
        res = await self.rec.reconcile(self.mm, self.rig.clock(), controls)
        self.mm = self.mm.model_copy(update={"status": res.status})
        self.rig.clock.advance(300)  # the replayed bars are 5 minutes: one cycle a bar
        assert isinstance(res.status, MarketMakerStatus)
        return res.status

    def respec(self, **spec: Any) -> None:
        """A person edits the spec: a new generation, the status kept."""
        self.mm = maker(self.mm.metadata.generation + 1, **spec).model_copy(update={"status": self.mm.status})

    def held(self) -> Decimal:
        pos = self.rig.emu.account(KEY).venue.account.positions({}).get(SOL)
        return pos.qty if pos else D(0)

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        out = [e for _, e in self.journal.streams[journal_stream("MarketMaker", self.mm.key)]]
        return [e for e in out if kind is None or e["type"] == kind]

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, {"kind": "MarketMaker", "namespace": "default",
                                                             "name": "sol", "mode": "Live", "symbol": SOL, **labels})


REPLAY = MarketReplay()  # loaded once for the module: reading the candle files is most of an emulator's start


async def running(**spec: Any) -> AsyncIterator[Run]:
    clock = Clock(T0)
    async with serving(Emulator(REPLAY, clock, {KEY: Credentials(SECRET, PASSPHRASE)})) as (app, url):
        rig = Rig(app.emu, app, clock, url)
        venues = Venues(PaperVenues(rig.clock), CcxtVenues(read_secret, {"okx": rig.url}, snapshot_max_age_s=0,
                                                               rate_limit=False))
        journal, metrics = InMemoryJournal(), Metrics()
        rec = MarketMakerReconciler(Services(venues, InMemoryLocks(lambda: 0.0), journal, metrics, "test"),
                                    Schedule())
        try:
            yield Run(rig, rec, journal, metrics, maker(**spec))
        finally:
            await venues.close()


@pytest.fixture
async def run() -> AsyncIterator[Run]:
    async for r in running():
        yield r


async def test_risk_close_funding_and_stop_loss_act_on_the_venue(run: Run) -> None:
    statuses = [await run.tick() for _ in range(13)]  # 15:00 … 16:00
    s = statuses[-1]
    assert s.position == D(-2) == run.held(), "the quotes filled on the venue: short 2 at 16:00"
    # Funding: the emulator settled SOL at 16:00 on the short; the maker booked exactly the venue's bill.
    bills = [b for b in run.rig.emu.account(KEY).venue.account.bills if b.symbol == SOL]
    assert len(bills) == 1 and bills[0].amount != 0
    assert s.fundingQuote == bills[0].amount and s.summary is not None
    assert s.summary.fundingQuote == bills[0].amount.quantize(D("0.00000001"))  # status figures are to 8 places
    assert [D(e["amount"]) for e in run.entries("funding")] == [bills[0].amount]
    assert run.metric("hedgeops_maker_funding_quote") == float(bills[0].amount)
    # The PnL reported is realised + unrealised + funding, and the cycle PnLs add up to it.
    cent = D("0.0000001")  # each figure is rounded to 8 places on its own
    assert abs(s.summary.pnlQuote - (s.realizedPnlQuote + s.unrealizedPnlQuote + s.fundingQuote)) < cent
    assert abs(sum((x.summary.cyclePnlQuote for x in statuses if x.summary), D(0)) - s.summary.pnlQuote) < cent
    assert run.metric("hedgeops_pnl_quote") == float(s.summary.pnlQuote)
    # A second read of the bills books nothing twice.
    s = await run.tick()  # 16:05
    assert s.fundingQuote == bills[0].amount and len(run.entries("funding")) == 1
    # Risk-close: the lines tightened under a short 2: the venue is brought to the new maximum, reduce-only.
    run.respec(maxPosition="1.5", positionThreshold="1")
    run.rig.clock.advance(-300)  # the edit lands within the 16:05 bar
    s = await run.tick()
    assert s.reason == "RiskClose" and s.position == D("-1.5") == run.held()
    account = run.rig.emu.account(KEY)
    close = [o for o in account.venue.account.orders.values() if o.type.value == "market"]
    assert [(o.side.value, o.amount, account.meta[o.client_order_id].reduce_only) for o in close] == [
        ("buy", D("0.5"), True)]
    # Stop-loss at 16:10: the price rose under the short past −1 unrealised: cancel all, close at market, carry on.
    s = await run.tick()
    assert s.reason == "StopLoss" and s.position == 0 == run.held()
    assert s.summary is not None and s.summary.cyclePnlQuote < D(-1)
    placed = s.quotesPlaced
    s = await run.tick()
    assert s.reason == "Quoting" and s.quotesPlaced > placed, "it carries on quoting after the stop"


async def test_take_profit_closes_on_the_venue_and_the_fill_rate_is_counted() -> None:
    async for run in running(takeProfitQuote="0.2"):
        statuses = [await run.tick() for _ in range(12)]  # 15:00 … 15:55
        s = statuses[-1]
        assert s.reason == "TakeProfit" and s.position == 0 == run.held(), [x.reason for x in statuses]
        assert [x.reason for x in statuses[:-1]] == ["Quoting"] * 11
        # Fill rate: every quote the venue took is counted once, a quote that filled once more.
        venue_quotes = [o for o in run.rig.emu.account(KEY).venue.account.orders.values() if o.post_only]
        filled = [o for o in venue_quotes if o.filled > 0]
        assert s.quotesPlaced == len(venue_quotes) and s.quotesFilled == len(filled) > 0
        assert run.metric("hedgeops_maker_quotes_total", outcome="placed") == len(venue_quotes)
        assert run.metric("hedgeops_maker_quotes_total", outcome="filled") == len(filled)
        assert run.metric("hedgeops_maker_fill_ratio") == pytest.approx(len(filled) / len(venue_quotes))
        assert run.metric("hedgeops_maker_fees_quote") == float(s.feesQuote)
        # The summary's per-cycle fills add up to the run's totals, in the status and in the journal (every cycle
        # here requoted around a new bar's price, so every one is journalled).
        assert sum(x.summary.sold for x in statuses if x.summary) == s.soldQty > 0
        assert sum(x.summary.bought for x in statuses if x.summary) == s.boughtQty > 0
        journalled = run.entries("makerCycle")
        assert len(journalled) == len(statuses)
        assert sum(D(e["sold"]) for e in journalled) == s.soldQty
        assert s.summary is not None and D(journalled[-1]["pnlQuote"]) == s.summary.pnlQuote


async def test_funding_bills_are_each_booked_once_however_many_and_however_stamped(run: Run) -> None:
    """More bills than OKX returns in one call (paged back by bill id), and two stamped with the same second (told
    apart by id): each booked once, and a later read books none of them again."""
    await run.tick()  # 15:00: funding read (nothing yet)
    paper = run.rig.emu.account(KEY).venue.account
    stamp = datetime(2025, 6, 1, 15, 1, tzinfo=UTC)
    for i in range(120):
        paper.bills.append(FundingBill(len(paper.bills) + 1, SOL, stamp + timedelta(seconds=i), D(0), D(150),
                                       D("0.001")))
    last = stamp + timedelta(seconds=119)
    paper.bills.append(FundingBill(len(paper.bills) + 1, SOL, last, D(0), D(150), D("0.5")))  # the same second
    s = await run.tick()  # 15:05: five minutes on, the bills are read
    assert s.fundingQuote == D("0.62") and len(run.entries("funding")) == 121
    assert s.fundingBookedUntil == last and len(s.fundingBookedIds) == 2
    for _ in range(3):
        s = await run.tick()
    assert s.fundingQuote == D("0.62") and len(run.entries("funding")) == 121


async def test_close_all_flattens_on_the_venue_and_holds(run: Run) -> None:
    for _ in range(2):  # 15:00, 15:05: short 1
        s = await run.tick()
    assert s.position == D(-1) == run.held()
    run.rig.clock.advance(-300)  # a person sets hedgeops.io/close-all within the 15:05 bar
    s = await run.tick(Controls(close_all=True))
    assert s.reason == "CloseAll" and s.position == 0 == run.held() and not s.quotes
    account = run.rig.emu.account(KEY)
    assert [(o.side.value, o.amount, account.meta[o.client_order_id].reduce_only)
            for o in account.venue.account.orders.values() if o.type.value == "market"] == [("buy", D(1), True)]
    s = await run.tick(Controls(close_all=True))
    assert s.reason == "ClosedAll" and s.position == 0 and not s.quotes and not account.venue.account.open_orders()
    journalled = len(run.entries("makerCycle"))
    s = await run.tick(Controls(close_all=True))
    # A cycle that filled, sent, booked and decided nothing leaves its summary in the status only.
    assert s.reason == "ClosedAll" and s.summary is not None
    assert s.summary.at == datetime(2025, 6, 1, 15, 15, tzinfo=UTC) and s.summary.quotes == 0
    assert len(run.entries("makerCycle")) == journalled

"""Seed 001's risk limits and maxOrder at run time, each test twice: a Live book's cycle through the ccxt venue, real
ccxt, over loopback to the OKX emulator; and a Paper book on local mode's paper venue. Each limit refuses a plan
the book would otherwise trade: the refusal is journalled (`refused`, with the limit's reason), told as an event,
counted, and not one order reaches the exchange. The Seed001 preset fills the limits the policy leaves unset, and
an explicit field wins over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.policy import Limits, LimitsPreset
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal, journal_stream
from hedgeops.runtime.kinds.book_result import CycleResult
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues

from .emulator_fixtures import KEY, Rig, read_secret, start
from .runtime_fixtures import as_result, book, policy

D = Decimal
SOL, ETH = "SOL/USDT:USDT", "ETH/USDT:USDT"




@dataclass
class Live:
    rig: Rig
    venues: Venues
    paper: PaperVenues
    journal: InMemoryJournal
    metrics: Metrics
    reconciler: HedgeBookReconciler
    mode: str  # Live (the emulator through ccxt) or Paper (local mode's paper venue)

    def book(self, **spec: Any) -> HedgeBook:
        if self.mode == "Paper":
            return book(exchange={"name": "okx", "account": "main"}, **spec)
        return book(mode="Live", exchange={"name": "okx", "account": "main",
                                           "credentialsSecretRef": {"name": "okx-creds"}}, **spec)

    async def step(self, b: HedgeBook, pol: RebalancePolicy) -> tuple[HedgeBook, CycleResult]:
        result = as_result(await self.reconciler.reconcile(b, self.rig.clock(), None, pol))
        return b.model_copy(update={"status": result.status}), result

    def entries(self, b: HedgeBook) -> list[dict[str, Any]]:
        return [e for _, e in self.journal.streams[journal_stream("HedgeBook", b.key)]]

    def position(self, symbol: str) -> Decimal:
        venue = self.rig.emu.account(KEY).venue if self.mode == "Live" else self.paper.paper("okx", "main")
        pos = venue.account.positions({}).get(symbol) if venue is not None else None
        return pos.qty if pos is not None else D(0)

    def orders(self) -> int:
        if self.mode == "Live":
            return self.rig.emu.orders_placed()
        venue = self.paper.paper("okx", "main")
        return len(venue.account.orders) if venue is not None else 0


@pytest.fixture(params=["Live", "Paper"])
async def live(request: pytest.FixtureRequest) -> AsyncIterator[Live]:
    async for rig in start():
        for symbol in (SOL, ETH, "SOL/USDT", "ETH/USDT"):  # loaded here, not inside a request ccxt times out
            rig.emu.replay.series(symbol)
        paper = PaperVenues(rig.clock)
        venues = Venues(paper, CcxtVenues(read_secret, {"okx": rig.url}, snapshot_max_age_s=0))
        journal, metrics = InMemoryJournal(), Metrics()
        reconciler = HedgeBookReconciler(Services(venues, InMemoryLocks(lambda: 0.0), journal, metrics, "test"))
        try:
            yield Live(rig, venues, paper, journal, metrics, reconciler, request.param)
        finally:
            await venues.close()


def holding(b: HedgeBook, sol: int) -> HedgeBook:
    """The book after its owner's SOL holding changed to `sol` units (ETH stays 3)."""
    holdings = b.spec.holdings.model_copy(update={"static": {"SOL": D(sol), "ETH": D(3)}})
    return b.model_copy(update={"spec": b.spec.model_copy(update={"holdings": holdings})})


def limited(**limits: Any) -> RebalancePolicy:
    return policy(limits=limits)


async def refused_with(live: Live, b: HedgeBook, pol: RebalancePolicy, reason: str) -> HedgeBook:
    """One cycle that makes a plan the limit refuses: journalled, told, counted, and no order sent."""
    sent = live.orders()
    b, res = await live.step(b, pol)
    assert res.plan is not None and res.plan.orders, "the cycle made no plan to refuse"
    assert live.orders() == sent, "an order reached the exchange"
    refused = [e for e in live.entries(b) if e["type"] == "refused"]
    assert refused and refused[-1]["reason"] == reason and refused[-1]["planId"] == res.plan.plan_id, refused
    assert any(e.reason == reason for e in res.events), res.events
    assert b.status is not None and b.status.workingPlan is None
    ns, name = b.metadata.namespace or "default", b.metadata.name
    assert live.metrics.refusals.labels(ns, name, reason)._value.get() >= 1
    return b


async def hedged(live: Live, pol: RebalancePolicy) -> HedgeBook:
    """A book hedged by its first (emergency) plan, then 4 SOL longer: 4% off, a normal rebalance is due."""
    b, res = await live.step(live.book(), pol)
    assert res.completed is not None and live.position(SOL) == D(-100)
    live.rig.clock.advance(300)
    return holding(b, 104)


async def test_max_order_clips_each_plan_and_the_rest_follows_in_later_cycles(live: Live) -> None:
    pol = policy(maxOrder={"SOL": 30})
    b, res = await live.step(live.book(), pol)
    assert res.plan is not None
    sol = [o for o in res.plan.orders if o.symbol == SOL]
    assert [o.amount for o in sol] == [D(30)]  # 100 needed, 30 allowed
    assert live.position(SOL) == D(-30) and live.position(ETH) == D(-3)  # ETH has no maxOrder
    plans = [e for e in live.entries(b) if e["type"] == "plan"]
    assert [o["amount"] for o in plans[-1]["orders"] if o["symbol"] == SOL] == ["30"]
    for _ in range(3):
        live.rig.clock.advance(300)
        b, res = await live.step(b, pol)
    assert live.position(SOL) == D(-100)
    sizes = [D(o["amount"]) for e in live.entries(b) if e["type"] == "plan" for o in e["orders"]
             if o["symbol"] == SOL]
    assert sizes == [D(30), D(30), D(30), D(10)]


async def test_a_day_s_rebalance_count_refuses_the_next_normal_plan(live: Live) -> None:
    pol = limited(maxRebalancesPerDay=1)
    b = await hedged(live, pol)
    b = await refused_with(live, b, pol, "DailyRebalanceLimit")
    assert live.position(SOL) == D(-100)


async def test_spacing_between_rebalances_refuses_a_plan_too_soon(live: Live) -> None:
    pol = limited(minSecondsBetweenRebalances=3600)
    b = await hedged(live, pol)
    await refused_with(live, b, pol, "TooSoon")


async def test_a_trade_s_delta_change_above_the_limit_is_refused(live: Live) -> None:
    pol = limited(maxDeltaChangePerTrade=2)
    b = await hedged(live, pol)
    await refused_with(live, b, pol, "DeltaChangeLimit")  # the plan sells 4 SOL: more than 2


async def test_the_cost_threshold_refuses_a_plan_too_dear_for_what_it_trades(live: Live) -> None:
    pol = limited(maxCostRatio="0.0001")  # the maker fee alone is 0.02% of the notional
    b = await hedged(live, pol)
    await refused_with(live, b, pol, "CostThreshold")


async def test_the_daily_cost_limit_refuses_even_an_emergency(live: Live) -> None:
    pol = limited(maxDailyCostQuote=1)  # the first hedge's taker fees are several USDT
    await refused_with(live, live.book(), pol, "DailyCostLimit")
    assert live.position(SOL) == 0 and live.position(ETH) == 0


async def test_concentration_refuses_an_order_that_would_concentrate_the_book(live: Live) -> None:
    pol = limited(maxConcentrationRatio="0.3")  # SOL is about two thirds of this book's value
    await refused_with(live, live.book(), pol, "ConcentrationLimit")
    assert live.position(SOL) == 0


async def test_the_seed001_preset_fills_unset_limits_and_explicit_fields_win(live: Live) -> None:
    seeded = Limits(preset=LimitsPreset.SEED_001).effective()
    assert (seeded.maxRebalancesPerDay, seeded.maxDeltaChangePerTrade, seeded.maxDailyCostQuote,
            seeded.minSecondsBetweenRebalances, seeded.maxConcentrationRatio, seeded.maxCostRatio) == (
        10, D("5.0"), D(1000), 300, D("0.3"), D("0.01"))  # seed 001 §9.1 and §3.3, as written
    assert Limits(preset=LimitsPreset.SEED_001, maxRebalancesPerDay=3).effective().maxRebalancesPerDay == 3

    # At run time: the seed's 30% concentration would refuse this book's first hedge; an explicit 1 lets it, and
    # the seed's 300 s spacing then refuses a normal plan two minutes later.
    pol = limited(preset="Seed001", maxConcentrationRatio=1)
    b, res = await live.step(live.book(), pol)
    assert res.completed is not None and live.position(SOL) == D(-100)
    live.rig.clock.advance(120)
    b = await refused_with(live, holding(b, 104), pol, "TooSoon")
    # Explicit spacing under the preset's: the same plan goes through.
    pol = limited(preset="Seed001", maxConcentrationRatio=1, minSecondsBetweenRebalances=60)
    sent = live.orders()
    b, res = await live.step(b, pol)
    assert res.plan is not None and live.orders() == sent + 1 and b.status is not None and b.status.workingPlan

"""FundingArbitrage cycles on the paper venue replaying real ETH prices and funding: bootstrap, entry, funding
booked at the real settlements, halt, close-all, and a process killed between the legs of the entry."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hedgeops.api.funding import FundingArbitrage, FundingArbitrageStatus, Phase
from hedgeops.engine.common.controls import Controls
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.model.orders import OrderRequest
from hedgeops.runtime.journal import journal_stream
from hedgeops.runtime.kinds.carry import FundingArbitrageReconciler
from hedgeops.runtime.reconcile import Outcome

from .runtime_fixtures import Rig, killed_after, rig

D = Decimal
SPOT, PERP = "ETH/USDT", "ETH/USDT:USDT"


def carry(**spec: Any) -> FundingArbitrage:
    body: dict[str, Any] = {
        "exchange": {"name": "okx", "account": "carry"},
        "pairs": [{"spot": SPOT, "perp": PERP}],
        "capital": {"amountQuote": "10000"},
        "exit": {"stopLossRatio": "-0.02"},
        "entry": {"minFundingRate": "0.00001"},
    }
    body.update(spec)
    return FundingArbitrage.model_validate({"kind": "FundingArbitrage", "metadata": {
        "name": "eth", "uid": "uid-eth", "generation": 1}, "spec": body})


class Carry:
    """One FundingArbitrage stepped on the rig's clock (`fa`: the object; the ETH carry by default)."""

    def __init__(self, r: Rig, fa: FundingArbitrage | None = None) -> None:
        self.r = r
        self.rec = FundingArbitrageReconciler(r.reconciler.s)
        self.fa = fa or carry()

    async def tick(self, seconds: float = 0, halted: str | None = None, reset_breaker: bool = False,
                   close_all: bool = False) -> Outcome[FundingArbitrageStatus]:
        self.r.clock.advance(seconds)
        controls = Controls(halt=halted, reset_breaker=reset_breaker, close_all=close_all)
        res = await self.rec.reconcile(self.fa, self.r.clock.now(), controls)
        self.fa = self.fa.model_copy(update={"status": res.status})
        return res

    async def venue(self) -> PaperVenue:
        v = await self.r.venues.venue_for(self.fa.spec.exchange, self.fa.spec.mode, "default")
        assert isinstance(v, PaperVenue)
        return v

    def journal(self) -> list[dict[str, Any]]:
        return [e for _, e in self.r.journal.streams[journal_stream("FundingArbitrage", "default/eth")]]

    async def legs(self) -> tuple[Decimal, Decimal]:
        v = await self.venue()
        snap = await v.snapshot([SPOT, PERP])
        pos = snap.positions.get(PERP)
        return snap.balances.get("ETH", D(0)), pos.qty if pos else D(0)


def reasons(res: Outcome[FundingArbitrageStatus]) -> list[str]:
    return [e.reason for e in res.events]


async def test_entry_opens_equal_legs_then_books_real_funding_and_holds() -> None:
    c = Carry(rig())
    res = await c.tick()
    assert "BootstrapPassed" in reasons(res) and "Entry" in reasons(res), res.events
    spot, perp = await c.legs()
    assert spot > 0 and perp == -spot  # equal legs, long spot, short perp
    assert (await c.venue()).leverage[PERP] == 1
    res = await c.tick(5)  # a plan in flight is stepped on the next tick, not at the next scan
    assert res.status.phase is Phase.OPEN and "Opened" in reasons(res)
    leg = res.status.legs[0]
    assert leg.spotWalletQuote < D(5000) and leg.marginRatio is not None and D("0.9") < leg.marginRatio < D("1.1")
    # Between scans a held position is only watched: the account snapshot (and the market rules, which a ccxt
    # venue has cached), no book, no funding rate; nothing found, so the status is not rewritten.
    before, held = (await c.venue()).requests, c.fa.status
    res = await c.tick(60)
    assert (await c.venue()).requests == before + 2 and res.status is held and not res.changed
    # A day later: three real settlements booked from the venue's bills, equal to the venue's own.
    for _ in range(24 * 12):
        res = await c.tick(300)
    bills = (await c.venue()).account.bills
    assert len(bills) == 3
    assert res.status.fundingEarnedQuote == sum((b.amount for b in bills), D(0)).quantize(D("0.00000001"))
    assert [e["type"] for e in c.journal()].count("funding") == 3
    assert res.status.cadence.settle is not None and res.status.nextFundingTime is not None


async def test_halt_keeps_the_position_and_close_all_flattens_both_legs_reduce_only() -> None:
    c = Carry(rig())
    await c.tick()
    await c.tick(5)
    res = await c.tick(5, halted="hedgeops.io/halt is set")
    assert res.status.phase is Phase.HALTED and (await c.legs())[0] > 0
    res = await c.tick(5, halted="hedgeops.io/halt is set", close_all=True)
    assert "CloseAll" in reasons(res)
    assert await c.legs() == (D(0), D(0))
    closing = [e for e in c.journal() if e["type"] == "plan" or e["type"] == "order"]
    assert any(e.get("side") == "buy" and e.get("symbol") == PERP for e in closing)
    res = await c.tick(5, close_all=True)
    assert res.status.phase is Phase.CLOSED and "Closed" in reasons(res)
    res = await c.tick(600, close_all=True)  # stays flat while close-all is requested, even with funding in range
    assert res.status.phase is Phase.CLOSED and await c.legs() == (D(0), D(0))


async def test_killed_between_the_legs_the_next_process_finds_the_first_and_completes_the_second() -> None:
    c = Carry(rig())
    v = await c.venue()
    async with killed_after(v, 1) as sent:
        await c.tick()
    spot, perp = await c.legs()
    assert spot > 0 and perp == 0  # one leg: the dangerous state
    # The next process: status as it was (never written), same journal.
    c.fa = carry()
    res = await c.tick(5)
    assert "PlanRecovered" in reasons(res) and "CompleteLegs" in reasons(res), res.events
    spot, perp = await c.legs()
    assert perp == -spot
    ids = list(v.account.orders)
    assert len(ids) == len(set(ids)) and ids.count(sent[0]) == 1
    assert res.status.legs[0].machine["ledger"]["spot"]["qty"] == str(spot)


async def test_bootstrap_refuses_an_account_with_a_position_it_did_not_open() -> None:
    c = Carry(rig())
    v = await c.venue()
    await v.place(OrderRequest("someone-else", PERP, "sell", D("1.000"), "market"))
    res = await c.tick()
    assert reasons(res) == ["BootstrapFailed"] and not res.status.bootstrap.passed
    assert "did not open" in res.status.bootstrap.problems[0]
    assert [o for o in v.account.orders if o != "someone-else"] == []


async def test_funding_outside_the_entry_range_is_reported_and_never_traded() -> None:
    c = Carry(rig())
    c.fa = carry(entry={"minFundingRate": "0.009", "maxFundingRate": "0.01"})
    res = await c.tick()
    assert res.status.legs[0].reason == "FundingTooLow" and await c.legs() == (D(0), D(0))
    assert res.status.legs[0].phase is Phase.IDLE



PAIRS = [{"spot": f"{b}/USDT", "perp": f"{b}/USDT:USDT"} for b in ("ETH", "BTC", "SOL")]


def paid_funding(fa: FundingArbitrage, perp: str, amount: str) -> FundingArbitrage:
    """The object as if `perp` had paid `amount` of funding since it opened (its ledger says so)."""
    assert fa.status is not None
    legs = [leg.model_copy(update={"machine": {**leg.machine, "ledger": {**leg.machine["ledger"],
                                                                          "fundingQuote": amount}}})
            if leg.perp == perp else leg for leg in fa.status.legs]
    return fa.model_copy(update={"status": fa.status.model_copy(update={"legs": legs})})


async def test_the_breaker_counts_every_pair_of_the_object_and_a_trip_closes_them_all() -> None:
    """−$400 on each of two pairs is −$800 for the object: over seed 004's $500 daily limit. The third pair, which
    lost nothing, is closed too, and no pair opens again until the next UTC day."""
    c = Carry(rig())
    c.fa = carry(pairs=PAIRS, capital={"amountQuote": "60000"})
    await c.tick()
    res = await c.tick(5)
    assert [leg.phase for leg in res.status.legs] == [Phase.OPEN] * 3, [leg.reason for leg in res.status.legs]
    for perp in ("ETH/USDT:USDT", "BTC/USDT:USDT"):
        c.fa = paid_funding(c.fa, perp, "-400")
    res = await c.tick(300)
    assert [leg.reason for leg in res.status.legs][:2] == ["StopLoss", "StopLoss"]
    res = await c.tick(5)
    assert res.status.breaker.tripped and res.status.breaker.dailyLossQuote > 800
    trip = next(cd for cd in res.status.conditions if cd.type == "BreakerTripped")
    assert (trip.status, trip.reason) == ("True", "DailyLoss") and "over all 3 pair(s)" in trip.message
    assert "BreakerTripped" in reasons(res)
    assert any(e["type"] == "breaker" and e["reason"] == "DailyLoss" for e in c.journal())
    for _ in range(3):
        res = await c.tick(5)
    sol = res.status.legs[2]
    assert sol.reason == "BreakerTripped" and sol.spotQty == 0 and sol.perpQty == 0
    v = await c.venue()
    snap = await v.snapshot([p["perp"] for p in PAIRS])
    assert not snap.positions  # every perp closed
    metrics = c.r.metrics.registry
    for p in PAIRS:
        assert metrics.get_sample_value("hedgeops_breaker_tripped", {"namespace": "default", "name": "eth",
                                                                     "mode": "Paper",
                                                                     "symbol": p["perp"]}) == 1
    orders = len(v.account.orders)
    for _ in range(6):  # half an hour of scans: nothing opens
        res = await c.tick(300)
    assert len(v.account.orders) == orders and res.status.breaker.tripped
    # The closes the trip forced were losing round trips too (fees): the third in a row is a streak, which a new
    # UTC day does not clear (a daily-loss trip alone would): a person resets it.
    assert res.status.breaker.consecutiveLosses == 3
    c.r.clock.set(c.r.clock.now().replace(hour=0, minute=0) + timedelta(days=1, minutes=1))
    res = await c.tick()
    assert res.status.breaker.tripped and res.status.breaker.dailyLossQuote == 0
    res = await c.tick(5, reset_breaker=True)
    assert not res.status.breaker.tripped and reasons(res) == ["Resumed"] * 3
    res = await c.tick(300)  # the next scan weighs entry again on every pair (funding, wallets), breaker aside
    assert len(reasons(res)) == 3 and "BreakerTripped" not in reasons(res)


def collateral(fa: FundingArbitrage, amount: str) -> FundingArbitrage:
    """The object as if its one pair's perp collateral were `amount` (a loss the venue has not shown yet)."""
    assert fa.status is not None
    legs = [leg.model_copy(update={"collateralQuote": D(amount)}) for leg in fa.status.legs]
    return fa.model_copy(update={"status": fa.status.model_copy(update={"legs": legs})})


async def test_margin_is_guarded_on_every_tick_from_the_snapshot_not_on_the_5_minute_scan() -> None:
    c = Carry(rig())  # half the spot share stays in the spot wallet, free to top the margin up
    c.fa = carry(capital={"amountQuote": "20000", "maxPerPositionQuote": "5000"},
                 rebalance={"compoundMarginRatio": None})
    await c.tick()
    res = await c.tick(5)
    assert res.status.phase is Phase.OPEN
    notional = res.status.legs[0].spotQty * (await c.venue()).quote(PERP).last
    c.fa = collateral(c.fa, str(notional * D("0.7")))  # margin ratio ~0.7: below the top-up ratio (0.8)
    res = await c.tick(5)  # five seconds later: no scan is due, the watch acts
    assert reasons(res) == ["MarginTopUp"] and res.status.legs[0].marginRatio >= D("0.99")  # type: ignore[operator]
    assert any(e["type"] == "transfer" for e in c.journal())
    c.fa = collateral(c.fa, str(notional * D("0.3")))  # below the emergency ratio (0.5)
    res = await c.tick(5)
    assert reasons(res) == ["EmergencyMargin"] and res.status.legs[0].phase is Phase.CLOSING
    assert await c.legs() == (D(0), D(0))

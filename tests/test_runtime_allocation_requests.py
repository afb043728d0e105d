"""Seed 002's unscheduled rebalances in local mode's runtime (paper venue, real prices, simulated clock): a person's
rebalance-now (once per annotation value, through approval, the cost tolerance and the risk limits), the
opportunity (early when cheap), and the cost forecast an approver sees in status.pendingPlan."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgeops.api import HedgeBook

from .runtime_fixtures import book, policy, rig
from .test_crd_pruning import _assert_kept
from .test_runtime_allocation import alloc_book, retarget, venue_of
from .test_runtime_allocation_schedule import cycle

D = Decimal
NEAR = {"BTC": D("0.43"), "ETH": D("0.27"), "USDT": D("0.30")}  # 3 points from where the book stands: in the band


def taker(**spec: Any) -> Any:
    return policy(execution={"normal": "Taker"}, **spec)


async def invested(pol: Any) -> tuple[Any, HedgeBook]:
    """A cash book invested to 40/30/30 (its drift says so at once), then aimed 3 points elsewhere, in its band."""
    r = rig()
    b, res = await cycle(r, alloc_book(), pol)
    assert res.completed is not None and res.completed.reason == "WeightDrift"
    r.clock.advance(300)
    return r, retarget(b, NEAR)


async def test_rebalance_now_trades_once_per_value_however_long_the_annotation_stays() -> None:
    pol = taker()
    r, b = await invested(pol)
    b, res = await cycle(r, b, pol)
    assert res.plan is None  # within the band: nothing to do
    b, res = await cycle(r, b, pol, rebalance_now="2025-01-02T00:05:00Z")
    assert res.completed is not None and res.completed.reason == "Manual"
    assert b.status is not None and b.status.rebalanceNow is not None
    assert (b.status.rebalanceNow.value, b.status.rebalanceNow.state) == ("2025-01-02T00:05:00Z", "Done")
    assert [e.reason for e in res.events if e.reason.startswith("RebalanceNow")] == ["RebalanceNowDone"]
    orders = len(venue_of(r).account.orders)
    for _ in range(3):  # the annotation stays; the book moves back to its old target: nothing is asked again
        r.clock.advance(300)
        b, res = await cycle(r, retarget(b, {"BTC": D("0.4"), "ETH": D("0.3"), "USDT": D("0.3")}), pol,
                             rebalance_now="2025-01-02T00:05:00Z")
        assert res.plan is None and not res.events
    assert len(venue_of(r).account.orders) == orders
    b, res = await cycle(r, b, pol, rebalance_now="2025-01-02T00:20:00Z")  # a new request
    assert res.completed is not None and res.completed.reason == "Manual"


async def test_rebalance_now_is_refused_on_a_paused_book_and_by_the_cost_tolerance() -> None:
    pol = taker()
    r, b = await invested(pol)
    running = b
    paused = b.model_copy(update={"spec": b.spec.model_copy(update={"paused": True})})
    b, res = await cycle(r, paused, pol, rebalance_now="r1")
    assert res.plan is None and b.status is not None and b.status.rebalanceNow is not None
    assert b.status.rebalanceNow.state == "Refused" and "paused" in b.status.rebalanceNow.message
    assert [e.reason for e in res.events] == ["RebalanceNowRefused"]
    strict = taker(allocation={"maxCostRatio": "0.00000001"})
    b, res = await cycle(r, running.model_copy(update={"status": b.status}), strict, rebalance_now="r2")
    assert res.completed is None and b.status is not None and b.status.rebalanceNow is not None
    assert b.status.rebalanceNow.state == "Refused", b.status.rebalanceNow
    assert b.status.rebalanceNow.message.startswith("CostTooHigh"), b.status.rebalanceNow


async def test_rebalance_now_waits_for_approval_and_the_approver_sees_the_cost_forecast() -> None:
    r, b = await invested(taker())
    pol = taker(approval="Manual")
    b, res = await cycle(r, b, pol, rebalance_now="r1")
    assert b.status is not None and b.status.rebalanceNow is not None and b.status.rebalanceNow.state == "Pending"
    pending = b.status.pendingPlan
    assert pending is not None and pending["state"] == "Proposed" and "rebalance now" in pending["reasons"][0]
    fc = pending["forecast"]
    fees, slip, cost, notional = (D(fc[k]) for k in ("feesQuote", "slippageQuote", "costQuote", "notionalQuote"))
    assert fc["quote"] == "USDT" and fees > 0 and cost == fees + slip
    assert D(fc["costRatio"]) == (cost / notional).quantize(D("0.00000001"))
    assert sum(D(o["estFeeQuote"]) for o in pending["orders"]) == fees
    # The notional is what the orders trade at the mid: about 3% of the book each way.
    assert D("4000") < notional < D("8000"), notional
    b, res = await cycle(r, b, pol, rebalance_now="r1")  # not approved yet: still the same plan, still pending
    assert b.status is not None and b.status.pendingPlan is not None and b.status.pendingPlan["id"] == pending["id"]
    assert b.status.rebalanceNow is not None and b.status.rebalanceNow.state == "Pending" and res.completed is None
    b, res = await cycle(r, b, pol, rebalance_now="r1", approval=pending["id"])
    assert res.completed is not None and res.completed.reason == "Manual"
    assert b.status is not None and b.status.rebalanceNow is not None and b.status.rebalanceNow.state == "Done"
    # The forecast held: the fees paid are the forecast's within 2% (the price moved in five minutes).
    assert abs(res.completed.costQuote - fees) <= fees * D("0.02"), (res.completed.costQuote, fees)


async def test_an_opportunity_rebalances_early_only_when_it_is_cheap() -> None:
    cheap = {"minDriftFraction": "0.5", "maxCostRatio": "0.001"}  # taker fee 0.05% and a thin slippage pass
    for opportunity, trades in ((cheap, True), ({**cheap, "maxCostRatio": "0.0003"}, False),
                                ({**cheap, "minDriftFraction": "0.8"}, False)):
        pol = taker(allocation={"opportunity": opportunity})
        r, b = await invested(pol)
        b, res = await cycle(r, b, pol)
        if trades:  # 3 points of a 5-point band, for about 0.05% of the 6,000 traded
            assert res.completed is not None and res.completed.reason == "Opportunity", res.events
            assert "forecast cost" in res.plan.reasons[0].message  # type: ignore[union-attr]
        else:
            assert res.plan is None and res.completed is None, opportunity


async def test_a_hedge_book_refuses_rebalance_now_once_and_shows_its_plan_s_forecast_to_the_approver() -> None:
    r = rig()
    pol = policy(approval="Manual")  # the Compact preset; the book's first hedge waits for a person
    b, res = await cycle(r, book(), pol, rebalance_now="r1")
    assert [e.reason for e in res.events if e.reason.startswith("RebalanceNow")] == ["RebalanceNowRefused"]
    assert b.status is not None and b.status.rebalanceNow is not None and b.status.rebalanceNow.state == "Refused"
    pending = b.status.pendingPlan
    assert pending is not None and pending["state"] == "Proposed"
    fc = pending["forecast"]
    assert D(fc["feesQuote"]) > 0 and D(fc["costQuote"]) == D(fc["feesQuote"]) + D(fc["slippageQuote"])
    assert sum(D(o["estFeeQuote"]) for o in pending["orders"]) == D(fc["feesQuote"])
    b, res = await cycle(r, b, pol, rebalance_now="r1")  # the same value: not refused again
    assert not [e for e in res.events if e.reason.startswith("RebalanceNow")]


async def test_seed_002_status_fields_survive_the_api_servers_pruning() -> None:
    """What a manual, scheduled, volatility-weighted book writes (the request, the schedule, the forecast, each
    weight's reason) is declared in the CRD: a real API server keeps all of it."""
    r, b = await invested(taker())
    b = b.model_copy(update={"spec": b.spec.model_copy(update={"objective": b.spec.objective.model_copy(
        update={"weighting": "RiskParity"})})})
    pol = taker(approval="Manual", allocation={"preset": "IndexFund"}, schedule={"noticeSeconds": 86400 * 30})
    b, _ = await cycle(r, b, pol, rebalance_now="2025-01-02T00:05:00Z")
    s = b.status
    assert s is not None and s.rebalanceNow is not None and s.schedule is not None and s.schedule.noticedFor
    assert s.pendingPlan is not None and s.pendingPlan["forecast"] and all(w.weightingReason for w in s.weights)
    _assert_kept("HedgeBook", s)

"""Seed 002 review findings, in the pure engine: the cost forecast past the fetched book and across slices, the
opportunity judging maker plans at their taker fallback, rebalance-now's approval time limit, the schedule's
fires kept once noticed, the regime table's rules and the weighting's estimator (aligned candles, risk parity
to a tolerance)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from hedgeops.api.allocation import RebalanceNowStatus, Weighting
from hedgeops.api.hedgebook import Objective
from hedgeops.api.policy import DynamicSchedule, RebalancePolicySpec
from hedgeops.engine.allocation import requests, weighting
from hedgeops.engine.allocation.plan import BEYOND_BOOK_PENALTY, AllocationInputs, plan_allocation
from hedgeops.engine.allocation.schedule import ScheduleMemory, ScheduleNeverFires, regime_cron, schedule_of, view
from hedgeops.engine.allocation.step import AllocationMemory, step
from hedgeops.engine.allocation.weighting import MAX_SWEEPS, solve_risk_parity, weigh
from hedgeops.engine.allocation.weights import AllocationDecision
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.common.volatility_estimators import aligned_closes, log_returns, sample_covariance
from hedgeops.engine.hedge.gate import DayUsage, GateVerdict
from hedgeops.model.book import OrderBook
from hedgeops.model.candles import Candle
from hedgeops.model.market import Fees, MarketRules
from hedgeops.model.orders import Liquidity

from .test_engine_allocation_step import NOW, PRICES, observe

D = Decimal
BTC = {"BTC": MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.1"), D("0.00001"))}
# 20 levels a side, 0.1 BTC each, 10 apart: 2 BTC visible, as a venue's 20-level book shows it.
TWENTY = OrderBook(tuple((D(100_000) - 10 * i, D("0.1")) for i in range(20)),
                   tuple((D("100000.5") + 10 * i, D("0.1")) for i in range(20)))
MID = {"BTC": D("100000.25")}


def _inputs(max_order: Decimal | None = None) -> AllocationInputs:
    return AllocationInputs("USDT", BTC, MID, {"BTC": TWENTY}, Fees(D("0.0008"), D("0.001")), Liquidity.TAKER,
                            D(10), max_order)


def test_an_order_larger_than_the_fetched_book_is_priced_past_its_worst_level() -> None:
    plan = plan_allocation({"BTC": D(1)}, {"USDT": D(1_000_000)}, _inputs(), uid="u", seq=1)
    (order,) = plan.orders
    assert order.amount > 2 and plan.beyond_book
    worst = TWENTY.asks[-1][0]
    visible = sum((p * a for p, a in TWENTY.asks), D(0))
    beyond = (order.amount - 2) * worst * (1 + BEYOND_BOOK_PENALTY)
    assert order.est_price == (visible + beyond) / order.amount  # not the mid: slippage is not zero
    assert order.est_slippage_quote == order.amount * (order.est_price - MID["BTC"]) > 0
    inside = plan_allocation({"BTC": D(1)}, {"USDT": D(150_000)}, _inputs(), uid="u", seq=1)
    assert not inside.beyond_book


def test_the_slices_of_one_order_walk_one_book_one_after_another() -> None:
    whole = plan_allocation({"BTC": D(1)}, {"USDT": D(190_000)}, _inputs(), uid="u", seq=1)
    sliced = plan_allocation({"BTC": D(1)}, {"USDT": D(190_000)}, _inputs(D(50_000)), uid="u", seq=1)
    assert len(sliced.orders) > 1 and sum(o.amount for o in sliced.orders) == whole.orders[0].amount
    prices = [o.est_price for o in sliced.orders]
    assert prices == sorted(prices) and len(set(prices)) == len(prices)  # each slice starts where the last ended
    assert round(sliced.est_slippage_quote, 8) == round(whole.est_slippage_quote, 8)  # the same levels, in pieces


def _drifted_maker(book: OrderBook) -> tuple[object, object]:
    pol = RebalancePolicySpec.model_validate({"execution": {"normal": "Maker"},
                                              "allocation": {"opportunity": {"minDriftFraction": "0.5"}}})
    books = {a: book if a == "BTC" else OrderBook(((p - 1, D(1000)),), ((p + 1, D(1000)),))
             for a, p in PRICES.items()}
    obs = observe({"BTC": "0.86", "ETH": "11.2", "USDT": "30000"}, books=books)  # BTC +2.7 points of 5
    return obs, pol


def test_a_maker_plan_is_an_opportunity_only_when_its_taker_fallback_is_cheap() -> None:
    memory = AllocationMemory(None, DayUsage(0, D(0)), 0)
    deep = OrderBook(((PRICES["BTC"] - 1, D(1000)),), ((PRICES["BTC"] + 1, D(1000)),))
    obs, pol = _drifted_maker(deep)
    out = step(obs, pol, memory, Controls(), NOW)  # type: ignore[arg-type]
    assert out.decision.reason == "Opportunity" and out.plan is not None
    assert {o.type for o in out.plan.orders} == {Liquidity.MAKER} and "as taker orders" in out.decision.message
    # 2 % wide and 0.001 BTC deep: a maker plan at the mid would cost only its fee; its fallback is dear.
    thin = OrderBook(((D(49_500), D("0.001")),), ((D(50_500), D("0.001")),))
    obs, pol = _drifted_maker(thin)
    held = step(obs, pol, memory, Controls(), NOW)  # type: ignore[arg-type]
    assert held.decision.reason == "WithinBands" and held.plan is None
    without_books = step(replace(obs, books=None), pol, memory, Controls(), NOW)  # type: ignore[arg-type]
    assert without_books.needs_books  # the maker opportunity's forecast walks the books too


MANUAL = AllocationDecision("Rebalance", "Manual", "rebalance now: by hand")


def test_rebalance_now_approval_time_counts_from_its_plans_proposal_not_from_the_wait_behind_another() -> None:
    behind = requests.settle("v1", None, requests.CycleFacts(MANUAL, None, True, None, None), NOW, 600)
    assert behind.state == "Pending"
    later = NOW + timedelta(minutes=20)  # the plan in flight finished; the request's own plan is proposed now
    proposed = requests.settle("v1", behind, requests.CycleFacts(MANUAL, GateVerdict(True), False, None, "p2"),
                               later, 600)
    assert (proposed.state, proposed.at) == ("Pending", later)
    still = requests.settle("v1", proposed, requests.CycleFacts(MANUAL, GateVerdict(True), False, None, "p2"),
                            later + timedelta(seconds=599), 600)
    assert still.state == "Pending"
    expired = requests.settle("v1", still, requests.CycleFacts(MANUAL, GateVerdict(True), False, None, "p2"),
                              later + timedelta(seconds=600), 600)
    assert expired.state == "Refused" and "not approved within 600 s" in expired.message


def test_a_pending_request_whose_annotation_is_removed_is_withdrawn() -> None:
    pending = RebalanceNowStatus(value="v1", state="Pending", at=NOW, message="plan p awaits approval")
    gone = requests.withdrawn(None, pending, NOW + timedelta(minutes=1))
    assert gone is not None and (gone.value, gone.state) == ("v1", "Withdrawn")
    assert requests.withdrawn("v2", pending, NOW) is not None  # replaced by another value: the old one is withdrawn
    assert requests.withdrawn("v1", pending, NOW) is None  # still asked for
    assert requests.withdrawn(None, pending.model_copy(update={"state": "Done"}), NOW) is None  # settled: kept


@pytest.mark.parametrize(("body", "field"), [
    ({"schedule": {"cron": "0 0 31 2 *"}}, "never fires"),
    ({"schedule": {"dynamic": {"regimes": [{"minVolatilityRatio": 0, "cron": "0 0 30 2 *"}]}}}, "never fires"),
    ({"schedule": {"dynamic": {"regimes": [{"minVolatilityRatio": "0.4", "cron": "0 0 * * 1"}]}}}, "must be 0"),
    ({"schedule": {"dynamic": {"regimes": [{"minVolatilityRatio": 0, "cron": "0 0 1 * *"},
                                           {"minVolatilityRatio": "0.4", "cron": "0 0 * * 1"},
                                           {"minVolatilityRatio": "0.4", "cron": "0 0 * * *"}]}}}, "strictly increase"),
    ({"schedule": {"dynamic": {"window": {"candles": 300}}}}, "less than or equal to 299"),
])
def test_the_policy_refuses_schedules_that_cannot_be_followed(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RebalancePolicySpec.model_validate(body)
    assert RebalancePolicySpec.model_validate({"schedule": {"dynamic": {"window": {"candles": 299}}}})
    assert RebalancePolicySpec.model_validate({"schedule": {"cron": "0 0 29 2 *"}})  # leap days do come


def test_a_schedule_whose_cron_never_fires_raises_a_named_error() -> None:
    with pytest.raises(ScheduleNeverFires, match="0 0 31 2"):
        view("0 0 31 2 *", "policy schedule", None, ScheduleMemory(), None, NOW, 3600)


@pytest.mark.parametrize("objective", [{"weighting": "RiskParity"}, {"weightingWindow": {"candles": 60}}])
def test_a_hedge_book_refuses_the_allocation_weighting(objective: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="objective Allocation only"):
        Objective.model_validate({"type": "Hedge", **objective})
    Objective.model_validate({"type": "Hedge", "weighting": "Static", "weightingWindow": {}})  # the defaults


DYNAMIC = RebalancePolicySpec.model_validate({"schedule": {"dynamic": {"window": {"timeframe": "1d", "candles": 5}}}})
BOOK = {"BTC": D("0.9"), "USDT": D("0.1")}
BUSY = [D(110), D(100), D(100), D(100), D("100.5")]  # about 83 % a year: the daily row
CALM = [D(100), D(100), D(100), D("100.5"), D("100.6")]  # about 4 %: the quarterly row
SINCE = datetime(2025, 3, 9, 23, 0, tzinfo=UTC)  # the book started on Sunday night
SUNDAY = datetime(2025, 3, 9, 23, 10, tzinfo=UTC)
MONDAY = datetime(2025, 3, 10, 0, 5, tzinfo=UTC)  # the daily candle that closed at 00:00 changed the row


def test_an_announced_dynamic_fire_is_kept_when_the_row_changes_at_its_own_time() -> None:
    before = schedule_of(DYNAMIC, BOOK, {"BTC": BUSY}, ScheduleMemory(SINCE), None, SUNDAY)
    assert before is not None and before.notice and before.next_at == datetime(2025, 3, 10, tzinfo=UTC)
    noticed = ScheduleMemory(SINCE, None, before.next_at)
    at_fire = schedule_of(DYNAMIC, BOOK, {"BTC": CALM}, noticed, None, MONDAY)
    assert at_fire is not None and at_fire.cron == "0 0 1 1,4,7,10 *"  # calm now: quarterly from here on
    assert at_fire.due == before.next_at  # but the fire announced happens
    early = schedule_of(DYNAMIC, BOOK, {"BTC": CALM}, noticed, None, SUNDAY + timedelta(minutes=20))
    assert early is not None and early.next_at == before.next_at and early.due is None and not early.notice


def test_an_unannounced_dynamic_fire_is_announced_before_it_runs() -> None:
    before = schedule_of(DYNAMIC, BOOK, {"BTC": CALM}, ScheduleMemory(SINCE), None, SUNDAY)
    assert before is not None and not before.notice  # quarterly: nothing to announce on Sunday night
    busy = {"BTC": [*BUSY[1:], D(110)]}
    after = schedule_of(DYNAMIC, BOOK, busy, ScheduleMemory(SINCE), None, MONDAY)
    midnight = datetime(2025, 3, 10, tzinfo=UTC)
    assert after is not None and after.cron == "0 0 * * *" and after.due is None  # 00:00 was never announced
    assert after.notice and after.next_at == midnight and "announced late" in after.why
    announced = ScheduleMemory(SINCE, None, midnight)
    again = schedule_of(DYNAMIC, BOOK, busy, announced, None, MONDAY)
    assert again is not None and again.due == midnight and not again.notice  # the next look runs it


def test_an_announced_fire_the_policys_new_cron_does_not_have_is_moved() -> None:
    weekly = RebalancePolicySpec.model_validate({"schedule": {"cron": "0 0 * * 1"}})
    monday = datetime(2025, 3, 10, tzinfo=UTC)
    noticed = ScheduleMemory(SINCE, None, monday)
    kept = schedule_of(weekly, BOOK, None, noticed, None, SUNDAY)
    assert kept is not None and kept.moved is None and kept.next_at == monday
    edited = RebalancePolicySpec.model_validate({"schedule": {"cron": "0 0 * * 2"}})
    moved = schedule_of(edited, BOOK, None, noticed, None, SUNDAY)
    assert moved is not None and moved.moved == monday and moved.next_at == datetime(2025, 3, 11, tzinfo=UTC)


def test_unknown_volatility_takes_the_busiest_row_and_says_so() -> None:
    assert DYNAMIC.schedule is not None and DYNAMIC.schedule.dynamic is not None
    cron, why = regime_cron(DYNAMIC.schedule.dynamic, None)
    assert cron == "0 0 * * *" and "unknown" in why and "busiest" in why  # the seed table's daily row
    inverted = DynamicSchedule.model_validate({"regimes": [{"minVolatilityRatio": 0, "cron": "0 * * * *"},
                                                           {"minVolatilityRatio": "0.5", "cron": "0 0 * * 1"}]})
    assert regime_cron(inverted, None)[0] == "0 * * * *"  # the busiest, wherever it sits in the table
    view_ = schedule_of(DYNAMIC, BOOK, {"BTC": [D(100), D(101)]}, ScheduleMemory(SINCE), None, SUNDAY)
    assert view_ is not None and view_.volatility is None and view_.cron == "0 0 * * *"


def _constant_correlation(vols: list[float], rho: float) -> tuple[dict[tuple[str, str], float], list[str]]:
    assets = [f"A{i}" for i in range(len(vols))]
    return {(a, b): vols[i] * vols[j] * (1.0 if i == j else rho) for i, a in enumerate(assets)
            for j, b in enumerate(assets)}, assets


def test_risk_parity_meets_its_tolerance_on_strongly_negatively_correlated_assets() -> None:
    """Independent solution: under one common correlation, equal risk contributions are w ∝ 1/σ (Maillard,
    Roncalli and Teiletche 2010). At ρ = −0.333 (the limit for four assets is −1/3) 300 sweeps were 9e-5 off."""
    vols = [0.02, 0.03, 0.04, 0.05]
    cov, assets = _constant_correlation(vols, -0.333)
    solved = solve_risk_parity(cov, assets)
    inverse = [1 / v for v in vols]
    assert solved.converged
    assert max(abs(solved.weights[a] - inverse[i] / sum(inverse)) for i, a in enumerate(assets)) < 1e-9
    closer, _ = _constant_correlation(vols, -0.3333)
    slow = solve_risk_parity(closer, assets)
    assert not slow.converged and slow.sweeps == MAX_SWEEPS  # capped, and says so


def test_a_risk_parity_that_did_not_converge_says_so_in_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weighting, "MAX_SWEEPS", 1)
    closes = {"BTC": [D(100), D(103), D(99), D(104), D(101)], "ETH": [D(10), D("9.6"), D("10.5"), D("9.9"), D(10)]}
    out = weigh({"BTC": D("0.5"), "ETH": D("0.5")}, "USDT", Weighting.RISK_PARITY, closes, "1d")
    assert all("NOT converged" in out[a].reason for a in ("BTC", "ETH"))


def _candles(closes: dict[int, str]) -> list[Candle]:
    """Daily candles of March 2025 by day of the month (synthetic closes: only their alignment matters)."""
    return [Candle(datetime(2025, 3, d, tzinfo=UTC), D(c), D(c), D(c), D(c), D(1)) for d, c in sorted(closes.items())]


def test_returns_are_paired_by_time_not_by_position() -> None:
    # BTC's venue has closed the 5th already; ETH's has not, and ETH misses the 2nd.
    btc = _candles({1: "100", 2: "110", 3: "99", 4: "105", 5: "120"})
    eth = _candles({1: "10", 3: "11", 4: "10.5"})
    closes = aligned_closes({"BTC": btc, "ETH": eth})
    assert closes == {"BTC": (D(100), D(99), D(105)), "ETH": (D(10), D(11), D("10.5"))}
    cov = sample_covariance({a: log_returns(c) for a, c in closes.items()})
    by_hand = [math.log(99 / 100), math.log(105 / 99)], [math.log(11 / 10), math.log(10.5 / 11)]
    mean = [sum(x) / 2 for x in by_hand]
    expected = sum((by_hand[0][i] - mean[0]) * (by_hand[1][i] - mean[1]) for i in range(2))
    assert cov is not None and cov[("BTC", "ETH")] == pytest.approx(expected, rel=1e-12)

"""Seed 002's pure parts: the weighting (inverse volatility, risk parity under a covariance), the estimator, the
presets a policy resolves to, the schedule's fire and notice, a rebalance-now request's states, and the
opportunity and manual reasons in the allocation step."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.api.allocation import RebalanceNowStatus, Weighting
from hedgeops.api.policy import RebalancePolicySpec
from hedgeops.engine.allocation import requests
from hedgeops.engine.allocation.presets import drift_ratio, static_cron
from hedgeops.engine.allocation.schedule import ScheduleMemory, schedule_of
from hedgeops.engine.allocation.step import AllocationMemory, step
from hedgeops.engine.allocation.weighting import risk_parity, weigh
from hedgeops.engine.allocation.weights import AllocationDecision
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.common.volatility_estimators import annualise, log_returns, sample_covariance
from hedgeops.engine.hedge.gate import DayUsage, GateVerdict

from .test_engine_allocation_step import BOOKS, observe

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


# ---- risk parity and the estimator ----------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.1, 2.0), min_size=2, max_size=5), st.floats(-0.5, 0.9))
def test_risk_parity_equalises_risk_contributions(vols: list[float], rho: float) -> None:
    assets = [f"A{i}" for i in range(len(vols))]
    cov = {(a, b): vols[i] * vols[j] * (1.0 if i == j else rho) for i, a in enumerate(assets)
           for j, b in enumerate(assets)}
    if rho <= -1 / (len(vols) - 1) + 0.05:  # not (or barely) positive definite: no covariance of real assets
        return
    w = risk_parity(cov, assets)
    assert math.fsum(w.values()) == pytest.approx(1.0) and all(x > 0 for x in w.values())
    rc = [w[a] * math.fsum(cov[(a, b)] * w[b] for b in assets) for a in assets]
    assert max(rc) == pytest.approx(min(rc), rel=1e-6)


def test_uncorrelated_risk_parity_is_inverse_volatility() -> None:
    cov = {("A", "A"): 0.04, ("B", "B"): 0.01, ("A", "B"): 0.0, ("B", "A"): 0.0}
    w = risk_parity(cov, ["A", "B"])
    assert w["B"] == pytest.approx(2 * w["A"])  # σ 0.1 against 0.2


def test_the_estimator_is_the_sample_standard_deviation_of_log_returns_annualised() -> None:
    closes = [D(100), D(110), D(99), D(99)]
    r = log_returns(closes)
    assert r == pytest.approx([math.log(1.1), math.log(0.9), 0.0])
    cov = sample_covariance({"X": r})
    assert cov is not None
    mean = sum(r) / 3
    assert cov[("X", "X")] == pytest.approx(sum((x - mean) ** 2 for x in r) / 2)
    assert annualise(cov[("X", "X")], "1d") == D(repr(math.sqrt(cov[("X", "X")] * 365))).quantize(D("1e-8"))
    assert annualise(cov[("X", "X")], "4h") > annualise(cov[("X", "X")], "1d")  # six candles a day
    assert sample_covariance({"X": r[:1]}) is None  # one return is no sample variance


def test_weights_keep_the_cash_and_zero_targets_and_sum_exactly() -> None:
    # Daily closes 2025-01-31 → 2025-02-06: the close of each day's last 5-minute bar (23:55 UTC) in the bundled
    # data/binance_spot_{BTC,ETH}_USDT_5m.csv.gz.
    closes = {"BTC": [D(v) for v in ("102429.56", "100635.65", "97700.59", "101328.52", "97763.13", "96612.43",
                                     "96554.35")],
              "ETH": [D(v) for v in ("3300.99", "3117.54", "2869.68", "2879.9", "2731.19", "2788.25", "2686.64")]}
    targets = {"BTC": D("0.5"), "ETH": D("0.2"), "SOL": D(0), "USDT": D("0.3")}
    for weighting in (Weighting.INVERSE_VOLATILITY, Weighting.RISK_PARITY):
        out = weigh(targets, "USDT", weighting, closes, "1d")
        assert sum(t.weight for t in out.values()) == 1
        assert out["USDT"].weight == D("0.3") and out["SOL"].weight == 0
        assert out["BTC"].weight > out["ETH"].weight  # BTC moved less that week
        assert out["BTC"].volatility is not None and out["BTC"].volatility < out["ETH"].volatility  # type: ignore[operator]
    flat = {"BTC": closes["BTC"], "ETH": [closes["ETH"][-1]] * 7}  # a price that never moved: no σ to divide by
    held = weigh(targets, "USDT", Weighting.RISK_PARITY, flat, "1d")
    assert {a: t.weight for a, t in held.items()} == targets and "no price movement" in held["BTC"].reason


# ---- presets and the schedule ---------------------------------------------------------------------------------

def test_presets_fill_only_what_the_policy_leaves_unset() -> None:
    vault = RebalancePolicySpec.model_validate({"allocation": {"preset": "StablecoinVault"}})
    assert (drift_ratio(vault.allocation), static_cron(vault)) == (D("0.10"), "0 0 * * 1")
    own = RebalancePolicySpec.model_validate({"allocation": {"preset": "StablecoinVault", "driftRatio": "0.02"},
                                              "schedule": {"cron": "0 12 * * *"}})
    assert (drift_ratio(own.allocation), static_cron(own)) == (D("0.02"), "0 12 * * *")
    dynamic = RebalancePolicySpec.model_validate({"allocation": {"preset": "IndexFund"}, "schedule": {"dynamic": {}}})
    assert static_cron(dynamic) is None  # the dynamic table replaces the preset's calendar
    assert (drift_ratio(RebalancePolicySpec().allocation), static_cron(RebalancePolicySpec())) == (D("0.05"), None)
    with pytest.raises(ValueError, match="schedule: needs cron or dynamic"):
        RebalancePolicySpec.model_validate({"schedule": {"noticeSeconds": 60}})
    with pytest.raises(ValueError, match="set cron or dynamic, not both"):
        RebalancePolicySpec.model_validate({"schedule": {"cron": "0 0 * * *", "dynamic": {}}})


def test_a_new_book_waits_for_the_first_fire_and_each_fire_is_noticed_once() -> None:
    pol = RebalancePolicySpec.model_validate({"allocation": {"preset": "IndexFund"},
                                              "schedule": {"noticeSeconds": 7200}})
    t0 = datetime(2025, 5, 31, 21, 0, tzinfo=UTC)
    first = schedule_of(pol, {}, None, ScheduleMemory(), None, t0)
    assert first is not None and first.due is None and first.next_at == datetime(2025, 6, 1, tzinfo=UTC)
    assert not first.notice  # three hours ahead, the notice is two
    memory = ScheduleMemory(since=t0)
    near = schedule_of(pol, {}, None, memory, None, t0 + timedelta(hours=1, minutes=5))
    assert near is not None and near.notice
    again = schedule_of(pol, {}, None, replace(memory, noticed_for=near.next_at), None, t0 + timedelta(hours=2))
    assert again is not None and not again.notice
    fired = schedule_of(pol, {}, None, memory, None, t0 + timedelta(hours=3))
    assert fired is not None and fired.due == datetime(2025, 6, 1, tzinfo=UTC)
    done = schedule_of(pol, {}, None, replace(memory, last_fired_at=fired.due), None, t0 + timedelta(hours=4))
    assert done is not None and done.due is None
    rebalanced_since = schedule_of(pol, {}, None, memory, datetime(2025, 6, 1, 0, 30, tzinfo=UTC),
                                   t0 + timedelta(hours=4))
    assert rebalanced_since is not None and rebalanced_since.due is None


# ---- rebalance now and the opportunity in the step ------------------------------------------------------------

def facts(**kw: object) -> requests.CycleFacts:
    base = requests.CycleFacts(AllocationDecision("Rebalance", "Manual", "m"), GateVerdict(True), False, None, None)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_request_is_done_refused_or_pending_and_one_value_is_acted_on_once() -> None:
    assert requests.settle("v", None, facts(started="p1"), NOW, 3600).state == "Done"
    refused = requests.settle("v", None, facts(verdict=GateVerdict(False, "DailyLimit", "4 a day")), NOW, 3600)
    assert (refused.state, refused.message) == ("Refused", "DailyLimit: 4 a day")
    waiting = requests.settle("v", None, facts(awaiting="p1"), NOW, 3600)
    assert waiting.state == "Pending"
    later = requests.settle("v", waiting, facts(awaiting="p1"), NOW + timedelta(seconds=3600), 3600)
    assert later.state == "Refused" and "not approved within 3600 s" in later.message
    assert requests.outstanding("v", None) and requests.outstanding("v", waiting)
    assert not requests.outstanding("v", RebalanceNowStatus(value="v", state="Done", at=NOW))
    assert requests.outstanding("w", RebalanceNowStatus(value="v", state="Done", at=NOW))


def test_the_step_rebalances_on_request_and_on_a_cheap_opportunity() -> None:
    at_target = observe({"BTC": "0.8", "ETH": "12", "USDT": "30000"}, books=BOOKS)
    pol = RebalancePolicySpec.model_validate({"execution": {"normal": "Taker"},
                                              "allocation": {"opportunity": {"minDriftFraction": "0.5"}}})
    memory = AllocationMemory(None, DayUsage(0, D(0)), 0)
    assert step(at_target, pol, memory, Controls(), NOW).decision.reason == "WithinBands"
    asked = step(at_target, pol, replace(memory, rebalance_now="by hand"), Controls(), NOW)
    assert asked.decision.reason == "Manual" and asked.verdict is not None and asked.verdict.reason == "NothingToTrade"
    drifted = observe({"BTC": "0.86", "ETH": "11.2", "USDT": "30000"}, books=BOOKS)  # BTC +2.7 points of 5
    out = step(drifted, pol, memory, Controls(), NOW)
    assert out.decision.reason == "Opportunity" and out.alloc is not None and out.plan is not None
    assert out.alloc.traded_cost_ratio <= D("0.0015")
    dear = pol.model_copy(update={"allocation": pol.allocation.model_copy(update={
        "opportunity": pol.allocation.opportunity.model_copy(update={"maxCostRatio": D("0.0001")})})})  # type: ignore[union-attr]
    held = step(drifted, dear, memory, Controls(), NOW)
    assert held.decision.reason == "WithinBands" and held.plan is None

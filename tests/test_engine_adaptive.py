"""Volatility-scaled bands, band-edge planning with the total band, and emergencies back to target."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.api.policy import AssetBand, Preset, RebalancePolicySpec, RebalanceTo, VolatilityBands
from hedgeops.engine.hedge.bands import adapt_thresholds, resolve_rebalance_to, resolve_thresholds
from hedgeops.engine.hedge.decision import decide_book
from hedgeops.engine.hedge.planner import plan_rebalance
from hedgeops.engine.hedge.triggers import Reason, TriggerDecision, Urgency
from hedgeops.engine.hedge.volatility import DeviationVolatility, update_volatility

from .engine_fixtures import NOW, SEED_MIN, exposure, inputs

D = Decimal
PRICES = {"SOL": D("150.00"), "ETH": D("3000.00"), "BTC": D("100000.0")}


def test_volatility_estimate_follows_the_drift_of_the_target() -> None:
    v = update_volatility(None, D("-100"), NOW, 3600)
    assert v.variance_per_hour is None  # one observation says nothing yet
    v = update_volatility(v, D("-101"), NOW + timedelta(minutes=5), 3600)  # 1% in 5 minutes
    assert v.variance_per_hour == D("0.0012")  # 0.01² × 12 per hour
    calm = v
    for i in range(1, 50):  # the target stops moving: the estimate decays with the half-life
        calm = update_volatility(calm, D("-101"), NOW + timedelta(minutes=5 + 5 * i), 3600)
    assert calm.variance_per_hour is not None and calm.variance_per_hour < v.variance_per_hour / 8
    # A sign change or a flat target carries no information: the estimate is kept.
    flipped = update_volatility(v, D("50"), NOW + timedelta(minutes=10), 3600)
    assert flipped.variance_per_hour == v.variance_per_hour and flipped.last_target_qty == D("50")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.decimals(min_value=D("-0.05"), max_value=D("0.05"), places=4), min_size=2, max_size=30))
def test_volatility_is_never_negative_and_deterministic(changes: list[Decimal]) -> None:
    def run() -> DeviationVolatility | None:
        v, qty = None, D("-100")
        for i, c in enumerate(changes):
            qty = qty * (1 + c)
            v = update_volatility(v, qty, NOW + timedelta(minutes=5 * i), 7200)
        return v
    a, b = run(), run()
    assert a == b
    assert a is not None and (a.variance_per_hour is None or a.variance_per_hour >= 0)


def test_bands_scale_with_volatility_clamped_and_never_below_the_minimum_order() -> None:
    e = exposure({"SOL": ("150", "100", "-100"), "BTC": ("100000", "0.024", "-0.024")})
    scaling = VolatilityBands(multiplier=D("2"), minRatio=D("0.002"), maxRatio=D("0.03"))
    base = resolve_thresholds(RebalancePolicySpec())
    vols = {"SOL": DeviationVolatility(D("0.000009"), D("-100"), NOW),  # 0.3%/h → band 0.6%
            "BTC": DeviationVolatility(D("0.000001"), D("-0.024"), NOW)}  # 0.1%/h → 0.2%, but min order wins
    t = adapt_thresholds(base, e, volatility=vols, scaling=scaling, min_order=SEED_MIN, band_edge=True)
    assert t.band_for("SOL").ratio == D("0.006")
    # BTC: 0.0005 BTC at 100k is $50 of a $2,400 target: nothing smaller could be traded.
    assert t.band_for("BTC").ratio == D("0.0005") * 100000 / D("2400")
    wild = {"SOL": DeviationVolatility(D("0.01"), D("-100"), NOW)}  # 10%/h → clamped to 3%
    assert adapt_thresholds(base, e, volatility=wild, scaling=scaling, min_order={},
                            band_edge=True).band_for("SOL").ratio == D("0.03")
    # An explicit per-asset override is the user's word: it is not scaled.
    over = adapt_thresholds(base, e, volatility=vols, scaling=scaling, min_order={}, band_edge=True,
                            overridden=frozenset({"SOL"}))
    assert over.band_for("SOL").ratio == base.asset.ratio


def test_adaptive_is_the_default_and_trades_to_the_band_edge() -> None:
    spec = RebalancePolicySpec()
    assert spec.preset is Preset.ADAPTIVE and resolve_rebalance_to(spec) is RebalanceTo.BAND_EDGE
    assert resolve_rebalance_to(RebalancePolicySpec(preset=Preset.COMPACT)) is RebalanceTo.TARGET
    e = exposure({"SOL": ("150", "100", "-97")})  # 3% out; adaptive fallback band 1% until vol is known
    first = decide_book(e, spec, NOW, None, {}, SEED_MIN)
    assert first.decision.urgency is Urgency.NORMAL and first.thresholds.band_for("SOL").ratio == D("0.01")
    assert first.volatility["SOL"].variance_per_hour is None
    later = decide_book(e, spec, NOW + timedelta(minutes=5), None, first.volatility, SEED_MIN)
    assert later.volatility["SOL"].at == NOW + timedelta(minutes=5)


def test_band_edge_with_total_out_of_band_brings_the_total_back_too() -> None:
    policy = RebalancePolicySpec(preset=Preset.COMPACT, rebalanceTo=RebalanceTo.BAND_EDGE, minOrder=SEED_MIN)
    # Each asset 1.8% out (inside its 2% band), total 1.8% > 1.5%.
    e = exposure({"SOL": ("150", "100", "-98.2"), "ETH": ("3000", "10", "-9.82")})
    decision = TriggerDecision(Urgency.NORMAL, (Reason("TotalDeviation", "total"),))
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=decision, inputs=inputs(PRICES, policy))
    after = {o.asset: o.signed_amount for o in plan.orders}
    e2 = exposure({"SOL": ("150", "100", str(D("-98.2") + after.get("SOL", 0))),
                   "ETH": ("3000", "10", str(D("-9.82") + after.get("ETH", 0)))})
    assert e2.total_deviation <= D("0.015")
    assert e2.total_deviation > D("0.01")  # only back to the band, not to zero


def test_emergency_goes_all_the_way_back_even_with_band_edge() -> None:
    policy = RebalancePolicySpec(preset=Preset.COMPACT, rebalanceTo=RebalanceTo.BAND_EDGE, minOrder=SEED_MIN,
                                 assetOverrides={"SOL": AssetBand(ratio=D("0.02"), emergencyRatio=D("0.05"))})
    e = exposure({"SOL": ("150", "100", "-93")})  # 7% out
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=TriggerDecision(Urgency.EMERGENCY),
                          inputs=inputs(PRICES, policy))
    assert plan.orders[0].amount == D("7.00")

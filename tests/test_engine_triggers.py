"""The seed 000 trigger table: emergency, normal, time + deviation, nothing; presets and overrides."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hedgeops.api.policy import AssetBand, Preset, RebalancePolicySpec, Thresholds
from hedgeops.engine.hedge.alerts import persisting_deviation
from hedgeops.engine.hedge.bands import resolve_thresholds
from hedgeops.engine.hedge.triggers import Urgency, decide

from .engine_fixtures import NOW, exposure

D = Decimal
COMPACT = resolve_thresholds(RebalancePolicySpec(preset=Preset.COMPACT))
RECENT = NOW - timedelta(minutes=10)


def test_single_asset_total_equals_asset() -> None:
    # With one asset the total equals the asset, so 1.9% (inside the 2% asset band) breaches the 1.5% total.
    d = decide(exposure({"SOL": ("100", "100", "-98.1")}), COMPACT, NOW, RECENT)
    assert d.urgency is Urgency.NORMAL and d.primary is not None and d.primary.code == "TotalDeviation"


def test_compact_table() -> None:
    # Two assets so the total and per-asset bands can be told apart.
    cases = [
        # (SOL hedge, ETH hedge) → (urgency, first reason)
        (("-99.0", "-10"), Urgency.NONE, None),  # SOL 1%, total ~0.91%: inside
        (("-97.9", "-10"), Urgency.NORMAL, "AssetDeviation"),  # SOL 2.1% > 2%
        (("-94.9", "-10"), Urgency.EMERGENCY, "EmergencyAssetDeviation"),  # SOL 5.1% > 5%
    ]
    for (sol, eth), urgency, code in cases:
        e = exposure({"SOL": ("100", "100", sol), "ETH": ("100", "10", eth)})
        d = decide(e, COMPACT, NOW, RECENT)
        assert d.urgency is urgency, (sol, eth, d)
        assert (d.primary.code if d.primary else None) == code


def test_total_band_breached_while_each_asset_inside() -> None:
    # SOL 1.8% and ETH 1.8% (each < 2%) → total 1.8% > 1.5%.
    e = exposure({"SOL": ("100", "100", "-98.2"), "ETH": ("100", "100", "-98.2")})
    d = decide(e, COMPACT, NOW, RECENT)
    assert d.urgency is Urgency.NORMAL and d.primary is not None and d.primary.code == "TotalDeviation"


def test_total_emergency() -> None:
    e = exposure({"SOL": ("100", "100", "-96.5"), "ETH": ("100", "100", "-96.5")})  # 3.5% each, < 5%
    d = decide(e, COMPACT, NOW, RECENT)
    assert d.urgency is Urgency.EMERGENCY
    assert [r.code for r in d.reasons] == ["EmergencyTotalDeviation", "AssetDeviation", "AssetDeviation"]
    assert "emergency rebalance" in d.reasons[0].message


def test_time_plus_deviation() -> None:
    e = exposure({"SOL": ("100", "100", "-98.8"), "ETH": ("100", "1000", "-1000")})  # SOL 1.2%, total ~0.1%
    assert decide(e, COMPACT, NOW, NOW - timedelta(minutes=59)).urgency is Urgency.NONE
    d = decide(e, COMPACT, NOW, NOW - timedelta(minutes=61))
    assert d.urgency is Urgency.NORMAL and d.primary is not None and d.primary.code == "StaleDeviation"
    quiet = exposure({"SOL": ("100", "100", "-99.1"), "ETH": ("100", "1000", "-1000")})  # 0.9% < 1%
    assert decide(quiet, COMPACT, NOW, NOW - timedelta(hours=5)).urgency is Urgency.NONE


def test_per_asset_overrides_from_the_seed() -> None:
    spec = RebalancePolicySpec(preset=Preset.COMPACT,
                               assetOverrides={"SOL": AssetBand(ratio=D("0.015"), emergencyRatio=D("0.04")),
                                               "ETH": AssetBand(ratio=D("0.025"), emergencyRatio=D("0.06"))})
    t = resolve_thresholds(spec)
    big_other = ("100", "10000", "-10000")  # a large, perfectly hedged asset keeps the total low
    sol = decide(exposure({"SOL": ("100", "100", "-98.3"), "BTC": big_other}), t, NOW, RECENT)
    assert sol.urgency is Urgency.NORMAL  # 1.7% > SOL's 1.5%
    eth = decide(exposure({"ETH": ("100", "100", "-97.7"), "BTC": big_other}), t, NOW, RECENT)
    assert eth.urgency is Urgency.NONE  # 2.3% < ETH's 2.5%
    sol_e = decide(exposure({"SOL": ("100", "100", "-95.8"), "BTC": big_other}), t, NOW, RECENT)
    assert sol_e.urgency is Urgency.EMERGENCY  # 4.2% > SOL's 4%


def test_presets_and_explicit_overrides() -> None:
    loose = resolve_thresholds(RebalancePolicySpec(preset=Preset.LOOSE))
    assert (loose.asset.ratio, loose.total.ratio, loose.asset.emergency_ratio, loose.total.emergency_ratio) == (
        D("0.05"), D("0.03"), D("0.10"), D("0.08"))
    mixed = resolve_thresholds(RebalancePolicySpec(preset=Preset.LOOSE, thresholds=Thresholds(totalRatio=D("0.01"))))
    assert mixed.total.ratio == D("0.01") and mixed.asset.ratio == D("0.05")
    assert resolve_thresholds(RebalancePolicySpec(preset=Preset.BALANCED)).asset.ratio == D("0.10")


def test_deviation_persisting_alert() -> None:
    high = exposure({"SOL": ("100", "100", "-97.5")})  # 2.5% > 2%
    first = persisting_deviation(high, D("0.02"), 600, NOW, None)
    assert first.high_since == NOW and first.alert is None
    later = persisting_deviation(high, D("0.02"), 600, NOW + timedelta(minutes=11), first.high_since)
    assert later.alert is not None and later.alert.code == "HighDeviationPersists"
    cleared = persisting_deviation(exposure({"SOL": ("100", "100", "-99.5")}), D("0.02"), 600, NOW, NOW)
    assert cleared == type(cleared)(None, None)


# The same untradeable rule for every policy (issue 16): a reason no order could act on does not fire.
MINIMUMS = {"SOL": D("0.05"), "BTC": D("0.0005")}


def test_asset_beyond_band_but_below_its_minimum_order_is_held_back_not_fired() -> None:
    # BTC 2.5% out on a 0.01 BTC leg is 0.00025 BTC: half the 0.0005 minimum. SOL is inside.
    e = exposure({"SOL": ("100", "100", "-99.5"), "BTC": ("60000", "0.01", "-0.00975")})
    d = decide(e, COMPACT, NOW, RECENT, MINIMUMS)
    assert d.urgency is Urgency.NONE
    assert [(r.code, r.asset) for r in d.untradeable] == [("AssetDeviation", "BTC")]
    # Without minimums (the old reading) the same book fires and a plan would trade only SOL.
    assert decide(e, COMPACT, NOW, RECENT).urgency is Urgency.NORMAL


def test_stale_trigger_reads_the_worst_tradeable_asset_or_the_total() -> None:
    # SOL 1.2% (tradeable: 1.2 units) and BTC 1.9% (0.00019 BTC, below its minimum); an hour and more since.
    e = exposure({"SOL": ("100", "100", "-98.8"), "BTC": ("60000", "0.01", "-0.00981")})
    old = NOW - timedelta(hours=2)
    d = decide(e, COMPACT, NOW, old, MINIMUMS)
    assert d.urgency is Urgency.NORMAL and d.primary is not None
    assert (d.primary.code, d.primary.asset) == ("StaleDeviation", "SOL")
    # Read on the total (≈1.2%), the same trigger fires on the total.
    total = resolve_thresholds(RebalancePolicySpec(preset=Preset.COMPACT, thresholds=Thresholds(staleBasis="Total")))
    t = decide(e, total, NOW, old, MINIMUMS)
    assert t.primary is not None and (t.primary.code, t.primary.asset) == ("StaleDeviation", None)
    # Only BTC out (1.9%), and untradeable: held back, and reported as such.
    only_btc = exposure({"SOL": ("100", "100", "-100"), "BTC": ("60000", "0.01", "-0.00981")})
    held = decide(only_btc, COMPACT, NOW, old, MINIMUMS)
    assert held.urgency is Urgency.NONE and [(r.code, r.asset) for r in held.untradeable] == [("StaleDeviation", "BTC")]
    assert decide(only_btc, COMPACT, NOW, old).urgency is Urgency.NORMAL  # the old reading fired for nothing


def test_emergencies_fire_even_when_untradeable() -> None:
    e = exposure({"BTC": ("60000", "0.01", "-0.0096")})  # 4%... on one asset the total is 4% > 3%
    d = decide(e, COMPACT, NOW, RECENT, MINIMUMS)
    assert d.urgency is Urgency.EMERGENCY

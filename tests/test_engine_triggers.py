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

"""Thresholds a policy resolves to: presets from the seeds, overridden field by field."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hedgeops.api.policy import Preset, RebalancePolicySpec

D = Decimal


@dataclass(frozen=True)
class Band:
    """Normal and emergency |deviation| limits."""

    ratio: Decimal
    emergency_ratio: Decimal


@dataclass(frozen=True)
class Thresholds:
    """Everything the trigger needs, resolved."""

    asset: Band
    total: Band
    stale_after_seconds: int
    stale_ratio: Decimal
    per_asset: tuple[tuple[str, Band], ...] = field(default=())

    def band_for(self, asset: str) -> Band:
        return next((band for name, band in self.per_asset if name == asset), self.asset)


# Seed 000 gives Compact and Loose exactly. Seed 001's presets are one delta threshold each; HedgeOps
# reads them as per-asset and total ratios with emergency at twice the threshold.
PRESETS: dict[Preset, Thresholds] = {
    Preset.COMPACT: Thresholds(Band(D("0.02"), D("0.05")), Band(D("0.015"), D("0.03")), 3600, D("0.01")),
    Preset.LOOSE: Thresholds(Band(D("0.05"), D("0.10")), Band(D("0.03"), D("0.08")), 0, D("0.03")),
    Preset.AGGRESSIVE: Thresholds(Band(D("0.05"), D("0.10")), Band(D("0.05"), D("0.10")), 0, D("0.05")),
    Preset.BALANCED: Thresholds(Band(D("0.10"), D("0.20")), Band(D("0.10"), D("0.20")), 0, D("0.10")),
    Preset.CONSERVATIVE: Thresholds(Band(D("0.15"), D("0.30")), Band(D("0.15"), D("0.30")), 0, D("0.15")),
    Preset.CUSTOM: Thresholds(Band(D("0.02"), D("0.05")), Band(D("0.015"), D("0.03")), 3600, D("0.01")),
}


def resolve_thresholds(spec: RebalancePolicySpec) -> Thresholds:
    """The preset's thresholds with every explicitly set field and per-asset override applied."""
    base = PRESETS[spec.preset]
    t = spec.thresholds
    asset = Band(
        t.assetRatio if t.assetRatio is not None else base.asset.ratio,
        t.emergencyAssetRatio if t.emergencyAssetRatio is not None else base.asset.emergency_ratio,
    )
    total = Band(
        t.totalRatio if t.totalRatio is not None else base.total.ratio,
        t.emergencyTotalRatio if t.emergencyTotalRatio is not None else base.total.emergency_ratio,
    )
    return Thresholds(
        asset=asset,
        total=total,
        stale_after_seconds=t.staleAfterSeconds if t.staleAfterSeconds is not None else base.stale_after_seconds,
        stale_ratio=t.staleRatio if t.staleRatio is not None else base.stale_ratio,
        per_asset=tuple(
            (name, Band(b.ratio, b.emergencyRatio)) for name, b in sorted(spec.assetOverrides.items())
        ),
    )

"""Thresholds a policy resolves to: presets from the seeds, overridden field by field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from hedgeops.api.policy import Preset, RebalancePolicySpec, RebalanceTo, StaleBasis, VolatilityBands
from hedgeops.engine.hedge.exposure import BookExposure
from hedgeops.engine.hedge.volatility import DeviationVolatility

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
    stale_on_total: bool = False  # the time trigger reads the total deviation, not the worst asset's

    def band_for(self, asset: str) -> Band:
        return next((band for name, band in self.per_asset if name == asset), self.asset)


# Seed 000 gives Compact and Loose exactly. Seed 001's presets are one delta threshold each; HedgeOps
# reads them as per-asset and total ratios with emergency at twice the threshold.
PRESETS: dict[Preset, Thresholds] = {
    # Adaptive: the asset band is only the fallback until volatility is known; no stale trigger (the bands move
    # instead). The total band (0.8%) holds the tail: it is what keeps p99 under Compact's (hedge_study's fit).
    Preset.ADAPTIVE: Thresholds(Band(D("0.01"), D("0.05")), Band(D("0.008"), D("0.03")), 0, D("0.01")),
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
        stale_on_total=(t.staleBasis is StaleBasis.TOTAL) if t.staleBasis is not None else base.stale_on_total,
        per_asset=tuple(
            (name, Band(b.ratio, b.emergencyRatio)) for name, b in sorted(spec.assetOverrides.items())
        ),
    )


def resolve_rebalance_to(spec: RebalancePolicySpec) -> RebalanceTo:
    """Explicit, else BandEdge for Adaptive and Target (as the seeds do) for every other preset."""
    if spec.rebalanceTo is not None:
        return spec.rebalanceTo
    return RebalanceTo.BAND_EDGE if spec.preset is Preset.ADAPTIVE else RebalanceTo.TARGET


def resolve_volatility_bands(spec: RebalancePolicySpec) -> VolatilityBands | None:
    """Explicit, else the defaults for Adaptive, else none."""
    if spec.volatilityBands is not None:
        return spec.volatilityBands
    return VolatilityBands() if spec.preset is Preset.ADAPTIVE else None


def adapt_thresholds(
    base: Thresholds,
    exposure: BookExposure,
    *,
    volatility: Mapping[str, DeviationVolatility],
    scaling: VolatilityBands | None,
    min_order: Mapping[str, Decimal],
    band_edge: bool,
    overridden: frozenset[str] = frozenset(),
) -> Thresholds:
    """This cycle's per-asset bands.

    With volatility scaling, an asset's band is multiplier × its hourly drift volatility, clamped to
    [minRatio, maxRatio] (assets with an explicit override keep it; until the estimate exists the base band
    stands). When trading to the band edge, a band is never narrower than the asset's minimum order as a
    ratio of its target: the planner never trades past the target, so inside that width nothing could be
    traded anyway, and the trigger would fire for nothing. No band is wider than its emergency ratio."""
    if scaling is None and not band_edge:
        return base
    per_asset: list[tuple[str, Band]] = []
    for a in exposure.assets:
        band = base.band_for(a.asset)
        ratio = band.ratio
        vol = volatility.get(a.asset)
        sigma = vol.per_hour if vol is not None else None
        if scaling is not None and sigma is not None and a.asset not in overridden:
            ratio = min(max(scaling.multiplier * sigma, scaling.minRatio), scaling.maxRatio)
        if band_edge and a.target_notional > 0:
            ratio = max(ratio, min_order.get(a.asset, Decimal(0)) * a.price / a.target_notional)
        per_asset.append((a.asset, Band(min(ratio, band.emergency_ratio), band.emergency_ratio)))
    return replace(base, per_asset=tuple(per_asset))

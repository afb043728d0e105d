"""The rebalance trigger of seed 000: emergency, normal, time + deviation, or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from hedgeops.engine.hedge.bands import Thresholds
from hedgeops.engine.hedge.exposure import BookExposure


class Urgency(StrEnum):
    """How urgently a book must be brought back."""

    NONE = "None"
    NORMAL = "Normal"
    EMERGENCY = "Emergency"


@dataclass(frozen=True)
class Reason:
    """Why a decision was taken: a CamelCase code, the asset (or None for the total), the figures."""

    code: str
    message: str
    asset: str | None = None
    value: Decimal | None = None
    threshold: Decimal | None = None


@dataclass(frozen=True)
class TriggerDecision:
    """The trigger's verdict and every reason that supports it (most severe first)."""

    urgency: Urgency
    reasons: tuple[Reason, ...] = ()

    @property
    def primary(self) -> Reason | None:
        return self.reasons[0] if self.reasons else None


def _pct(x: Decimal) -> str:
    return f"{x * 100:.2f}%"


def decide(
    exposure: BookExposure,
    thresholds: Thresholds,
    now: datetime,
    last_rebalance_at: datetime | None,
) -> TriggerDecision:
    """Emergency if any asset or the total is beyond its emergency ratio (taker + alert); normal if beyond
    the normal ratio, or if the last rebalance is older than staleAfterSeconds and some asset is beyond
    staleRatio; otherwise nothing. A book never rebalanced counts as stale."""
    emergency: list[Reason] = []
    normal: list[Reason] = []
    for a in exposure.assets:
        band = thresholds.band_for(a.asset)
        dev = abs(a.deviation)
        if dev > band.emergency_ratio:
            emergency.append(Reason("EmergencyAssetDeviation",
                                    f"emergency rebalance: {a.asset} deviates {_pct(dev)} "
                                    f"(> {_pct(band.emergency_ratio)})", a.asset, dev, band.emergency_ratio))
        elif dev > band.ratio:
            normal.append(Reason("AssetDeviation", f"{a.asset} deviates {_pct(dev)} (> {_pct(band.ratio)})",
                                 a.asset, dev, band.ratio))
    total = exposure.total_deviation
    if total > thresholds.total.emergency_ratio:
        emergency.append(Reason("EmergencyTotalDeviation",
                                f"emergency rebalance: total deviation {_pct(total)} "
                                f"(> {_pct(thresholds.total.emergency_ratio)})",
                                None, total, thresholds.total.emergency_ratio))
    elif total > thresholds.total.ratio:
        normal.append(Reason("TotalDeviation",
                             f"total deviation {_pct(total)} (> {_pct(thresholds.total.ratio)})",
                             None, total, thresholds.total.ratio))
    if emergency:
        return TriggerDecision(Urgency.EMERGENCY, tuple(emergency + normal))
    if normal:
        return TriggerDecision(Urgency.NORMAL, tuple(normal))
    if thresholds.stale_after_seconds > 0:
        age = None if last_rebalance_at is None else (now - last_rebalance_at).total_seconds()
        if age is None or age > thresholds.stale_after_seconds:
            worst = max(exposure.assets, key=lambda a: abs(a.deviation), default=None)
            if worst is not None and abs(worst.deviation) > thresholds.stale_ratio:
                since = "never rebalanced" if age is None else f"{age / 3600:.1f} h since last rebalance"
                return TriggerDecision(Urgency.NORMAL, (Reason(
                    "StaleDeviation",
                    f"{since} and {worst.asset} deviates {_pct(abs(worst.deviation))} "
                    f"(> {_pct(thresholds.stale_ratio)})",
                    worst.asset, abs(worst.deviation), thresholds.stale_ratio),))
    return TriggerDecision(Urgency.NONE)

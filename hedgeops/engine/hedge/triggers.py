"""The rebalance trigger of seed 000: emergency, normal, time + deviation, or nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from hedgeops.engine.hedge.bands import Thresholds
from hedgeops.engine.hedge.exposure import AssetExposure, BookExposure


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
    untradeable: tuple[Reason, ...] = ()
    """Normal and stale reasons held back because no order could correct them (below the minimum order)."""

    @property
    def primary(self) -> Reason | None:
        return self.reasons[0] if self.reasons else None


def _pct(x: Decimal) -> str:
    return f"{x * 100:.2f}%"


def _tradeable(a: AssetExposure, min_order: Mapping[str, Decimal]) -> bool:
    """Whether an order of at least the asset's minimum could move it toward its target without passing it."""
    return abs(a.net_qty) >= min_order.get(a.asset, Decimal(0)) and a.net_qty != 0


def decide(
    exposure: BookExposure,
    thresholds: Thresholds,
    now: datetime,
    last_rebalance_at: datetime | None,
    min_order: Mapping[str, Decimal] | None = None,
) -> TriggerDecision:
    """Emergency if any asset or the total is beyond its emergency ratio (taker + alert); normal if beyond
    the normal ratio, or if the last rebalance is older than staleAfterSeconds and the deviation (the worst
    asset's, or the total's) is beyond staleRatio; otherwise nothing. A book never rebalanced counts as stale.

    The same rule for every policy: a normal or stale reason counts only when an order could act on it: the
    asset's correction clears its minimum order (`min_order`: the policy's and the market's larger), or for
    the total, some asset's does. Otherwise it is reported in `untradeable` and does not fire: a plan for it
    would trade nothing, or trade other assets still inside their bands and restart the stale clock.
    Emergencies always fire (the alert matters even when the planner can do nothing)."""
    minimums = min_order or {}
    emergency: list[Reason] = []
    normal: list[Reason] = []
    held: list[Reason] = []
    tradeable = {a.asset for a in exposure.assets if _tradeable(a, minimums)}
    for a in exposure.assets:
        band = thresholds.band_for(a.asset)
        dev = abs(a.deviation)
        if dev > band.emergency_ratio:
            emergency.append(Reason("EmergencyAssetDeviation",
                                    f"emergency rebalance: {a.asset} deviates {_pct(dev)} "
                                    f"(> {_pct(band.emergency_ratio)})", a.asset, dev, band.emergency_ratio))
        elif dev > band.ratio:
            reason = Reason("AssetDeviation", f"{a.asset} deviates {_pct(dev)} (> {_pct(band.ratio)})",
                            a.asset, dev, band.ratio)
            (normal if a.asset in tradeable else held).append(reason)
    total = exposure.total_deviation
    if total > thresholds.total.emergency_ratio:
        emergency.append(Reason("EmergencyTotalDeviation",
                                f"emergency rebalance: total deviation {_pct(total)} "
                                f"(> {_pct(thresholds.total.emergency_ratio)})",
                                None, total, thresholds.total.emergency_ratio))
    elif total > thresholds.total.ratio:
        reason = Reason("TotalDeviation", f"total deviation {_pct(total)} (> {_pct(thresholds.total.ratio)})",
                        None, total, thresholds.total.ratio)
        (normal if tradeable else held).append(reason)
    if emergency:
        return TriggerDecision(Urgency.EMERGENCY, tuple(emergency + normal), tuple(held))
    if normal:
        return TriggerDecision(Urgency.NORMAL, tuple(normal), tuple(held))
    stale = _stale(exposure, thresholds, now, last_rebalance_at, tradeable)
    if stale is not None and not (stale.asset in tradeable if stale.asset else tradeable):
        held.append(stale)
        stale = None
    if stale is not None:
        return TriggerDecision(Urgency.NORMAL, (stale,), tuple(held))
    return TriggerDecision(Urgency.NONE, (), tuple(held))


def _stale(exposure: BookExposure, thresholds: Thresholds, now: datetime, last_rebalance_at: datetime | None,
           tradeable: set[str]) -> Reason | None:
    """The time + deviation trigger: the worst tradeable asset (or, read on the total, the total deviation)
    beyond staleRatio once staleAfterSeconds have passed; the worst untradeable one when none is tradeable,
    so that the caller can report it as held back."""
    if thresholds.stale_after_seconds <= 0:
        return None
    age = None if last_rebalance_at is None else (now - last_rebalance_at).total_seconds()
    if age is not None and age <= thresholds.stale_after_seconds:
        return None
    since = "never rebalanced" if age is None else f"{age / 3600:.1f} h since last rebalance"
    if thresholds.stale_on_total:
        total = exposure.total_deviation
        if total <= thresholds.stale_ratio:
            return None
        return Reason("StaleDeviation", f"{since} and total deviation {_pct(total)} "
                      f"(> {_pct(thresholds.stale_ratio)})", None, total, thresholds.stale_ratio)
    beyond = [a for a in exposure.assets if abs(a.deviation) > thresholds.stale_ratio]
    if not beyond:
        return None
    pool = [a for a in beyond if a.asset in tradeable] or beyond
    worst = max(pool, key=lambda a: abs(a.deviation))
    return Reason("StaleDeviation", f"{since} and {worst.asset} deviates {_pct(abs(worst.deviation))} "
                  f"(> {_pct(thresholds.stale_ratio)})", worst.asset, abs(worst.deviation), thresholds.stale_ratio)

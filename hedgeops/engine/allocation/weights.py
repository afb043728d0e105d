"""Allocation books (seed 002): keep target weights among spot assets. When to trade: a person's request, weight
drift beyond a band, a schedule's fire, an opportunity, or an emergency exit; pause holds everything but the
exit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from hedgeops.api.policy import AllocationRules
from hedgeops.engine.allocation.presets import drift_ratio

ZERO = Decimal(0)


@dataclass(frozen=True)
class WeightDrift:
    """One asset's weight against its target (weights are shares of the book's value)."""

    asset: str
    weight: Decimal
    target: Decimal
    threshold: Decimal

    @property
    def drift(self) -> Decimal:
        return self.weight - self.target

    @property
    def beyond(self) -> bool:
        return abs(self.drift) > self.threshold


@dataclass(frozen=True)
class AllocationDecision:
    """Hold, Rebalance or Exit, with a CamelCase reason and every asset's drift."""

    action: str  # Hold | Rebalance | Exit
    reason: str
    message: str
    drifts: tuple[WeightDrift, ...] = ()


def weights(values: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Each asset's share of the total value (all zero when the book is empty)."""
    total = sum(values.values(), ZERO)
    return {a: (v / total if total else ZERO) for a, v in values.items()}


def drifts(targets: Mapping[str, Decimal], values: Mapping[str, Decimal], rules: AllocationRules) -> tuple[
        WeightDrift, ...]:
    """Drift of every asset that has a target or a value, sorted by asset."""
    w = weights(values)
    assets = sorted(set(targets) | set(values))
    band = drift_ratio(rules)
    return tuple(WeightDrift(a, w.get(a, ZERO), targets.get(a, ZERO), rules.assetDrift.get(a, band)) for a in assets)


def decide_allocation(
    targets: Mapping[str, Decimal], values: Mapping[str, Decimal], rules: AllocationRules, *,
    opportunity: str | None = None, paused: bool = False, emergency_exit: bool = False, manual: str | None = None,
    scheduled: str | None = None,
) -> AllocationDecision:
    """Emergency exit first (it overrides pause: it is the user's own stop), then pause, then a person's
    'rebalance now' (`manual`: what they asked, in words), drift beyond the band, a schedule's fire that is due
    (`scheduled`, in words: engine/allocation/schedule.py decides), and an opportunity (in words: what makes it
    one)."""
    d = drifts(targets, values, rules)
    if emergency_exit:
        return AllocationDecision("Exit", "EmergencyExit", "emergency exit: selling every asset to the quote", d)
    if paused:
        return AllocationDecision("Hold", "Paused", "rebalancing is paused", d)
    if manual:
        return AllocationDecision("Rebalance", "Manual", f"rebalance now: {manual}", d)
    beyond = [x for x in d if x.beyond]
    if beyond:
        worst = max(beyond, key=lambda x: abs(x.drift))
        return AllocationDecision("Rebalance", "WeightDrift",
                                  f"{worst.asset} weight {worst.weight:.2%} vs target {worst.target:.2%} "
                                  f"(band ±{worst.threshold:.2%})", d)
    if scheduled:
        return AllocationDecision("Rebalance", "Scheduled", scheduled, d)
    if opportunity:
        return AllocationDecision("Rebalance", "Opportunity", f"opportunity: {opportunity}", d)
    return AllocationDecision("Hold", "WithinBands", "every weight is within its band", d)

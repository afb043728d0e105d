"""Exposure per asset and in total: how far the hedge is from what the objective asks for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from hedgeops.api.hedgebook import Objective

ZERO = Decimal(0)


@dataclass(frozen=True)
class AssetObservation:
    """What was observed for one asset: its price, what is held, the signed perp position (units)."""

    asset: str
    price: Decimal
    holding_qty: Decimal
    hedge_qty: Decimal


@dataclass(frozen=True)
class AssetExposure:
    """One asset's exposure relative to its target hedge."""

    asset: str
    price: Decimal
    holding_qty: Decimal
    hedge_qty: Decimal
    target_hedge_qty: Decimal

    @property
    def net_qty(self) -> Decimal:
        """Units the hedge is short of its target (positive: too little short, so too long)."""
        return self.hedge_qty - self.target_hedge_qty

    @property
    def net_quote(self) -> Decimal:
        return self.net_qty * self.price

    @property
    def target_notional(self) -> Decimal:
        """|target hedge| in quote; when the target is flat, the holding's notional stands in."""
        base = abs(self.target_hedge_qty) or abs(self.holding_qty)
        return base * self.price

    @property
    def deviation(self) -> Decimal:
        """Signed net exposure ÷ target hedge notional; ±1 when there is nothing to measure against."""
        denominator = self.target_notional
        if denominator == 0:
            return ZERO if self.net_qty == 0 else Decimal(1).copy_sign(self.net_qty)
        return self.net_quote / denominator


@dataclass(frozen=True)
class BookExposure:
    """All assets of a book, with the total deviation Σ|net| ÷ Σ target notional."""

    assets: tuple[AssetExposure, ...]

    @property
    def total_abs_net_quote(self) -> Decimal:
        return sum((abs(a.net_quote) for a in self.assets), ZERO)

    @property
    def total_target_notional(self) -> Decimal:
        return sum((a.target_notional for a in self.assets), ZERO)

    @property
    def total_deviation(self) -> Decimal:
        denominator = self.total_target_notional
        if denominator == 0:
            return ZERO if self.total_abs_net_quote == 0 else Decimal(1)
        return self.total_abs_net_quote / denominator

    @property
    def max_abs_deviation(self) -> Decimal:
        return max((abs(a.deviation) for a in self.assets), default=ZERO)

    def get(self, asset: str) -> AssetExposure:
        return next(a for a in self.assets if a.asset == asset)


def target_hedge_qty(objective: Objective, asset: str, holding_qty: Decimal) -> Decimal:
    """Signed perp position the objective asks for: −ratio × holding, or targetDelta − holding."""
    if objective.targetDelta is not None and asset in objective.targetDelta:
        return objective.targetDelta[asset] - holding_qty
    ratio = objective.hedgeRatioOverrides.get(asset, objective.hedgeRatio)
    return -ratio * holding_qty


def compute_exposure(observations: Iterable[AssetObservation], objective: Objective) -> BookExposure:
    """Exposure of every observed asset under the objective."""
    return BookExposure(
        tuple(
            AssetExposure(
                asset=o.asset,
                price=o.price,
                holding_qty=o.holding_qty,
                hedge_qty=o.hedge_qty,
                target_hedge_qty=target_hedge_qty(objective, o.asset, o.holding_qty),
            )
            for o in observations
        )
    )

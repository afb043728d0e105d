"""How fast each asset's deviation drifts on its own: the input of volatility-scaled bands.

A hedge drifts because the target moves while the perp position stands still (a weight-holding pool
re-derives its units from prices every moment). The deviation's drift between two checks is the relative
change of the target hedge, so its volatility is estimated as an exponentially weighted mean of squared
relative target changes, normalised to one hour, with a half-life in seconds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class DeviationVolatility:
    """One asset's estimate: variance of the deviation's drift per hour (None until two observations)."""

    variance_per_hour: Decimal | None
    last_target_qty: Decimal
    at: datetime

    @property
    def per_hour(self) -> Decimal | None:
        """Standard deviation of the drift over one hour, as a ratio."""
        if self.variance_per_hour is None:
            return None
        return Decimal(repr(math.sqrt(self.variance_per_hour)))


def _q(x: float) -> Decimal:
    # A statistic, not money: computed in binary floating point (deterministic under IEEE 754) and stored
    # with 12 significant digits so status round-trips exactly.
    return Decimal(f"{x:.12g}")


def update_volatility(prev: DeviationVolatility | None, target_qty: Decimal, now: datetime,
                      half_life_seconds: int) -> DeviationVolatility:
    """The estimate after observing `target_qty` at `now`. A flat target (or one that changed sign) carries
    no information about the drift, so the previous estimate is kept."""
    if prev is None or now <= prev.at:
        return DeviationVolatility(prev.variance_per_hour if prev else None, target_qty, now)
    if prev.last_target_qty == 0 or target_qty == 0 or (prev.last_target_qty > 0) != (target_qty > 0):
        return DeviationVolatility(prev.variance_per_hour, target_qty, now)
    seconds = (now - prev.at).total_seconds()
    change = float(target_qty / prev.last_target_qty) - 1.0
    observed = change * change * 3600.0 / seconds
    if prev.variance_per_hour is None:
        return DeviationVolatility(_q(observed), target_qty, now)
    alpha = 1.0 - 0.5 ** (seconds / half_life_seconds)
    old = float(prev.variance_per_hour)
    return DeviationVolatility(_q(old + alpha * (observed - old)), target_qty, now)

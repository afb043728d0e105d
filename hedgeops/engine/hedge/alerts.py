"""Seed 000 alert: deviation persisting above a ratio for longer than a duration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hedgeops.engine.hedge.exposure import BookExposure
from hedgeops.engine.hedge.triggers import Reason


@dataclass(frozen=True)
class PersistingDeviation:
    """Since when deviation has been high (None: it is not) and the alert, if it is due."""

    high_since: datetime | None
    alert: Reason | None


def persisting_deviation(
    exposure: BookExposure, ratio: Decimal, seconds: int, now: datetime, high_since: datetime | None
) -> PersistingDeviation:
    """Track how long the worst asset deviation has stayed above `ratio`; alert once past `seconds`."""
    worst = exposure.max_abs_deviation
    if worst <= ratio:
        return PersistingDeviation(None, None)
    since = high_since or now
    held = (now - since).total_seconds()
    if held < seconds:
        return PersistingDeviation(since, None)
    return PersistingDeviation(since, Reason(
        "HighDeviationPersists",
        f"deviation {worst * 100:.2f}% above {ratio * 100:.2f}% for {held / 60:.0f} min",
        None, worst, ratio))

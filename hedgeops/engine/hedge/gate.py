"""The gate a plan passes before any order: halt and pause, then seed 001's risk limits (engine/risk.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hedgeops.api.policy import Limits
from hedgeops.engine.common.errors import RiskLimitExceededError
from hedgeops.engine.hedge.exposure import BookExposure
from hedgeops.engine.hedge.planner import RebalancePlan
from hedgeops.engine.hedge.risk import DayUsage, check_risk_limits

__all__ = ["DayUsage", "GateVerdict", "gate"]


@dataclass(frozen=True)
class GateVerdict:
    """Allowed, or refused with a CamelCase reason and a message."""

    allowed: bool
    reason: str = "Allowed"
    message: str = ""


def gate(
    plan: RebalancePlan, limits: Limits, today: DayUsage, last_rebalance_at: datetime | None, now: datetime,
    *, paused: bool, halted: bool, exposure: BookExposure | None = None,
) -> GateVerdict:
    """Halt and pause hold back everything; a plan with no orders is nothing to do; then the risk limits."""
    if halted:
        return GateVerdict(False, "Halted", "hedgeops.io/halt is set: no trading")
    if paused:
        return GateVerdict(False, "Paused", "spec.paused is true: observing only")
    if not plan.orders:
        return GateVerdict(False, "NothingToTrade", "; ".join(f"{s.asset}: {s.reason}" for s in plan.skipped))
    try:
        check_risk_limits(plan, limits, today, last_rebalance_at, now, exposure)
    except RiskLimitExceededError as refused:
        return GateVerdict(False, refused.reason, str(refused))
    return GateVerdict(True)

"""The risk gate a plan passes before any order: pause, daily limits, spacing (seed 001 risk controls)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hedgeops.api.policy import Limits
from hedgeops.engine.planner import RebalancePlan
from hedgeops.engine.triggers import Urgency


@dataclass(frozen=True)
class GateVerdict:
    """Allowed, or refused with a CamelCase reason and a message."""

    allowed: bool
    reason: str = "Allowed"
    message: str = ""


@dataclass(frozen=True)
class DayUsage:
    """What today has used of the daily limits."""

    rebalances: int
    cost_quote: Decimal


def gate(
    plan: RebalancePlan, limits: Limits, today: DayUsage, last_rebalance_at: datetime | None, now: datetime,
    *, paused: bool, halted: bool,
) -> GateVerdict:
    """Count and spacing limits hold back normal rebalances only (an emergency reduces risk); the daily
    cost budget holds back every rebalance; pause and halt hold back everything."""
    if halted:
        return GateVerdict(False, "Halted", "hedgeops.io/halt is set: no trading")
    if paused:
        return GateVerdict(False, "Paused", "spec.paused is true: observing only")
    if not plan.orders:
        return GateVerdict(False, "NothingToTrade", "; ".join(f"{s.asset}: {s.reason}" for s in plan.skipped))
    if limits.maxDailyCostQuote is not None and today.cost_quote + plan.est_cost_quote > limits.maxDailyCostQuote:
        return GateVerdict(False, "DailyCostLimit",
                           f"today's cost {today.cost_quote:.2f} + {plan.est_cost_quote:.2f} would exceed "
                           f"{limits.maxDailyCostQuote}")
    if plan.urgency is Urgency.EMERGENCY:
        return GateVerdict(True)
    if limits.maxRebalancesPerDay is not None and today.rebalances >= limits.maxRebalancesPerDay:
        return GateVerdict(False, "DailyRebalanceLimit",
                           f"{today.rebalances} rebalances today (limit {limits.maxRebalancesPerDay})")
    if limits.minSecondsBetweenRebalances is not None and last_rebalance_at is not None:
        age = (now - last_rebalance_at).total_seconds()
        if age < limits.minSecondsBetweenRebalances:
            return GateVerdict(False, "TooSoon",
                               f"{age:.0f}s since last rebalance (minimum {limits.minSecondsBetweenRebalances}s)")
    if limits.maxDeltaChangePerTrade is not None:
        big = [o for o in plan.orders if o.amount > limits.maxDeltaChangePerTrade]
        if big:
            return GateVerdict(False, "DeltaChangeLimit",
                               f"{big[0].asset} order {big[0].amount} exceeds {limits.maxDeltaChangePerTrade}")
    return GateVerdict(True)

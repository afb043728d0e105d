"""Seed 001's risk controls (§9) as checks that raise RiskLimitExceededError with a reason code: max
adjustments a day, max delta change per trade, max daily cost, minimum time between adjustments, max
concentration, and the cost threshold. Count, spacing, per-trade delta and cost-ratio limits hold back
normal plans only: an emergency plan reduces risk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hedgeops.api.policy import Limits
from hedgeops.engine.common.errors import RiskLimitExceededError
from hedgeops.engine.hedge.exposure import BookExposure
from hedgeops.engine.hedge.planner import RebalancePlan
from hedgeops.engine.hedge.triggers import Urgency

ZERO = Decimal(0)


@dataclass(frozen=True)
class DayUsage:
    """What today has used of the daily limits."""

    rebalances: int
    cost_quote: Decimal


def _concentration(plan: RebalancePlan, exposure: BookExposure, limit: Decimal) -> None:
    """An order may not push its asset's hedge notional past `limit` × the book's holding value."""
    book_value = sum((abs(a.holding_qty) * a.price for a in exposure.assets), ZERO)
    if book_value <= 0:
        return
    for o in plan.orders:
        a = exposure.get(o.asset)
        before, after = abs(a.hedge_qty), abs(a.hedge_qty + o.signed_amount)
        share = after * a.price / book_value
        if after > before and share > limit:
            raise RiskLimitExceededError("ConcentrationLimit",
                                         f"{o.asset} position would be {share:.1%} of the book (limit {limit:.1%})")


def check_risk_limits(plan: RebalancePlan, limits: Limits, today: DayUsage, last_rebalance_at: datetime | None,
                      now: datetime, exposure: BookExposure | None = None) -> None:
    """Raise RiskLimitExceededError for the first limit the plan breaks; return if it passes them all. A preset's
    values fill the fields the policy leaves unset."""
    limits = limits.effective()
    if limits.maxDailyCostQuote is not None and today.cost_quote + plan.est_cost_quote > limits.maxDailyCostQuote:
        raise RiskLimitExceededError("DailyCostLimit",
                                     f"today's cost {today.cost_quote:.2f} + {plan.est_cost_quote:.2f} would exceed "
                                     f"{limits.maxDailyCostQuote}")
    if limits.maxConcentrationRatio is not None and exposure is not None:
        _concentration(plan, exposure, limits.maxConcentrationRatio)
    if plan.urgency is Urgency.EMERGENCY:
        return
    if limits.maxRebalancesPerDay is not None and today.rebalances >= limits.maxRebalancesPerDay:
        raise RiskLimitExceededError("DailyRebalanceLimit",
                                     f"{today.rebalances} rebalances today (limit {limits.maxRebalancesPerDay})")
    if limits.minSecondsBetweenRebalances is not None and last_rebalance_at is not None:
        age = (now - last_rebalance_at).total_seconds()
        if age < limits.minSecondsBetweenRebalances:
            raise RiskLimitExceededError("TooSoon", f"{age:.0f}s since last rebalance "
                                                    f"(minimum {limits.minSecondsBetweenRebalances}s)")
    if limits.maxDeltaChangePerTrade is not None:
        big = [o for o in plan.orders if o.amount > limits.maxDeltaChangePerTrade]
        if big:
            o = big[0]
            raise RiskLimitExceededError("DeltaChangeLimit",
                                         f"{o.asset} order {o.amount} exceeds {limits.maxDeltaChangePerTrade}")
    if limits.maxCostRatio is not None:
        traded = sum((o.amount * o.est_price for o in plan.orders), ZERO)
        if traded > 0 and plan.est_cost_quote / traded > limits.maxCostRatio:
            raise RiskLimitExceededError("CostThreshold",
                                         f"estimated cost {plan.est_cost_quote:.2f} is "
                                         f"{plan.est_cost_quote / traded:.3%} of the traded notional "
                                         f"(limit {limits.maxCostRatio:.3%})")

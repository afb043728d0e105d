"""The Allocation objective's own API types (seed 002): how target weights are set, the rebalance-now request and
the schedule as the status reports them, and status.pendingPlan's declared shape with its cost forecast."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from hedgeops.api.common import (
    MAX_ASSETS,
    MAX_PLAN_ORDERS,
    DecimalText,
    Quantity,
    Schema,
    ShortText,
    StatusMessage,
    StatusSymbol,
    TimeText,
)


class Weighting(StrEnum):
    """How an Allocation book's target weights are set (seed 002's risk budgeting): as written, or from the
    assets' realised volatility (the static targets give the universe and the risk budget, see Objective)."""

    STATIC = "Static"
    INVERSE_VOLATILITY = "InverseVolatility"
    RISK_PARITY = "RiskParity"


class PlanOrderDoc(Schema):
    """One order of a plan awaiting approval, as runtime/approval.py writes it."""

    symbol: StatusSymbol
    """Market symbol."""
    side: ShortText
    """buy or sell."""
    amount: DecimalText
    """Amount in units of the base asset (exact, as a string)."""
    type: ShortText
    """maker or taker."""
    estPrice: DecimalText | None = None
    """Forecast average price (the book walk for a taker, the touch for a maker)."""
    estFeeQuote: DecimalText | None = None
    """Forecast fee, in the quote currency."""
    estSlippageQuote: DecimalText | None = None
    """Forecast slippage against the mid, in the quote currency."""


class PlanForecastDoc(Schema):
    """What a plan is forecast to cost, for the approver: fees plus the slippage of walking the book."""

    notionalQuote: DecimalText
    """The notional the plan trades, at the mid, in the quote currency."""
    feesQuote: DecimalText
    """Forecast fees."""
    slippageQuote: DecimalText
    """Forecast slippage against the mid."""
    costQuote: DecimalText
    """Fees plus slippage."""
    costRatio: DecimalText
    """costQuote ÷ notionalQuote."""
    quote: ShortText
    """The quote currency the figures are in."""


class PendingPlanDoc(Schema):
    """status.pendingPlan as runtime/approval.py writes it (kept a dict in memory; this is its declared shape,
    so the API server keeps every field instead of pruning the object to {})."""

    id: ShortText
    """The id to approve (hedgeops.io/approve=<id>)."""
    state: ShortText
    """Proposed, Approved, Executed, Expired or Superseded."""
    proposedAt: TimeText
    """When the plan was proposed (RFC 3339)."""
    expiresAt: TimeText
    """When an unapproved plan expires (RFC 3339)."""
    approvedBy: Annotated[str, Field(max_length=256)] | None = None
    """Who approved it."""
    orders: list[PlanOrderDoc] = Field(default_factory=list, max_length=MAX_PLAN_ORDERS)
    """The plan's orders."""
    reasons: list[StatusMessage] = Field(default_factory=list, max_length=4 * MAX_ASSETS)
    """Why the plan was made, in words (a few per asset at most)."""
    approve: Annotated[str, Field(max_length=256)] = ""
    """The command that approves it."""
    forecast: PlanForecastDoc | None = None
    """The plan's cost forecast (per order in `orders`)."""


class RebalanceNowStatus(Schema):
    """The last hedgeops.io/rebalance-now request the book handled: a value is acted on once."""

    value: Annotated[str, Field(max_length=256)]
    """The annotation's value."""
    state: ShortText
    """Pending (a plan awaits approval or a plan is in flight), Done (a plan started), Refused (see message),
    Withdrawn (the annotation was removed or replaced while it was Pending)."""
    at: datetime
    """When the state was reached."""
    message: StatusMessage = ""
    """What was done."""


class ScheduleStatus(Schema):
    """An Allocation book's schedule: the cron in force, the next time it fires and its notice."""

    cron: Annotated[str, Field(max_length=256)]
    """The cron in force (the policy's, a preset's, or the dynamic schedule's row)."""
    since: datetime
    """When the book first ran on a schedule: a fire before it is not due."""
    lastFiredAt: datetime | None = None
    """The last fire acted on (rebalanced, or found nothing to trade)."""
    nextAt: datetime | None = None
    """The next time the schedule fires."""
    noticedFor: datetime | None = None
    """The fire the RebalanceScheduled notice was posted for."""
    volatilityRatio: Quantity | None = None
    """Dynamic schedules: the book's annualised realised volatility that chose the cron."""
    reason: StatusMessage | None = None
    """Why this cron: the policy's, a preset's, or the dynamic table's row and the volatility that chose it (or
    that the volatility is unknown and the busiest row stands in)."""

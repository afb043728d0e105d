"""What a plan is forecast to cost, order by order, for the person who approves it: the fee at the venue's rate
for the order's type and the slippage of its forecast average price against the mid, both in the quote currency,
and their total as a share of the notional traded."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")


def _text(x: Decimal) -> str:
    return str(x.quantize(Q8, rounding=ROUND_HALF_EVEN).normalize())


@dataclass(frozen=True)
class OrderForecast:
    client_order_id: str
    est_price: Decimal
    fee_quote: Decimal
    slippage_quote: Decimal
    notional_quote: Decimal  # amount × mid

    def doc(self) -> dict[str, str]:
        return {"estPrice": _text(self.est_price), "estFeeQuote": _text(self.fee_quote),
                "estSlippageQuote": _text(self.slippage_quote)}


@dataclass(frozen=True)
class PlanForecast:
    quote: str
    orders: tuple[OrderForecast, ...]

    @property
    def fees_quote(self) -> Decimal:
        return sum((o.fee_quote for o in self.orders), ZERO)

    @property
    def slippage_quote(self) -> Decimal:
        return sum((o.slippage_quote for o in self.orders), ZERO)

    @property
    def cost_quote(self) -> Decimal:
        return self.fees_quote + self.slippage_quote

    @property
    def notional_quote(self) -> Decimal:
        return sum((o.notional_quote for o in self.orders), ZERO)

    @property
    def cost_ratio(self) -> Decimal:
        return self.cost_quote / self.notional_quote if self.notional_quote else ZERO

    def doc(self) -> dict[str, Any]:
        """status.pendingPlan.forecast (PlanForecastDoc): exact figures as strings."""
        return {"quote": self.quote, "notionalQuote": _text(self.notional_quote), "feesQuote": _text(self.fees_quote),
                "slippageQuote": _text(self.slippage_quote), "costQuote": _text(self.cost_quote),
                "costRatio": _text(self.cost_ratio)}

    def by_order(self) -> dict[str, OrderForecast]:
        return {o.client_order_id: o for o in self.orders}


def forecast(quote: str, orders: list[tuple[str, Decimal, Decimal, Decimal, Decimal]]) -> PlanForecast:
    """From (client order id, amount, forecast average price, mid, fee rate) per order."""
    return PlanForecast(quote, tuple(OrderForecast(cid, est, amount * est * rate, amount * abs(est - mid), amount * mid)
                                     for cid, amount, est, mid, rate in orders))

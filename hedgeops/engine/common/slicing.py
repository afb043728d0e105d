"""Slicing large orders (seed 002: break big trades into smaller parts to limit market impact)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from hedgeops.model.market import MarketRules

MAX_PLAN_ORDERS = 100  # a plan's client order ids number its orders in two digits (engine/common/ids.py)
MAX_SLICES = 20  # no leg may take more than a fifth of a plan's orders


def slices_per_leg(legs: int) -> int:
    """How many parts each of `legs` legs may be cut into so that the plan stays within its 100 order ids (a
    50-leg book with a small maxOrderQuote gets 2 each, never an id the exchange cannot take)."""
    return max(1, min(MAX_SLICES, MAX_PLAN_ORDERS // max(1, legs)))


def slice_qty(qty: Decimal, price: Decimal, max_quote: Decimal | None, rules: MarketRules,
              minimum: Decimal, max_slices: int = MAX_SLICES) -> tuple[Decimal, ...]:
    """Split an unsigned `qty` into parts worth at most `max_quote` each, on the market's grid, summing to
    exactly `qty`. No part is below `minimum` (the parts get fewer instead), and there are at most
    `max_slices` parts (they get larger instead: the cap on orders wins over the cap on size)."""
    if qty <= 0:
        return ()
    if max_quote is None or price <= 0 or qty * price <= max_quote:
        return (qty,)
    n = int((qty * price / max_quote).to_integral_value(rounding=ROUND_CEILING))
    n = max(1, min(n, max_slices))
    if minimum > 0:
        n = max(1, min(n, int(qty / minimum)))
    part = rules.round_amount(qty / n)
    if part <= 0:
        return (qty,)
    parts = [part] * (n - 1)
    parts.append(qty - part * (n - 1))  # the last part takes the rounding remainder
    return tuple(parts)

"""Slicing large orders (seed 002: break big trades into smaller parts to limit market impact)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from hedgeops.model.market import MarketRules

MAX_SLICES = 20  # a plan's order ids have room for 100 orders; no leg may take more than a fifth of them


def slice_qty(qty: Decimal, price: Decimal, max_quote: Decimal | None, rules: MarketRules,
              minimum: Decimal) -> tuple[Decimal, ...]:
    """Split an unsigned `qty` into parts worth at most `max_quote` each, on the market's grid, summing to
    exactly `qty`. No part is below `minimum` (the parts get fewer instead), and there are at most
    MAX_SLICES parts (they get larger instead: the cap on orders wins over the cap on size)."""
    if qty <= 0:
        return ()
    if max_quote is None or price <= 0 or qty * price <= max_quote:
        return (qty,)
    n = int((qty * price / max_quote).to_integral_value(rounding=ROUND_CEILING))
    n = max(1, min(n, MAX_SLICES))
    if minimum > 0:
        n = max(1, min(n, int(qty / minimum)))
    part = rules.round_amount(qty / n)
    if part <= 0:
        return (qty,)
    parts = [part] * (n - 1)
    parts.append(qty - part * (n - 1))  # the last part takes the rounding remainder
    return tuple(parts)

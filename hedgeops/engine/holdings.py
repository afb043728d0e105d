"""Holdings arithmetic: units of each asset from a static list or a basket token."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from hedgeops.api.hedgebook import Basket

ZERO = Decimal(0)


def basket_units(basket: Basket, token_price: Decimal, prices: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Units of each asset inside the held basket tokens.

    Static composition: tokens × units per token. Weights: tokens × token price × weight ÷ asset price,
    i.e. the units a pool holding constant value weights has at these prices."""
    if basket.unitsPerToken is not None:
        return {a: basket.tokenAmount * u for a, u in basket.unitsPerToken.items()}
    weights = basket.weights or {}
    value = basket.tokenAmount * token_price
    return {a: value * w / prices[a] for a, w in weights.items()}


def next_token_price(
    token_price: Decimal,
    weights: Mapping[str, Decimal],
    prev_prices: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
) -> Decimal:
    """Token price of a constant-weight pool after prices move: value × (1 + Σ wᵢ rᵢ).

    The pool re-weights between observations, so each step compounds the weighted return."""
    weighted_return = sum(
        (w * (prices[a] / prev_prices[a] - 1) for a, w in weights.items() if prev_prices.get(a)), ZERO
    )
    return token_price * (1 + weighted_return)

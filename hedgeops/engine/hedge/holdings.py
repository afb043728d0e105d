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


class HoldingsDocumentError(ValueError):
    """A holdings document lacks a path or holds something other than a number there."""


def json_type(node: object) -> str:
    """A JSON value's type in words ("a string", "an object"): what a message says instead of the value, which
    may be anything the endpoint holds (a token, another service's data) and must not reach status or events."""
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "a boolean"
    if isinstance(node, int | float):
        return "a number"
    if isinstance(node, str):
        return "a string"
    if isinstance(node, list):
        return "an array"
    return "an object" if isinstance(node, dict) else "not a JSON value"


def units_from_document(doc: object, paths: Mapping[str, str]) -> dict[str, Decimal]:
    """Units per asset read from a JSON document by dotted paths (`data.balances.0.amount`: keys of objects,
    indexes of arrays). Numbers and numeric strings are accepted; anything else names the path that failed and the
    JSON type found there, never the value (the document is whatever the endpoint returns)."""
    units: dict[str, Decimal] = {}
    for asset, path in sorted(paths.items()):
        node = doc
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
                node = node[int(part)]
            else:
                raise HoldingsDocumentError(f"{asset}: path {path!r} not found in the document (at {part!r})")
        if isinstance(node, bool) or not isinstance(node, int | float | str):
            raise HoldingsDocumentError(f"{asset}: {path!r} is {json_type(node)}, not a number")
        try:
            value = Decimal(str(node))
        except ArithmeticError:
            raise HoldingsDocumentError(f"{asset}: {path!r} is {json_type(node)}, not a number") from None
        if not value.is_finite():
            raise HoldingsDocumentError(f"{asset}: {path!r} is {json_type(node)} holding infinity or NaN, "
                                         "not a finite number")
        units[asset] = value
    return units

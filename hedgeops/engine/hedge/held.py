"""Resolve a book's holdings source into units per asset for this cycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from hedgeops.api.common import Mode
from hedgeops.api.hedgebook import BasketMark, HedgeBookSpec, HoldingsSource
from hedgeops.engine.hedge.holdings import basket_units, next_token_price


class HoldingsUnavailable(Exception):
    """The holdings cannot be known this cycle (reason in the message)."""


@dataclass(frozen=True)
class ResolvedHoldings:
    units: dict[str, Decimal]
    mark: BasketMark | None = None


def resolve_holdings(
    spec: HedgeBookSpec, prices: Mapping[str, Decimal], balances: Mapping[str, Decimal], mark: BasketMark | None,
    fetched: Mapping[str, Decimal] | None = None,
) -> ResolvedHoldings:
    """Units held per asset (`fetched`: what an Http source answered this cycle). A weights basket in Paper
    mode is simulated as a constant-weight pool whose token price compounds the weighted returns since the last
    mark."""
    h = spec.holdings
    if h.source is HoldingsSource.STATIC:
        return ResolvedHoldings(dict(h.static or {}))
    if h.source is HoldingsSource.EXCHANGE_BALANCE:
        assets = h.exchangeBalance.assets if h.exchangeBalance else []
        return ResolvedHoldings({a: balances.get(a, Decimal(0)) for a in assets})
    if h.source is HoldingsSource.BASKET and h.basket is not None:
        basket = h.basket
        if basket.weights is None:
            return ResolvedHoldings(basket_units(basket, Decimal(0), prices))
        if spec.mode is Mode.LIVE:
            raise HoldingsUnavailable("a weights basket is simulated in Paper mode only; in Live mode read the "
                                      "pool's units with holdings source Http")
        assert basket.tokenPriceQuote is not None
        missing = [a for a in basket.weights if a not in prices]
        if missing:
            raise HoldingsUnavailable(f"no price for basket assets {', '.join(missing)}: give each a leg")
        token = basket.tokenPriceQuote if mark is None else next_token_price(
            mark.tokenPriceQuote, basket.weights, mark.prices, prices)
        now_prices = {a: prices[a] for a in basket.weights}
        new_mark = BasketMark(tokenPriceQuote=token, prices=now_prices)
        return ResolvedHoldings(basket_units(basket, token, now_prices), new_mark)
    if h.source is HoldingsSource.HTTP and fetched is not None:
        return ResolvedHoldings(dict(fetched))
    raise HoldingsUnavailable(f"holdings source {h.source.value} was not read this cycle")

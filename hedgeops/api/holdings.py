"""A HedgeBook's holdings: what it holds and must neutralise, from a static list, a basket token, the exchange
balance or a JSON endpoint (api/hedgebook.py re-exports these)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from hedgeops.api.cel import rule, with_rules
from hedgeops.api.common import (
    MAX_ASSETS,
    AssetCode,
    PositiveQuantity,
    Quantity,
    Ratio,
    Schema,
)

# Enums read by CEL rules carry a maxLength so the API server can bound the rules' cost.
_ENUM_BOUND: dict[str, Any] = {"maxLength": 16}


class HoldingsSource(StrEnum):
    """Where the held quantities come from."""

    STATIC = "Static"
    BASKET = "Basket"
    EXCHANGE_BALANCE = "ExchangeBalance"
    HTTP = "Http"


class Basket(Schema):
    """A token that represents a basket (for example JLP): token amount × per-token composition."""

    model_config = with_rules(
        rule(
            "has(self.unitsPerToken) != has(self.weights)",
            "set exactly one of unitsPerToken or weights",
        ),
        rule(
            "!has(self.weights) || has(self.tokenPriceQuote)",
            "weights need tokenPriceQuote",
            ".tokenPriceQuote",
        ),
    )

    tokenAmount: PositiveQuantity
    """How many basket tokens are held."""
    unitsPerToken: Annotated[dict[AssetCode, PositiveQuantity], Field(max_length=MAX_ASSETS)] | None = None
    """Static composition: units of each asset inside one basket token."""
    weights: Annotated[dict[AssetCode, Ratio], Field(max_length=MAX_ASSETS)] | None = None
    """Constant-weight composition: each asset's share of the basket's value (the rest is stablecoin).
    Units are re-derived from the basket's value every cycle, which is how a pool like JLP drifts
    against a fixed hedge."""
    tokenPriceQuote: PositiveQuantity | None = None
    """Price of one basket token in the quote currency when the book starts (weights composition)."""

    @model_validator(mode="after")
    def _one_composition(self) -> Basket:
        if (self.unitsPerToken is None) == (self.weights is None):
            raise ValueError("set exactly one of unitsPerToken or weights")
        if self.weights is not None:
            if self.tokenPriceQuote is None:
                raise ValueError("tokenPriceQuote: weights need tokenPriceQuote")
            if sum(self.weights.values(), Decimal(0)) > 1:
                raise ValueError("weights: the weights sum to more than 1")
        return self

    def assets(self) -> list[str]:
        """Assets the basket holds."""
        return sorted((self.unitsPerToken or self.weights or {}).keys())


class HttpHoldings(Schema):
    """Holdings read from a JSON endpoint."""

    url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)]
    """URL returning JSON."""
    paths: Annotated[dict[AssetCode, Annotated[str, Field(max_length=256)]], Field(max_length=MAX_ASSETS)]
    """Per asset, a dotted path to its quantity in the JSON document."""
    refreshSeconds: Annotated[int, Field(ge=1)] = 60
    """How often to fetch."""

    @model_validator(mode="after")
    def _url_parses(self) -> HttpHoldings:
        # The CRD's pattern lets `http://[::1` through; never echo the URL (its query may carry a token).
        try:
            urlsplit(self.url)
        except ValueError:
            raise ValueError("url: does not parse as a URL (an IPv6 host needs both brackets)") from None
        return self


class ExchangeBalanceHoldings(Schema):
    """Holdings read from spot balances on the book's exchange account."""

    assets: Annotated[list[AssetCode], Field(min_length=1, max_length=MAX_ASSETS)]
    """Assets whose spot balances are the holdings."""


class Holdings(Schema):
    """What the book holds and must neutralise."""

    model_config = with_rules(
        rule("self.source != 'Static' || has(self.static)", "source Static needs static", ".static"),
        rule("self.source != 'Basket' || has(self.basket)", "source Basket needs basket", ".basket"),
        rule(
            "self.source != 'ExchangeBalance' || has(self.exchangeBalance)",
            "source ExchangeBalance needs exchangeBalance",
            ".exchangeBalance",
        ),
        rule("self.source != 'Http' || has(self.http)", "source Http needs http", ".http"),
    )

    source: Annotated[HoldingsSource, Field(json_schema_extra=_ENUM_BOUND)] = HoldingsSource.STATIC
    """Static, Basket, ExchangeBalance or Http."""
    static: Annotated[dict[AssetCode, Quantity], Field(max_length=MAX_ASSETS)] | None = None
    """Static quantities per asset, in units of the asset."""
    basket: Basket | None = None
    """Basket token holdings."""
    exchangeBalance: ExchangeBalanceHoldings | None = None
    """Spot balances on the exchange account."""
    http: HttpHoldings | None = None
    """A JSON endpoint."""

    @model_validator(mode="after")
    def _source_present(self) -> Holdings:
        needed = {
            HoldingsSource.STATIC: ("static", self.static),
            HoldingsSource.BASKET: ("basket", self.basket),
            HoldingsSource.EXCHANGE_BALANCE: ("exchangeBalance", self.exchangeBalance),
            HoldingsSource.HTTP: ("http", self.http),
        }
        name, value = needed[self.source]
        if value is None:
            raise ValueError(f"{name}: source {self.source.value} needs {name}")
        return self

    def assets(self) -> list[str]:
        """Assets the holdings name (empty for sources only known at run time)."""
        if self.source is HoldingsSource.STATIC and self.static is not None:
            return sorted(self.static)
        if self.source is HoldingsSource.BASKET and self.basket is not None:
            return self.basket.assets()
        if self.source is HoldingsSource.EXCHANGE_BALANCE and self.exchangeBalance is not None:
            return sorted(self.exchangeBalance.assets)
        if self.source is HoldingsSource.HTTP and self.http is not None:
            return sorted(self.http.paths)
        return []

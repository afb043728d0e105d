"""HedgeBook instruments beyond the perp legs whose venue positions count in an asset's delta (seed 001 §5.1): the
account's spot balance of the asset, dated futures and options (an option by the delta the venue reports, never a
guess). They are observed only: a book trades its perp legs alone."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, model_validator

from hedgeops.api.cel import rule, with_rules
from hedgeops.api.common import AssetCode, Quantity, Schema, StatusSymbol, symbol_base

_ENUM_BOUND: dict[str, Any] = {"maxLength": 16}
FUTURE_PATTERN = r"^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}:[A-Z0-9]{2,12}-[0-9]{6}$"
OPTION_PATTERN = r"^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}:[A-Z0-9]{2,12}-[0-9]{6}-[0-9]{1,12}([.][0-9]{1,8})?-[CP]$"
# A dated ccxt symbol: a future BASE/QUOTE:SETTLE-YYMMDD, an option BASE/QUOTE:SETTLE-YYMMDD-STRIKE-C|P.
DatedSymbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}:[A-Z0-9]{2,12}-[0-9]{6}"
                                           r"(-[0-9]{1,12}([.][0-9]{1,8})?-[CP])?$", max_length=64)]
# A number in JSON, as the schema says (common.Quantity's serialiser).
NonNegativeQuantity = Annotated[Decimal, Field(ge=0, allow_inf_nan=False),
                                PlainSerializer(float, return_type=float, when_used="json")]
MAX_INSTRUMENTS = 20


class InstrumentKind(StrEnum):
    """What an observed instrument is."""

    SPOT = "Spot"  # the account's balance of the asset
    FUTURE = "Future"  # a dated future: one unit of the asset per unit held
    OPTION = "Option"  # an option: the venue's reported delta per position


class DeltaInstrument(Schema):
    """One instrument whose venue position counts in `asset`'s delta, alongside the asset's perp leg."""

    model_config = with_rules(
        rule("self.kind == 'Spot' ? !has(self.symbol) : has(self.symbol)",
             "a Spot instrument is the account's balance of the asset (no symbol); Future and Option name their "
             "symbol", ".symbol"),
        rule("!has(self.symbol) || self.symbol.startsWith(self.asset + '/')",
             "the symbol's base must be the instrument's asset", ".symbol"),
        rule(f"self.kind != 'Future' || !has(self.symbol) || self.symbol.matches('{FUTURE_PATTERN}')",
             "a Future's symbol is BASE/QUOTE:SETTLE-YYMMDD (for example BTC/USDT:USDT-260327)", ".symbol"),
        rule(f"self.kind != 'Option' || !has(self.symbol) || self.symbol.matches('{OPTION_PATTERN}')",
             "an Option's symbol is BASE/QUOTE:SETTLE-YYMMDD-STRIKE-C|P (for example BTC/USD:BTC-260327-100000-C)",
             ".symbol"),
        rule("self.kind == 'Spot' || !has(self.reserve)", "reserve applies to Spot only", ".reserve"),
    )

    asset: AssetCode
    """The asset whose delta this instrument changes; the book must have a leg for it."""
    kind: Annotated[InstrumentKind, Field(json_schema_extra=_ENUM_BOUND)]
    """Spot (the account's balance of the asset), Future or Option."""
    symbol: DatedSymbol | None = None
    """Future and Option: the ccxt symbol (a future BTC/USDT:USDT-260327, an option BTC/USD:BTC-260327-100000-C)."""
    reserve: NonNegativeQuantity | None = None
    """Spot: units of the balance left out of the delta (kept for fees or withdrawals); the rest counts, never
    below zero."""

    @model_validator(mode="after")
    def _shape(self) -> DeltaInstrument:
        if self.kind is InstrumentKind.SPOT:
            if self.symbol is not None:
                raise ValueError("symbol: a Spot instrument is the account's balance of the asset (no symbol)")
            return self
        if self.symbol is None:
            raise ValueError(f"symbol: a {self.kind.value} instrument needs its symbol")
        if symbol_base(self.symbol) != self.asset:
            raise ValueError(f"symbol: {self.symbol}'s base is not {self.asset}")
        pattern = FUTURE_PATTERN if self.kind is InstrumentKind.FUTURE else OPTION_PATTERN
        if not re.fullmatch(pattern, self.symbol):
            example = "BTC/USDT:USDT-260327" if self.kind is InstrumentKind.FUTURE else "BTC/USD:BTC-260327-100000-C"
            raise ValueError(f"symbol: {self.symbol} is no {self.kind.value.lower()} symbol (for example {example})")
        if self.reserve is not None:
            raise ValueError("reserve: applies to Spot only")
        return self

    @property
    def key(self) -> str:
        """What the instrument is on the account: its symbol, or the asset's spot balance."""
        return self.symbol or f"{self.asset} balance"


def check_instruments(instruments: list[DeltaInstrument], legs: set[str], balance_assets: set[str]) -> None:
    """Book-level rules: each names an asset with a leg, once; a spot balance the holdings already read is not
    counted a second time."""
    seen: set[str] = set()
    for n, i in enumerate(instruments):
        where = f"instruments[{n}]"
        if i.asset not in legs:
            raise ValueError(f"{where}.asset: {i.asset} has no leg (its delta is hedged by its perp leg)")
        if i.key in seen:
            raise ValueError(f"{where}: {i.key} is named twice")
        seen.add(i.key)
        if i.kind is InstrumentKind.SPOT and i.asset in balance_assets:
            raise ValueError(f"{where}: {i.asset}'s balance is already the holding (holdings.exchangeBalance); it "
                             "would count twice")


class InstrumentDeltaStatus(Schema):
    """One instrument's part of an asset's delta, as last observed."""

    symbol: StatusSymbol
    """The instrument (the perp leg's symbol, a future's or option's, or "<ASSET> balance")."""
    kind: Annotated[str, Field(max_length=16)]
    """Perp, Spot, Future or Option."""
    qty: Quantity
    """Units of the asset held (signed; a spot balance less its reserve)."""
    delta: Quantity
    """Its delta in units of the asset (an option's as the venue reports it)."""

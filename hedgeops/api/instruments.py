"""HedgeBook instruments beyond the perp legs whose venue positions count in an asset's delta (seed 001 §5.1): the
account's spot balance of the asset, dated futures and options (an option by the delta the venue reports, never a
guess). They are observed only: a book trades its perp legs alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, model_validator

from hedgeops.api.cel import rule, with_rules
from hedgeops.api.common import AssetCode, Quantity, Schema, StatusSymbol, symbol_base

_ENUM_BOUND: dict[str, Any] = {"maxLength": 16}
# YYMMDD with a month 01-12 and a day 01-31 (a day a month lacks, 260231, is left to the venue: it lists none).
_DATE = r"[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
_DATED = r"[A-Z0-9]{2,12}/[A-Z0-9]{2,12}:[A-Z0-9]{2,12}-" + _DATE
_STRIKE = r"-[0-9]{1,12}([.][0-9]{1,8})?-[CP]"
FUTURE_PATTERN = f"^{_DATED}$"
OPTION_PATTERN = f"^{_DATED}{_STRIKE}$"
# A dated ccxt symbol: a future BASE/QUOTE:SETTLE-YYMMDD, an option BASE/QUOTE:SETTLE-YYMMDD-STRIKE-C|P.
DatedSymbol = Annotated[str, Field(pattern=f"^{_DATED}({_STRIKE})?$", max_length=64)]
# OKX's dated futures and options expire at 08:00 UTC on the day their symbol names.
EXPIRY_HOUR_UTC = 8
# Only OKX's client in ccxt loads dated markets by type (fetch_markets_by_type): on another venue a Future or an
# Option would never be found.
DATED_EXCHANGES = ("okx",)
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
        # An inverse (coin-margined) future's contract is worth a number of USD, not of its base: counted as base
        # units it would be a hundredfold delta. The pattern guarantees one ':' and one '-' after it.
        rule(f"self.kind != 'Future' || !has(self.symbol) || !self.symbol.matches('{FUTURE_PATTERN}') || "
             "self.symbol.split(':')[0].endsWith('/' + self.symbol.split(':')[1].split('-')[0])",
             "a Future must be linear, settled in its quote currency (BTC/USDT:USDT-260327, not the coin-margined "
             "BTC/USD:BTC-260327: its contracts are worth USD, not BTC)", ".symbol"),
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
    """Future and Option: the ccxt symbol (a future BTC/USDT:USDT-260327, an option BTC/USD:BTC-260327-100000-C). A
    Future is linear (settled in its quote). Past its expiry (08:00 UTC on the day it names) it counts zero and the
    book says so; a series the venue does not list before then is refused. OKX only."""
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
        if self.kind is InstrumentKind.FUTURE and quote_of(self.symbol) != settle_of(self.symbol):
            raise ValueError(f"symbol: {self.symbol} is a coin-margined (inverse) future: its contracts are worth "
                             f"{quote_of(self.symbol)}, not {self.asset}; a Future must be linear, settled in its "
                             "quote currency (for example BTC/USDT:USDT-260327)")
        if self.reserve is not None:
            raise ValueError("reserve: applies to Spot only")
        return self

    @property
    def key(self) -> str:
        """What the instrument is on the account: its symbol, or the asset's spot balance."""
        return self.symbol or f"{self.asset} balance"

    @property
    def expiry(self) -> datetime | None:
        """When a Future or Option expires (08:00 UTC on the YYMMDD its symbol names); None for Spot."""
        return None if self.symbol is None else expiry_of(self.symbol)


def quote_of(symbol: str) -> str:
    return symbol.split(":", 1)[0].split("/", 1)[1]


def settle_of(symbol: str) -> str:
    return symbol.split(":", 1)[1].split("-", 1)[0]


def expiry_of(symbol: str) -> datetime:
    """A dated symbol's expiry: OKX's dated futures and options expire at 08:00 UTC on the day they name."""
    day = symbol.split(":", 1)[1].split("-")[1]
    return datetime.strptime(day, "%y%m%d").replace(hour=EXPIRY_HOUR_UTC, tzinfo=UTC)


def check_instruments(instruments: list[DeltaInstrument], legs: set[str], balance_assets: set[str],
                      exchange: str) -> None:
    """Book-level rules (book_rules says the same in CEL): each names an asset with a leg, once; a spot balance the
    holdings already read is not counted a second time; futures and options only where they can be loaded; no spot
    balance beside an option settled in that asset."""
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
        if i.kind is not InstrumentKind.SPOT and exchange not in DATED_EXCHANGES:
            raise ValueError(f"{where}: {DATED_MESSAGE} ({exchange} cannot load {i.symbol})")
    spots = {i.asset for i in instruments if i.kind is InstrumentKind.SPOT}
    for n, i in enumerate(instruments):
        if i.kind is InstrumentKind.OPTION and i.symbol is not None and settle_of(i.symbol) in spots:
            raise ValueError(f"instruments[{n}]: {i.symbol} is settled in {settle_of(i.symbol)} and the book counts "
                             f"its {settle_of(i.symbol)} Spot balance: {SPOT_AND_OPTION}")


DATED_MESSAGE = ("Future and Option instruments need exchange.name okx (the one venue whose dated markets HedgeOps "
                 "loads)")
SPOT_AND_OPTION = ("OKX's balance of a currency (details.eq) includes the value of the options settled in it, so the "
                   "option would count twice; count the Spot balance or the Option, not both")


def book_rules() -> list[dict[str, str]]:
    """The book-level rules of check_instruments as CEL, for the HedgeBook spec: the API server refuses them too."""
    none = "!has(self.instruments) || "
    same = ("(has(i.symbol) ? (has(j.symbol) && j.symbol == i.symbol) : "
            "(!has(j.symbol) && j.kind == i.kind && j.asset == i.asset))")
    settle = f"o.symbol.matches('{OPTION_PATTERN}') && o.symbol.split(':')[1].split('-')[0] == s.asset"
    return [
        rule(none + f"self.instruments.all(i, self.instruments.exists_one(j, {same}))",
             "an instrument is named twice (each symbol, and each asset's Spot balance, once)", ".instruments"),
        rule(none + "!has(self.holdings.source) || self.holdings.source != 'ExchangeBalance' || "
             "!has(self.holdings.exchangeBalance) || "
             "self.instruments.all(i, i.kind != 'Spot' || !(i.asset in self.holdings.exchangeBalance.assets))",
             "a Spot instrument's asset is already the holding (holdings.exchangeBalance): its balance would count "
             "twice", ".instruments"),
        rule(none + "size(self.instruments) == 0 || !has(self.objective) || !has(self.objective.type) || "
             "self.objective.type != 'Allocation'",
             "objective Allocation trades spot balances; instruments count in a Hedge book's delta", ".instruments"),
        rule(none + "self.instruments.all(i, i.kind == 'Spot') || !has(self.exchange) || !has(self.exchange.name) "
             f"|| self.exchange.name in {list(DATED_EXCHANGES)!r}", DATED_MESSAGE, ".instruments"),
        rule(none + f"!self.instruments.exists(s, s.kind == 'Spot' && self.instruments.exists(o, o.kind == 'Option' "
             f"&& has(o.symbol) && {settle}))", f"a Spot balance beside an Option settled in that asset: "
             f"{SPOT_AND_OPTION}", ".instruments"),
    ]


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

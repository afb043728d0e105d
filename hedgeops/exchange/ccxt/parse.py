"""ccxt's unified dicts (markets, tickers, positions, orders) parsed into the domain's frozen types, with
contracts converted to base units. Nothing here does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt

from hedgeops.exchange.venue import FinalVenueError
from hedgeops.model.market import MarketRules, Quote
from hedgeops.model.orders import Fill, Liquidity, OrderState, OrderStatus, OrderType, Position, Side, parse_enum
from hedgeops.model.vocabulary import E

ZERO = Decimal(0)
# ccxt's order statuses in ours; a status it does not unify (or none) is read as still open, as before.
_STATUS = {s.value: s for s in OrderStatus} | {"cancelled": OrderStatus.CANCELED, "expired": OrderStatus.CANCELED}
# ccxt's order types in ours: an exchange's own time-in-force names that ccxt passes through are limits
# (OKX's post_only, fok, ioc) or market (OKX's optimal_limit_ioc); no type at all is a limit, as before.
_TYPE = {t.value: t for t in OrderType} | {"post_only": OrderType.LIMIT, "fok": OrderType.LIMIT,
                                           "ioc": OrderType.LIMIT, "optimal_limit_ioc": OrderType.MARKET}


def _enum(cls: type[E], value: Any, what: str) -> E:
    """The exchange's text as our enum; anything unknown is a final venue error naming it (a condition on the
    object, never a guess)."""
    try:
        return parse_enum(cls, value, what)
    except ValueError as exc:
        raise FinalVenueError(f"unexpected answer from the exchange: {exc}") from None


def _order_type(value: Any, what: str) -> OrderType:
    if value is None or value == "":
        return OrderType.LIMIT
    known = _TYPE.get(str(value).lower())
    return known if known is not None else _enum(OrderType, value, what)


def dec(x: Any, default: Decimal = ZERO) -> Decimal:
    """A ccxt number as Decimal. ccxt parses exchange strings to float; the shortest repr gives them back."""
    return default if x is None or x == "" else Decimal(str(x))


def _step(precision: Any, mode: int) -> Decimal:
    if mode == ccxt.TICK_SIZE:
        return dec(precision)
    return Decimal(1).scaleb(-int(precision))  # DECIMAL_PLACES / SIGNIFICANT_DIGITS: a count of decimals


def market_rules(m: Mapping[str, Any], precision_mode: int) -> MarketRules:
    """Steps and minimums in base units: contract markets multiply by the contract size."""
    size = contract_size(m)
    amount_step = _step(m["precision"]["amount"], precision_mode)
    min_native = dec((m.get("limits") or {}).get("amount", {}).get("min"), amount_step)
    linear_swap = bool(m.get("swap")) and bool(m.get("linear")) and m.get("settle") == m.get("quote")
    return MarketRules(str(m["symbol"]), str(m["base"]), str(m["quote"]), amount_step * size,
                       _step(m["precision"]["price"], precision_mode), max(min_native, amount_step) * size,
                       linear_swap)


def _at(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms else datetime.now(UTC)


def quote(symbol: str, t: Mapping[str, Any]) -> Quote:
    last = dec(t.get("last") or t.get("close"))
    bid, ask = dec(t.get("bid"), last), dec(t.get("ask"), last)
    return Quote(symbol, bid, ask, last or (bid + ask) / 2, _at(t.get("timestamp")))


def contract_size(m: Mapping[str, Any]) -> Decimal:
    """Base units in one contract of a market (1 for spot). OKX states an option's size in ctMult (a BTC option is
    ctVal 1 × ctMult 0.01 BTC) where ccxt's contractSize reads ctVal alone, so the raw listing's product wins."""
    if not m.get("contract"):
        return Decimal(1)
    info = m.get("info") or {}
    if m.get("option") and info.get("ctVal") not in (None, "") and info.get("ctMult") not in (None, ""):
        return dec(info["ctVal"]) * dec(info["ctMult"])
    return dec(m.get("contractSize"), Decimal(1))


def base_sized(m: Mapping[str, Any]) -> bool:
    """Whether contract_size is in base units. ccxt's contractSize of an inverse (coin-margined) dated future is in
    the quote currency (OKX BTC-USD-261225: 100 USD), and a position in it is no number of BTC without a price; an
    option keeps its own ctVal × ctMult sizing, and inverse swaps are refused as legs where they are checked."""
    return not (m.get("future") and m.get("inverse"))


def option_delta(p: Mapping[str, Any]) -> Decimal | None:
    """The venue's delta of a whole option position in units of the underlying (OKX: deltaBS, the Black-Scholes
    delta of the position's USD value, the one a book measured in its quote currency hedges), or None when the
    venue reports none or something that is no finite number: the caller refuses to guess."""
    raw = (p.get("info") or {}).get("deltaBS")
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        return None
    return value if value.is_finite() else None


def position(p: Mapping[str, Any], contract_size: Decimal, *, option: bool = False) -> Position:
    """A signed position in base units (ccxt reports unsigned contracts and a side); an option's with its delta."""
    qty = dec(p.get("contracts")) * contract_size
    if p.get("side") == "short" and qty > 0:
        qty = -qty
    return Position(str(p["symbol"]), qty, dec(p.get("entryPrice")), dec(p.get("unrealizedPnl")),
                    option_delta(p) if option else None)


def _fee_quote(fee: Mapping[str, Any] | None, price: Decimal | None, market: Mapping[str, Any]) -> Decimal:
    """A fee in quote: one charged in the base asset (spot buys on many venues) is valued at the fill price."""
    fee = fee or {}
    cost = dec(fee.get("cost"))
    if fee.get("currency") and fee.get("currency") == market.get("base"):
        cost *= price or ZERO
    return abs(cost)


def fill(t: Mapping[str, Any], contract_size: Decimal, market: Mapping[str, Any]) -> Fill:
    price = dec(t.get("price"))
    return Fill(str(t.get("id")), str((t.get("info") or {}).get("clOrdId") or t.get("order") or ""), str(t["symbol"]),
                _enum(Side, t["side"], f"trade {t.get('id')} side"), dec(t.get("amount")) * contract_size, price,
                _fee_quote(t.get("fee"), price, market), t.get("takerOrMaker") == Liquidity.MAKER,
                _at(t.get("timestamp")))


def order_state(o: Mapping[str, Any], contract_size: Decimal, market: Mapping[str, Any]) -> OrderState:
    """An order in base units; the fee in quote (a fee charged in the base asset is valued at the average)."""
    amount = dec(o.get("amount")) * contract_size
    filled = dec(o.get("filled")) * contract_size
    average = dec(o.get("average")) or None
    status = _STATUS.get(str(o.get("status")).lower(), OrderStatus.OPEN)
    post_only = bool(o.get("postOnly")) or o.get("timeInForce") == "PO"
    cid = str(o.get("clientOrderId") or o.get("id"))
    fill_ms = o.get("lastTradeTimestamp")
    trade = (o.get("info") or {}).get("tradeId")
    return OrderState(cid, str(o["symbol"]), _enum(Side, o["side"], f"order {cid} side"), amount, filled,
                      dec(o.get("price")) or None, average, status, _fee_quote(o.get("fee"), average, market),
                      _order_type(o.get("type"), f"order {cid} type"), post_only,
                      int(fill_ms) if isinstance(fill_ms, int | float) else None,
                      str(trade) if isinstance(trade, str | int) and str(trade) else None)


def quote_volume(t: Mapping[str, Any], market: Mapping[str, Any]) -> Decimal:
    """A ticker's 24 h volume in the quote currency. ccxt fills quoteVolume for spot; for OKX derivatives it
    leaves it empty and the raw volCcy24h is in base units; otherwise base volume (contracts) × size × last."""
    last = dec(t.get("last") or t.get("close"))
    if t.get("quoteVolume") is not None:
        return dec(t["quoteVolume"])
    info = t.get("info") or {}
    if market.get("contract") and info.get("volCcy24h") is not None:
        return dec(info["volCcy24h"]) * last
    size = dec(market.get("contractSize") or 1) if market.get("contract") else Decimal(1)
    return dec(t.get("baseVolume")) * size * last

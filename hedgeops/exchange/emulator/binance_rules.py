"""The Binance USDⓈ-M dialect's vocabulary (issue 19, item 5): the perpetuals as Binance lists them, its error
answers, its parameter rules and number formats, and the base the dialect's handlers share."""

from __future__ import annotations

import bisect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from aiohttp import web

from hedgeops.exchange.emulator.state import Account, Emulator
from hedgeops.model.market import Quote
from hedgeops.model.orders import Fill, Side

D = Decimal
ZERO = D(0)
# PERCENT_PRICE as exchangeInfo advertises it: a BUY may be priced at most markPrice × UP (-4016), a SELL at least
# markPrice × DOWN (-4024). The emulator's mark is the instrument's one replayed price.
PERCENT_UP, PERCENT_DOWN = D("1.0500"), D("0.9500")
MAINT_RATE = D("0.004")  # Binance's first maintenance-margin bracket for BTC/ETH/SOL USDT perps (0.4 %)
MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
AHEAD_MS = 1_000  # Binance refuses a timestamp more than 1 s ahead of its clock
CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")  # Binance's documented newClientOrderId pattern
NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")  # Binance's legal range for quantity and price
INTEGER = re.compile(r"^-?[0-9]{1,20}$")
API_KEY = web.RequestKey("binance_api_key", str)
PARAMS: web.RequestKey[dict[str, str]] = web.RequestKey("binance_params", dict)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Params = Mapping[str, str]


@dataclass(frozen=True)
class BinancePerp:
    """One USDⓈ-M perpetual as Binance lists it in /fapi/v1/exchangeInfo.

    tick and step: Binance's PRICE_FILTER tickSize and LOT_SIZE stepSize for these symbols as a public snapshot of
    the live exchangeInfo holds them (melight402/trading-back constants/binancePrecision.js: BTCUSDT 0.10 / 0.001,
    ETHUSDT 0.01 / 0.001, SOLUSDT 0.0100 / 0.01). MIN_NOTIONAL (100 / 20 / 5 USDT), the price and quantity bounds
    and the precisions are Binance's published values as remembered, not checked against a stored copy: no
    Binance instrument metadata is bundled (../shared/data has candles, book and funding files only)."""

    symbol: str
    base: str
    tick: Decimal
    step: Decimal
    min_price: Decimal
    max_price: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    price_precision: int
    quantity_precision: int
    max_leverage: int
    onboard_ms: int

    @property
    def ccxt(self) -> str:
        return f"{self.base}/USDT:USDT"

    def json(self) -> dict[str, Any]:
        """A /fapi/v1/exchangeInfo `symbols` row."""
        return {
            "symbol": self.symbol, "pair": self.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
            "onboardDate": self.onboard_ms, "status": "TRADING", "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000", "baseAsset": self.base, "quoteAsset": "USDT", "marginAsset": "USDT",
            "pricePrecision": self.price_precision, "quantityPrecision": self.quantity_precision,
            "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
            "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": str(self.min_price), "maxPrice": str(self.max_price),
                 "tickSize": str(self.tick)},
                {"filterType": "LOT_SIZE", "minQty": str(self.step), "maxQty": str(self.max_qty),
                 "stepSize": str(self.step)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": str(self.step), "maxQty": str(self.market_max_qty),
                 "stepSize": str(self.step)},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": str(self.min_notional)},
                {"filterType": "PERCENT_PRICE", "multiplierUp": str(PERCENT_UP), "multiplierDown": str(PERCENT_DOWN),
                 "multiplierDecimal": "4"},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                           "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY"],
        }


PERPS: dict[str, BinancePerp] = {p.symbol: p for p in (
    BinancePerp("BTCUSDT", "BTC", D("0.10"), D("0.001"), D("261.10"), D("809484"), D("1000"), D("120"), D("100"),
                2, 3, 125, 1569398400000),
    BinancePerp("ETHUSDT", "ETH", D("0.01"), D("0.001"), D("39.86"), D("306177"), D("10000"), D("2000"), D("20"),
                2, 3, 125, 1569398400000),
    BinancePerp("SOLUSDT", "SOL", D("0.0100"), D("0.01"), D("0.4200"), D("6857"), D("1000000"), D("5000"), D("5"),
                4, 2, 100, 1600160400000),
)}
BY_CCXT: dict[str, BinancePerp] = {p.ccxt: p for p in PERPS.values()}
CCXT_SYMBOLS = sorted(BY_CCXT)
# Kline intervals Binance knows, in seconds; those finer than the replayed candles are refused (-1120).
INTERVALS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200, "4h": 14400,
             "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800}


class BinanceError(Exception):
    """A Binance error answer: code, message, HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def missing(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def _num(x: Decimal) -> str:
    return format(x.normalize(), "f") if x else "0"


def _fixed(x: Decimal, places: int) -> str:
    """Binance's fixed-decimals strings ("0.00000000")."""
    return format(x.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_EVEN), "f")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    """A time parameter in milliseconds; beyond what a date can hold (20 digits pass the syntax) it is invalid."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise BinanceError(-1130, "Data sent for a time parameter is not valid.") from None


def _int(params: Params, name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not INTEGER.match(raw):
        raise illegal(name, "^-?[0-9]{1,20}$")
    return int(raw)


def _decimal(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not NUMBER.match(raw):
        raise illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
    return D(raw)


def _perp(params: Params, required: bool = True) -> BinancePerp | None:
    raw = params.get("symbol")
    if not raw:
        if required:
            raise missing("symbol")
        return None
    perp = PERPS.get(raw)
    if perp is None:
        raise BinanceError(-1121, "Invalid symbol.")
    return perp


def _limit(params: Params, default: int, most: int) -> int:
    n = _int(params, "limit", default)
    assert n is not None
    if n <= 0:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    return min(n, most)


def _places(x: Decimal) -> int:
    exp = x.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


@dataclass
class _Meta:
    """What Binance shows of an order that the matching core does not keep."""

    order_id: int
    tif: str
    orig_type: str  # LIMIT or MARKET
    reduce_only: bool
    time_ms: int  # replay time of placement
    wall_ms: int  # wall time of placement (the show-delay fault)
    update_ms: int


@dataclass
class _Transfer:
    tran_id: int
    amount: Decimal  # + into the futures wallet
    at: datetime


@dataclass
class _Keyed:
    """The dialect's bookkeeping per API key (the account itself is the Emulator's)."""

    meta: dict[str, _Meta] = field(default_factory=dict)  # clientOrderId -> meta
    transfers: list[_Transfer] = field(default_factory=list)


def realized_by_fill(fills: list[Fill]) -> dict[str, Decimal]:
    """Each fill's realised PnL (trade id -> amount), walking the fills in order as the account books them."""
    out: dict[str, Decimal] = {}
    book: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (qty, entry)
    for f in fills:
        qty, entry = book.get(f.symbol, (ZERO, ZERO))
        signed = f.qty if f.side == Side.BUY else -f.qty
        if qty == 0 or (qty > 0) == (signed > 0):
            new = qty + signed
            entry = (entry * abs(qty) + f.price * abs(signed)) / abs(new)
            out[f.trade_id] = ZERO
            book[f.symbol] = (new, entry)
            continue
        closing = min(abs(signed), abs(qty))
        out[f.trade_id] = closing * (f.price - entry) * (1 if qty > 0 else -1)
        new = qty + signed
        book[f.symbol] = (new, ZERO if new == 0 else (f.price if (new > 0) != (qty > 0) else entry))
    return out



def _given(request: web.Request) -> dict[str, str]:
    """The request's parameters (query and body) as the middleware read them."""
    given: dict[str, str] = request[PARAMS]
    return given


def bisect_index(series: Any, start: datetime) -> int:
    """The index of the bar opening at `start` in a CandleSeries (its columns are sorted by open time)."""
    return bisect.bisect_left(series.ts, _ms(start))


def _unsigned(raw: bytes) -> bytes:
    """A query string or body as signed: the `signature` parameter taken out."""
    if b"signature=" not in raw:
        return raw
    return b"&".join(p for p in raw.split(b"&") if not p.startswith(b"signature="))




class BinanceBase:
    """What every part of the dialect reads: the Emulator and the per-key bookkeeping."""

    emu: Emulator
    _keyed: dict[str, _Keyed]
    _next_tran: int

    def _account(self, request: web.Request) -> Account:
        return self.emu.account(request[API_KEY])

    def _keyed_for(self, request: web.Request) -> _Keyed:
        return self._keyed.setdefault(request[API_KEY], _Keyed())

    def _now_ms(self) -> int:
        return _ms(self.emu.clock())

    def _quote(self, perp: BinancePerp) -> Quote:
        return self.emu.account("__public__").venue.quote(perp.ccxt)

    def _each(self, request: web.Request, row: Callable[[BinancePerp], dict[str, Any]]) -> web.Response:
        """One symbol's object when `symbol` is given, else a list of every symbol's (Binance's shape)."""
        perp = _perp(_given(request), required=False)
        if perp is not None:
            return web.json_response(row(perp))
        return web.json_response([row(p) for p in PERPS.values()])

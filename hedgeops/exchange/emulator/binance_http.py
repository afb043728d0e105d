"""The emulator's Binance USDⓈ-M futures face (issue 19, item 5): `/fapi/*` REST as Binance answers it and as
ccxt.binanceusdm calls it, over the same Emulator (one paper account per API key, the shared matching core) as the
OKX dialect. Signed endpoints take an HMAC-SHA256 hex `signature` of the query string followed by the body, the
`X-MBX-APIKEY` header and a `timestamp` inside `recvWindow`; errors are Binance's `{"code": -1121, "msg": ...}`
with its HTTP status. Sizes are base units (Binance's quantities); USDT-margined perpetuals only.

Clocks: the signed `timestamp` is checked against the wall clock (the signer's clock is real), and so
`/fapi/v1/time` answers the wall clock (a client that syncs to it then signs fresh timestamps); every market and
account time (tickers, candles, orders, fills, income) is the replay clock's."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hedgeops.exchange.emulator.state import Account, Emulator
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.exchange.paper.account import DEFAULT_LEVERAGE, InsufficientFunds
from hedgeops.exchange.paper.synthetic_book import synthetic_book
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderRejected, VenueError
from hedgeops.model.market import Quote
from hedgeops.model.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType, Side

D = Decimal
ZERO = D(0)
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
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
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
    return datetime.fromtimestamp(ms / 1000, UTC)


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


class BinanceApp:
    """Routes, authentication and faults around an Emulator, in Binance USDⓈ-M's dialect."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.requests = 0
        self._keyed: dict[str, _Keyed] = {}
        self._next_tran = 0
        self.app = web.Application(middlewares=[self._middleware])
        r = self.app.router
        public: list[tuple[str, Handler]] = [
            ("/fapi/v1/ping", self.ping), ("/fapi/v1/time", self.server_time),
            ("/fapi/v1/exchangeInfo", self.exchange_info), ("/fapi/v1/depth", self.depth),
            ("/fapi/v1/ticker/24hr", self.ticker_24hr), ("/fapi/v1/ticker/bookTicker", self.book_ticker),
            ("/fapi/v1/ticker/price", self.ticker_price), ("/fapi/v2/ticker/price", self.ticker_price),
            ("/fapi/v1/premiumIndex", self.premium_index), ("/fapi/v1/fundingRate", self.funding_rate),
            ("/fapi/v1/fundingInfo", self.funding_info), ("/fapi/v1/klines", self.klines),
            ("/fapi/v1/markPriceKlines", self.klines), ("/fapi/v1/indexPriceKlines", self.klines),
        ]
        for path, handler in public:
            r.add_get(path, handler)
        self._public = {path for path, _ in public}
        r.add_get("/fapi/v2/balance", self.balance)
        r.add_get("/fapi/v3/balance", self.balance)
        r.add_get("/fapi/v2/account", self.account_v2)
        r.add_get("/fapi/v3/account", self.account_v3)
        r.add_get("/fapi/v2/positionRisk", self.position_risk_v2)
        r.add_get("/fapi/v3/positionRisk", self.position_risk_v3)
        r.add_get("/fapi/v1/positionSide/dual", self.position_mode)
        r.add_get("/fapi/v1/multiAssetsMargin", self.multi_assets)
        r.add_post("/fapi/v1/leverage", self.set_leverage)
        r.add_get("/fapi/v1/leverageBracket", self.leverage_bracket)
        r.add_post("/fapi/v1/order", self.new_order)
        r.add_get("/fapi/v1/order", self.query_order)
        r.add_delete("/fapi/v1/order", self.cancel_order)
        r.add_get("/fapi/v1/openOrders", self.open_orders)
        r.add_delete("/fapi/v1/allOpenOrders", self.cancel_all)
        r.add_get("/fapi/v1/allOrders", self.all_orders)
        r.add_get("/fapi/v1/userTrades", self.user_trades)
        r.add_get("/fapi/v1/income", self.income)
        r.add_get("/sapi/v1/capital/config/getall", self.coins)
        r.add_get("/sapi/v1/margin/allPairs", self.margin_pairs)
        r.add_post("/sapi/v1/asset/transfer", self.asset_transfer)
        r.add_post("/sapi/v1/futures/transfer", self.futures_transfer)

    # ---- plumbing ------------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests += 1
        faults = self.emu.faults
        if faults.maintenance > 0:
            faults.maintenance -= 1
            return web.Response(status=503, text="Service Unavailable")
        if faults.rate_limited > 0:
            faults.rate_limited -= 1
            return web.json_response({"code": -1003, "msg": "Too many requests; current limit of IP is 2400 "
                                      "requests per minute."}, status=429)
        private = request.path not in self._public
        try:
            params = await self._params(request)
            request[PARAMS] = params
            if private and request.match_info.http_exception is None:
                request[API_KEY] = await self._authenticate(request, params)
                self.emu.settle_funding(self.emu.account(request[API_KEY]))
            response = await handler(request)
        except BinanceError as exc:
            response = web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)
        except web.HTTPException as exc:  # 404 for unknown paths, 405 for a method a path does not take
            if exc.status < 400:
                raise
            response = web.json_response({"code": -1, "msg": exc.reason}, status=exc.status)
        except VenueError as exc:  # no replayed price yet, and the like: the market's answer, not ours
            response = web.json_response({"code": -1, "msg": str(exc)[:200]}, status=503)
        if faults.timeouts > 0 and private:
            faults.timeouts -= 1
            await asyncio.sleep(faults.timeout_seconds)  # the work is done; the answer comes too late
        elif (faults.stall_after_orders is not None and request.path == "/fapi/v1/order" and request.method == "POST"
              and self.emu.orders_placed() > faults.stall_after_orders):
            await asyncio.sleep(faults.timeout_seconds)
        return response

    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        """Query and form body as one mapping (the body wins, as on Binance); bytes that are not UTF-8 are an
        illegal-characters error, not a crash."""
        try:
            body = (await request.read()).decode()
            pairs = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
            pairs += parse_qsl(body, keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            raise BinanceError(-1100, "Illegal characters found in a parameter.") from None
        return dict(pairs)

    async def _authenticate(self, request: web.Request, params: Params) -> str:
        key = request.headers.get("X-MBX-APIKEY", "")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        creds = self.emu.keys.get(key)
        if creds is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        stamp = _int(params, "timestamp")
        if stamp is None:
            raise missing("timestamp")
        window = _int(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
        assert window is not None
        if not 0 < window <= MAX_RECV_WINDOW_MS:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now = int(time.time() * 1000)  # wall time: the signer's clock is real, not replayed
        if stamp > now + AHEAD_MS:
            raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - stamp > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
        sent = params.get("signature", "")
        if not sent:
            raise missing("signature")
        body = await request.read()
        payload = _unsigned(request.rel_url.raw_query_string.encode()) + _unsigned(body)
        want = hmac.new(creds.secret.encode(), payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sent.lower().encode("utf-8", "surrogateescape"), want.encode()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        return key

    def _account(self, request: web.Request) -> Account:
        return self.emu.account(request[API_KEY])

    def _keyed_for(self, request: web.Request) -> _Keyed:
        return self._keyed.setdefault(request[API_KEY], _Keyed())

    def _now_ms(self) -> int:
        return _ms(self.emu.clock())

    def _quote(self, perp: BinancePerp) -> Quote:
        return self.emu.account("__public__").venue.quote(perp.ccxt)

    # ---- public --------------------------------------------------------------------------------------------

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def server_time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response({
            "timezone": "UTC", "serverTime": int(time.time() * 1000), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [p.json() for p in PERPS.values()],
        })

    async def depth(self, request: web.Request) -> web.Response:
        params = _given(request)
        perp = _perp(params)
        assert perp is not None
        levels = _limit(params, 500, 1000)
        q = self._quote(perp)
        book = synthetic_book(q, PAPER_MARKETS[perp.ccxt], levels)
        now = self._now_ms()
        return web.json_response({
            "lastUpdateId": now, "E": now, "T": now,
            "bids": [[_num(p), _num(s)] for p, s in book.bids], "asks": [[_num(p), _num(s)] for p, s in book.asks]})

    def _24hr(self, perp: BinancePerp) -> dict[str, Any]:
        q = self._quote(perp)
        now = self.emu.clock()
        series = self.emu.replay.series(perp.ccxt)
        bars = list(series.bars_between(now - timedelta(days=1), now))
        open_ = bars[0].open if bars else q.last
        high = max((b.high for b in bars), default=q.last)
        low = min((b.low for b in bars), default=q.last)
        base, quote = series.volume_24h(now)
        change = q.last - open_
        return {"symbol": perp.symbol, "priceChange": _num(change),
                "priceChangePercent": _fixed(change / open_ * 100 if open_ else ZERO, 3),
                "weightedAvgPrice": _num((quote / base).quantize(perp.tick)) if base else _num(q.last),
                "lastPrice": _num(q.last), "lastQty": _num(perp.step), "openPrice": _num(open_),
                "highPrice": _num(high), "lowPrice": _num(low), "volume": _num(base), "quoteVolume": _num(quote),
                "openTime": _ms(now - timedelta(days=1)), "closeTime": _ms(now), "firstId": 0, "lastId": 0,
                "count": 0}

    def _each(self, request: web.Request, row: Callable[[BinancePerp], dict[str, Any]]) -> web.Response:
        """One symbol's object when `symbol` is given, else a list of every symbol's (Binance's shape)."""
        perp = _perp(_given(request), required=False)
        if perp is not None:
            return web.json_response(row(perp))
        return web.json_response([row(p) for p in PERPS.values()])

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        return self._each(request, self._24hr)

    async def book_ticker(self, request: web.Request) -> web.Response:
        def row(perp: BinancePerp) -> dict[str, Any]:
            q = self._quote(perp)
            size = _num(synthetic_book(q, PAPER_MARKETS[perp.ccxt], 1).bids[0][1])
            return {"symbol": perp.symbol, "bidPrice": _num(q.bid), "bidQty": size, "askPrice": _num(q.ask),
                    "askQty": size, "time": self._now_ms(), "lastUpdateId": self._now_ms()}
        return self._each(request, row)

    async def ticker_price(self, request: web.Request) -> web.Response:
        return self._each(request, lambda p: {"symbol": p.symbol, "price": _num(self._quote(p).last),
                                              "time": self._now_ms()})

    def _premium(self, perp: BinancePerp) -> dict[str, Any]:
        now = self.emu.clock()
        mark = self._quote(perp).last
        nxt = self.emu.funding.next_after(perp.ccxt, now)
        if nxt is None:
            raise BinanceError(-1, f"No funding rate for {perp.symbol} after {now.isoformat()} in the data", 503)
        return {"symbol": perp.symbol, "markPrice": _fixed(mark, 8), "indexPrice": _fixed(mark, 8),
                "estimatedSettlePrice": _fixed(mark, 8), "lastFundingRate": _fixed(nxt.rate, 8),
                "interestRate": "0.00010000", "nextFundingTime": _ms(nxt.at), "time": _ms(now)}

    async def premium_index(self, request: web.Request) -> web.Response:
        return self._each(request, self._premium)

    async def funding_rate(self, request: web.Request) -> web.Response:
        """Settlements, oldest first: the last `limit` up to now, or from `startTime` on."""
        params = _given(request)
        perp = _perp(params)
        assert perp is not None
        limit = _limit(params, 100, 1000)
        now = self.emu.clock()
        start, end = _int(params, "startTime"), _int(params, "endTime")
        until = min(now, _at(end)) if end is not None else now
        if start is not None:
            rows = self.emu.funding.between(perp.ccxt, _at(start - 1), until)[:limit]
        else:
            rows = list(reversed(self.emu.funding.last_before(perp.ccxt, until, limit)))
        series = self.emu.replay.series(perp.ccxt)
        out = []
        for s in rows:
            bar = series.last_closed(s.at)
            out.append({"symbol": perp.symbol, "fundingRate": _fixed(s.rate, 8), "fundingTime": _ms(s.at),
                        "markPrice": _fixed(bar.close, 8) if bar else ""})
        return web.json_response(out)

    async def funding_info(self, request: web.Request) -> web.Response:
        return web.json_response([{"symbol": p.symbol, "adjustedFundingRateCap": "0.03000000",
                                   "adjustedFundingRateFloor": "-0.03000000", "fundingIntervalHours": 8,
                                   "disclaimer": False} for p in PERPS.values()])

    async def klines(self, request: web.Request) -> web.Response:
        """Candles of the replayed data aggregated to `interval` (a multiple of the data's own step): the closed
        ones, then the one under way (its closed bars so far, or the latest price alone)."""
        params = _given(request)
        perp = _perp(params, required=False) or PERPS.get(params.get("pair", ""))
        if perp is None:
            raise missing("symbol") if not params.get("symbol") and not params.get("pair") else BinanceError(
                -1121, "Invalid symbol.")
        interval = params.get("interval")
        if not interval:
            raise missing("interval")
        seconds = INTERVALS.get(interval)
        if seconds is None:
            raise BinanceError(-1120, "Invalid interval.")
        limit = _limit(params, 500, 1500)
        series = self.emu.replay.series(perp.ccxt)
        now = self.emu.clock()
        step = series.step_at(now)
        if seconds % step:
            raise BinanceError(-1120, f"Invalid interval: the replayed candles are {step // 60}m")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        until = min(now, _at(end + 1)) if end is not None else now
        span = timedelta(seconds=seconds)
        since = _at(start) if start is not None else until - span * (limit + 1)
        out: list[list[Any]] = []
        rows: dict[int, list[Any]] = {}
        ms = seconds * 1000
        for bar in series.bars_between(since - span, until):
            i = bisect_index(series, bar.start)
            vol = D(repr(series.cum_base[i + 1] - series.cum_base[i]))
            qvol = D(repr(series.cum_quote[i + 1] - series.cum_quote[i]))
            bucket = _ms(bar.start) // ms * ms
            row = rows.get(bucket)
            if row is None:
                row = rows[bucket] = [bucket, bar.open, bar.high, bar.low, bar.close, vol, bucket + ms - 1, qvol,
                                      0, ZERO, ZERO, "0"]
                out.append(row)
            else:
                row[2], row[3], row[4] = max(row[2], bar.high), min(row[3], bar.low), bar.close
                row[5] += vol
                row[7] += qvol
        if until == now:  # the candle under way ends the list, as on Binance: what is known of it so far
            bucket = _ms(now) // ms * ms
            if bucket not in rows:
                last = self._quote(perp).last
                out.append([bucket, last, last, last, last, ZERO, bucket + ms - 1, ZERO, 0, ZERO, ZERO, "0"])
        done = [r for r in out if r[0] <= _ms(until) and (start is None or r[0] >= start)]
        done = done[:limit] if start is not None else done[-limit:]
        return web.json_response([[r[0], _num(r[1]), _num(r[2]), _num(r[3]), _num(r[4]), _fixed(r[5], 3), r[6],
                                   _fixed(r[7], 4), 0, "0", "0", "0"] for r in done])

    # ---- account -------------------------------------------------------------------------------------------

    async def _figures(self, acct: Account) -> dict[str, Any]:
        """Wallet, PnL and margin figures of the account, and its positions by ccxt symbol."""
        snap = await acct.venue.snapshot(CCXT_SYMBOLS)
        wallet = acct.venue.account.quote_balance
        positions = snap.positions
        upl = sum((p.unrealized_pnl for p in positions.values()), ZERO)
        pos_im = maint = ZERO
        for s, p in positions.items():
            notional = abs(p.qty) * snap.quotes[s].last
            pos_im += notional / acct.leverage.get(s, DEFAULT_LEVERAGE)
            maint += notional * MAINT_RATE
        ord_im = sum(((o.remaining * (o.price or ZERO)) / acct.leverage.get(o.symbol, DEFAULT_LEVERAGE)
                      for o in snap.open_orders if o.symbol in BY_CCXT), ZERO)
        available = wallet + upl - pos_im - ord_im
        return {"wallet": wallet, "upl": upl, "margin": wallet + upl, "pos_im": pos_im, "ord_im": ord_im,
                "im": pos_im + ord_im, "maint": maint, "available": available,
                "max_withdraw": max(ZERO, min(wallet, available)), "positions": positions, "quotes": snap.quotes,
                "orders": snap.open_orders, "at": _ms(snap.at)}

    async def balance(self, request: web.Request) -> web.Response:
        f = await self._figures(self._account(request))
        return web.json_response([{
            "accountAlias": "SgsR", "asset": "USDT", "balance": _fixed(f["wallet"], 8),
            "crossWalletBalance": _fixed(f["wallet"], 8), "crossUnPnl": _fixed(f["upl"], 8),
            "availableBalance": _fixed(f["available"], 8), "maxWithdrawAmount": _fixed(f["max_withdraw"], 8),
            "marginAvailable": True, "updateTime": f["at"]}])

    @staticmethod
    def _asset(f: Mapping[str, Any], v2: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
               "asset": "USDT", "walletBalance": _fixed(f["wallet"], 8), "unrealizedProfit": _fixed(f["upl"], 8),
               "marginBalance": _fixed(f["margin"], 8), "maintMargin": _fixed(f["maint"], 8),
               "initialMargin": _fixed(f["im"], 8), "positionInitialMargin": _fixed(f["pos_im"], 8),
               "openOrderInitialMargin": _fixed(f["ord_im"], 8), "crossWalletBalance": _fixed(f["wallet"], 8),
               "crossUnPnl": _fixed(f["upl"], 8), "availableBalance": _fixed(f["available"], 8),
               "maxWithdrawAmount": _fixed(f["max_withdraw"], 8)}
        if v2:
            row["marginAvailable"] = True
        row["updateTime"] = f["at"]
        return row

    @staticmethod
    def _totals(f: Mapping[str, Any]) -> dict[str, Any]:
        return {"totalInitialMargin": _fixed(f["im"], 8), "totalMaintMargin": _fixed(f["maint"], 8),
                "totalWalletBalance": _fixed(f["wallet"], 8), "totalUnrealizedProfit": _fixed(f["upl"], 8),
                "totalMarginBalance": _fixed(f["margin"], 8), "totalPositionInitialMargin": _fixed(f["pos_im"], 8),
                "totalOpenOrderInitialMargin": _fixed(f["ord_im"], 8),
                "totalCrossWalletBalance": _fixed(f["wallet"], 8), "totalCrossUnPnl": _fixed(f["upl"], 8),
                "availableBalance": _fixed(f["available"], 8), "maxWithdrawAmount": _fixed(f["max_withdraw"], 8)}

    def _position_figures(self, acct: Account, f: Mapping[str, Any], perp: BinancePerp) -> dict[str, Any]:
        pos = f["positions"].get(perp.ccxt)
        mark = f["quotes"][perp.ccxt].last
        qty = pos.qty if pos else ZERO
        lever = acct.leverage.get(perp.ccxt, DEFAULT_LEVERAGE)
        notional = qty * mark
        orders = [o for o in f["orders"] if o.symbol == perp.ccxt]
        bid = sum((o.remaining * (o.price or ZERO) for o in orders if o.side == Side.BUY), ZERO)
        ask = sum((o.remaining * (o.price or ZERO) for o in orders if o.side == Side.SELL), ZERO)
        return {"qty": qty, "entry": pos.entry_price if pos else ZERO, "upl": pos.unrealized_pnl if pos else ZERO,
                "mark": mark, "lever": lever, "notional": notional, "im": abs(notional) / lever,
                "ord_im": (bid + ask) / lever, "maint": abs(notional) * MAINT_RATE, "bid": bid, "ask": ask,
                "open": bool(pos) or bool(orders), "at": f["at"]}

    async def account_v2(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        f = await self._figures(acct)
        positions = []
        for perp in PERPS.values():
            p = self._position_figures(acct, f, perp)
            positions.append({
                "symbol": perp.symbol, "initialMargin": _fixed(p["im"] + p["ord_im"], 8),
                "maintMargin": _fixed(p["maint"], 8), "unrealizedProfit": _fixed(p["upl"], 8),
                "positionInitialMargin": _fixed(p["im"], 8), "openOrderInitialMargin": _fixed(p["ord_im"], 8),
                "leverage": _num(p["lever"]), "isolated": False, "entryPrice": _num(p["entry"]),
                "breakEvenPrice": _num(p["entry"]), "maxNotional": "1000000", "bidNotional": _num(p["bid"]),
                "askNotional": _num(p["ask"]), "positionSide": "BOTH", "positionAmt": _num(p["qty"]),
                "updateTime": p["at"]})
        return web.json_response({"feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True,
                                  "canWithdraw": True, "updateTime": 0, "multiAssetsMargin": False,
                                  "tradeGroupId": -1, **self._totals(f), "assets": [self._asset(f, True)],
                                  "positions": positions})

    async def account_v3(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        f = await self._figures(acct)
        positions = []
        for perp in PERPS.values():
            p = self._position_figures(acct, f, perp)
            if p["qty"] == 0:
                continue  # v3 lists only the symbols with a position
            positions.append({
                "symbol": perp.symbol, "positionSide": "BOTH", "positionAmt": _num(p["qty"]),
                "unrealizedProfit": _fixed(p["upl"], 8), "isolatedMargin": "0", "notional": _fixed(p["notional"], 8),
                "isolatedWallet": "0", "initialMargin": _fixed(p["im"] + p["ord_im"], 8),
                "maintMargin": _fixed(p["maint"], 8), "updateTime": p["at"]})
        return web.json_response({**self._totals(f), "assets": [self._asset(f, False)], "positions": positions})

    async def position_risk_v2(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        wanted = _perp(_given(request), required=False)
        f = await self._figures(acct)
        rows = []
        for perp in PERPS.values():
            if wanted is not None and perp != wanted:
                continue
            p = self._position_figures(acct, f, perp)
            rows.append({
                "entryPrice": _num(p["entry"]), "breakEvenPrice": _num(p["entry"]), "marginType": "cross",
                "isAutoAddMargin": "false", "isolatedMargin": "0.00000000", "leverage": _num(p["lever"]),
                "liquidationPrice": "0", "markPrice": _fixed(p["mark"], 8), "maxNotionalValue": "1000000",
                "positionAmt": _num(p["qty"]), "notional": _num(p["notional"]), "isolatedWallet": "0",
                "symbol": perp.symbol, "unRealizedProfit": _fixed(p["upl"], 8), "positionSide": "BOTH",
                "updateTime": p["at"]})
        return web.json_response(rows)

    async def position_risk_v3(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        wanted = _perp(_given(request), required=False)
        f = await self._figures(acct)
        rows = []
        for perp in PERPS.values():
            p = self._position_figures(acct, f, perp)
            if (wanted is not None and perp != wanted) or not p["open"]:
                continue  # v3 lists the symbols with a position or open orders
            rows.append({
                "symbol": perp.symbol, "positionSide": "BOTH", "positionAmt": _num(p["qty"]),
                "entryPrice": _num(p["entry"]), "breakEvenPrice": _num(p["entry"]), "markPrice": _fixed(p["mark"], 8),
                "unRealizedProfit": _fixed(p["upl"], 8), "liquidationPrice": "0", "isolatedMargin": "0",
                "notional": _fixed(p["notional"], 8), "marginAsset": "USDT", "isolatedWallet": "0",
                "initialMargin": _fixed(p["im"] + p["ord_im"], 8), "maintMargin": _fixed(p["maint"], 8),
                "positionInitialMargin": _fixed(p["im"], 8), "openOrderInitialMargin": _fixed(p["ord_im"], 8),
                "adl": 0, "bidNotional": _num(p["bid"]), "askNotional": _num(p["ask"]), "updateTime": p["at"]})
        return web.json_response(rows)

    async def position_mode(self, request: web.Request) -> web.Response:
        return web.json_response({"dualSidePosition": False})  # one-way mode only

    async def multi_assets(self, request: web.Request) -> web.Response:
        return web.json_response({"multiAssetsMargin": False})

    async def leverage_bracket(self, request: web.Request) -> web.Response:
        """One bracket per symbol: the emulator's margin model has a single maintenance rate (Binance lists ten
        or so notional tiers with rising rates)."""
        def row(perp: BinancePerp) -> dict[str, Any]:
            return {"symbol": perp.symbol, "notionalCoef": 1.0, "brackets": [{
                "bracket": 1, "initialLeverage": perp.max_leverage, "notionalCap": 1_000_000, "notionalFloor": 0,
                "maintMarginRatio": float(MAINT_RATE), "cum": 0.0}]}
        return self._each(request, row)

    async def set_leverage(self, request: web.Request) -> web.Response:
        params = _given(request)
        perp = _perp(params)
        assert perp is not None
        raw = params.get("leverage", "")
        if re.fullmatch(r"[0-9]{1,3}\.0+", raw):  # "5.0": what ccxt sends for a float (Binance's type is INT)
            raw = raw.split(".")[0]
        lever = _int({"leverage": raw}, "leverage")
        if lever is None:
            raise missing("leverage")
        if not 1 <= lever <= perp.max_leverage:
            raise BinanceError(-4028, f"Leverage {lever} is not valid")
        self._account(request).leverage[perp.ccxt] = D(lever)
        return web.json_response({"leverage": lever, "maxNotionalValue": "1000000", "symbol": perp.symbol})

    # ---- orders --------------------------------------------------------------------------------------------

    def _order_json(self, request: web.Request, state: OrderState, *, placed: bool = False) -> dict[str, Any]:
        perp = BY_CCXT[state.symbol]
        meta = self._keyed_for(request).meta[state.client_order_id]
        if state.status == OrderStatus.CLOSED:
            status = "FILLED"
        elif state.status == OrderStatus.CANCELED:
            status = "EXPIRED" if meta.tif == "IOC" or meta.orig_type == "MARKET" else "CANCELED"
        else:
            status = "PARTIALLY_FILLED" if state.filled else "NEW"
        cum_quote = state.filled * (state.average or ZERO)
        row: dict[str, Any] = {
            "avgPrice": _num(state.average) if state.average else "0", "clientOrderId": state.client_order_id,
            "cumQuote": _num(cum_quote), "executedQty": _num(state.filled), "orderId": meta.order_id,
            "origQty": _num(state.amount), "origType": meta.orig_type,
            "price": _num(state.price) if state.price is not None else "0", "reduceOnly": meta.reduce_only,
            "side": state.side.upper(), "positionSide": "BOTH", "status": status, "stopPrice": "0",
            "closePosition": False, "symbol": perp.symbol, "time": meta.time_ms, "timeInForce": meta.tif,
            "type": meta.orig_type, "activatePrice": "0", "priceRate": "0", "updateTime": meta.update_ms,
            "workingType": "CONTRACT_PRICE", "priceProtect": False, "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0}
        if placed:  # POST and DELETE answer with cumQty and without `time`, as Binance's do
            del row["time"]
            row["cumQty"] = _num(state.filled)
        return row

    def _touch(self, request: web.Request, acct: Account, state: OrderState) -> None:
        """The order's updateTime: its last fill's time, else its placement (a cancel sets it itself)."""
        meta = self._keyed_for(request).meta[state.client_order_id]
        times = [_ms(f.at) for f in acct.venue.account.fills if f.client_order_id == state.client_order_id]
        if times:
            meta.update_ms = max(meta.update_ms, max(times))

    async def new_order(self, request: web.Request) -> web.Response:
        params = _given(request)
        acct = self._account(request)
        keyed = self._keyed_for(request)
        perp = _perp(params)
        assert perp is not None
        side_raw = params.get("side")
        if not side_raw:
            raise missing("side")
        if side_raw not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        kind = params.get("type")
        if not kind:
            raise missing("type")
        if kind not in ("LIMIT", "MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        if params.get("positionSide", "BOTH") != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        if "quantity" not in params or params["quantity"] == "":
            raise missing("quantity")
        qty = _decimal(params, "quantity")
        assert qty is not None
        price = _decimal(params, "price")
        tif = params.get("timeInForce") or ""
        if kind == "LIMIT":
            if price is None:
                raise missing("price")
            if not tif:
                raise missing("timeInForce")
            if tif not in ("GTC", "IOC", "GTX"):
                raise BinanceError(-1115, "Invalid timeInForce.")
        else:
            if price is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            if tif:
                raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
            tif = "GTC"
        reduce_raw = params.get("reduceOnly", "false")
        if reduce_raw not in ("true", "false"):
            raise BinanceError(-1130, "Data sent for parameter 'reduceOnly' is not valid.")
        reduce = reduce_raw == "true"
        cl = params.get("newClientOrderId") or ""
        if cl and not CLIENT_ID.match(cl):
            raise illegal("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
        if qty <= 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        if _places(qty) > perp.quantity_precision:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if qty % perp.step:
            raise BinanceError(-4023, f"Quantity not increased by step size {perp.step}.")
        if qty < perp.step:
            raise BinanceError(-4004, "Quantity less than min quantity.")
        if qty > (perp.max_qty if kind == "LIMIT" else perp.market_max_qty):
            raise BinanceError(-4005, "Quantity greater than max quantity.")
        if price is not None:
            if price <= 0 or price < perp.min_price:
                raise BinanceError(-4013, "Price less than min price.")
            if price > perp.max_price:
                raise BinanceError(-4016, "Price more than max price.")
            if _places(price) > perp.price_precision:
                raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
            if price % perp.tick:
                raise BinanceError(-4014, "Price not increased by tick size.")
        q = self._quote(perp)
        if not reduce and qty * (price if price is not None else q.last) < perp.min_notional:
            raise BinanceError(-4164, f"Order's notional must be no smaller than {perp.min_notional} (unless you "
                                      "choose reduce only).")
        if cl and cl in acct.venue.account.orders:
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        if self.emu.faults.rejects > 0:
            self.emu.faults.rejects -= 1
            raise BinanceError(-2019, "Margin is insufficient.")
        order_id = int(self.emu.next_ord_id())
        cl = cl or f"emu{order_id}"
        req = OrderRequest(cl, perp.ccxt, Side.BUY if side_raw == "BUY" else Side.SELL, qty,
                           OrderType.LIMIT if kind == "LIMIT" else OrderType.MARKET, price,
                           post_only=tif == "GTX", reduce_only=reduce)
        now = self._now_ms()
        keyed.meta[cl] = _Meta(order_id, tif, kind, reduce, now, int(time.time() * 1000), now)
        acct.ord_ids[cl], acct.by_ord_id[str(order_id)] = str(order_id), cl
        try:
            state = await acct.venue.place(req)
        except (OrderRejected, DuplicateClientOrderId) as exc:
            # Binance records no refused order: the client id is free again.
            acct.venue.account.orders.pop(cl, None)
            del acct.ord_ids[cl], acct.by_ord_id[str(order_id)], keyed.meta[cl]
            if isinstance(exc, DuplicateClientOrderId):
                raise BinanceError(-4116, "ClientOrderId is duplicated.") from None
            if req.post_only and "cross" in str(exc):
                raise BinanceError(-5022, "Due to the order could not be executed as maker, the Post Only order "
                                          "will be rejected. The order will not be recorded in the order history"
                                   ) from None
            if isinstance(exc, InsufficientFunds):
                raise BinanceError(-2019, "Margin is insufficient.") from None
            if "reduce" in str(exc):
                raise BinanceError(-2022, "ReduceOnly Order is rejected.") from None
            raise BinanceError(-1013, f"Filter failure: {exc}") from None
        if tif == "IOC" and not state.done:  # an IOC's rest never rests
            state = await acct.venue.cancel(cl, perp.ccxt)
        self._touch(request, acct, state)
        return web.json_response(self._order_json(request, state, placed=True))

    def _find(self, request: web.Request, acct: Account, params: Params, code: int, msg: str) -> OrderState:
        oid = _int(params, "orderId")
        orig = params.get("origClientOrderId") or ""
        if oid is None and not orig:
            raise BinanceError(-1102, "Either orderId or origClientOrderId must be sent.")
        perp = _perp(params)
        cl = orig or acct.by_ord_id.get(str(oid), "")
        meta = self._keyed_for(request).meta.get(cl)
        state = acct.venue.account.orders.get(cl)
        delay = self.emu.faults.show_delay_seconds
        hidden = delay > 0 and meta is not None and time.time() * 1000 - meta.wall_ms < delay * 1000
        if (state is None or meta is None or hidden or (oid is not None and meta.order_id != oid)
                or perp is None or state.symbol != perp.ccxt):
            raise BinanceError(code, msg)
        return state

    async def query_order(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        state = self._find(request, acct, _given(request), -2013, "Order does not exist.")
        state = await acct.venue.order(state.client_order_id, state.symbol) or state
        self._touch(request, acct, state)
        return web.json_response(self._order_json(request, state))

    async def cancel_order(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        state = self._find(request, acct, _given(request), -2011, "Unknown order sent.")
        state = await acct.venue.order(state.client_order_id, state.symbol) or state
        if state.done:
            raise BinanceError(-2011, "Unknown order sent.")
        state = await acct.venue.cancel(state.client_order_id, state.symbol)
        self._keyed_for(request).meta[state.client_order_id].update_ms = self._now_ms()
        return web.json_response(self._order_json(request, state, placed=True))

    async def cancel_all(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        perp = _perp(_given(request))
        assert perp is not None
        await acct.venue.snapshot(CCXT_SYMBOLS)
        keyed = self._keyed_for(request)
        for s in list(acct.venue.account.open_orders()):
            if s.symbol == perp.ccxt and s.client_order_id in keyed.meta:
                await acct.venue.cancel(s.client_order_id, s.symbol)
                keyed.meta[s.client_order_id].update_ms = self._now_ms()
        return web.json_response({"code": 200, "msg": "The operation of cancel all open order is done."})

    async def open_orders(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        perp = _perp(_given(request), required=False)
        await acct.venue.snapshot(CCXT_SYMBOLS)  # lets resting orders fill first
        meta = self._keyed_for(request).meta
        rows = []
        for s in acct.venue.account.open_orders():
            if s.client_order_id in meta and (perp is None or s.symbol == perp.ccxt):
                self._touch(request, acct, s)
                rows.append(self._order_json(request, s))
        return web.json_response(rows)

    async def all_orders(self, request: web.Request) -> web.Response:
        params = _given(request)
        acct = self._account(request)
        perp = _perp(params)
        assert perp is not None
        limit = _limit(params, 500, 1000)
        start, end, from_id = _int(params, "startTime"), _int(params, "endTime"), _int(params, "orderId")
        await acct.venue.snapshot(CCXT_SYMBOLS)
        meta = self._keyed_for(request).meta
        rows = []
        for cl, m in meta.items():
            state = acct.venue.account.orders.get(cl)
            if state is None or state.symbol != perp.ccxt:
                continue
            if (start is not None and m.time_ms < start) or (end is not None and m.time_ms > end) or (
                    from_id is not None and m.order_id < from_id):
                continue
            self._touch(request, acct, state)
            rows.append(self._order_json(request, state))
        rows.sort(key=lambda r: r["orderId"])
        return web.json_response(rows[:limit] if from_id is not None or start is not None else rows[-limit:])

    async def user_trades(self, request: web.Request) -> web.Response:
        params = _given(request)
        acct = self._account(request)
        perp = _perp(params)
        assert perp is not None
        limit = _limit(params, 500, 1000)
        start, end, from_id = _int(params, "startTime"), _int(params, "endTime"), _int(params, "fromId")
        oid = _int(params, "orderId")
        meta = self._keyed_for(request).meta
        fills = acct.venue.account.fills
        realized = realized_by_fill(fills)
        rows = []
        for f in fills:
            m = meta.get(f.client_order_id)
            if f.symbol != perp.ccxt or m is None:
                continue
            t = _ms(f.at)
            if ((start is not None and t < start) or (end is not None and t > end)
                    or (from_id is not None and int(f.trade_id) < from_id) or (oid is not None and m.order_id != oid)):
                continue
            rows.append({"buyer": f.side == Side.BUY, "commission": _fixed(f.fee_quote, 8), "commissionAsset": "USDT",
                         "id": int(f.trade_id), "maker": f.maker, "orderId": m.order_id, "price": _num(f.price),
                         "qty": _num(f.qty), "quoteQty": _num(f.qty * f.price),
                         "realizedPnl": _fixed(realized.get(f.trade_id, ZERO), 8), "side": f.side.upper(),
                         "positionSide": "BOTH", "symbol": perp.symbol, "time": t})
        return web.json_response(rows[:limit] if from_id is not None or start is not None else rows[-limit:])

    async def income(self, request: web.Request) -> web.Response:
        """Funding fees, commissions, realised PnL and transfers, oldest first."""
        params = _given(request)
        acct = self._account(request)
        perp = _perp(params, required=False)
        kind = params.get("incomeType") or None
        kinds = ("TRANSFER", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION")
        if kind is not None and kind not in kinds and not kind.isupper():
            raise BinanceError(-1130, "Data sent for parameter 'incomeType' is not valid.")
        limit = _limit(params, 100, 1000)
        start, end = _int(params, "startTime"), _int(params, "endTime")
        acct.venue.settle_funding()
        meta = self._keyed_for(request).meta
        rows: list[dict[str, Any]] = []

        def add(symbol: str, typ: str, amount: Decimal, at: datetime, tran: int, trade: str = "") -> None:
            rows.append({"symbol": symbol, "incomeType": typ, "income": _fixed(amount, 8), "asset": "USDT",
                         "info": typ if typ != "FUNDING_FEE" else "FUNDING_FEE", "time": _ms(at), "tranId": tran,
                         "tradeId": trade})

        for t in self._keyed_for(request).transfers:
            add("", "TRANSFER", t.amount, t.at, t.tran_id)
        realized = realized_by_fill(acct.venue.account.fills)
        for f in acct.venue.account.fills:
            p = BY_CCXT.get(f.symbol)
            if p is None or f.client_order_id not in meta:
                continue
            tran = 9_000_000_000 + 2 * int(f.trade_id)
            if realized.get(f.trade_id):
                add(p.symbol, "REALIZED_PNL", realized[f.trade_id], f.at, tran, f.trade_id)
            if f.fee_quote:
                add(p.symbol, "COMMISSION", -f.fee_quote, f.at, tran + 1, f.trade_id)
        for b in acct.venue.account.bills:
            p = BY_CCXT.get(b.symbol)
            if p is not None:
                add(p.symbol, "FUNDING_FEE", b.amount, b.at, 8_000_000_000 + b.bill_id)
        rows = [r for r in rows if (kind is None or r["incomeType"] == kind)
                and (perp is None or r["symbol"] == perp.symbol)
                and (start is None or r["time"] >= start) and (end is None or r["time"] <= end)]
        rows.sort(key=lambda r: (r["time"], r["tranId"]))
        if start is None and end is None:  # Binance: the last 7 days when neither is sent
            since = self._now_ms() - 7 * 86_400_000
            rows = [r for r in rows if r["time"] >= since]
        return web.json_response(rows[:limit] if start is not None else rows[-limit:])

    # ---- wallet (sapi) -------------------------------------------------------------------------------------

    async def coins(self, request: web.Request) -> web.Response:
        """GET /sapi/v1/capital/config/getall: what stock ccxt asks on load_markets when it holds keys."""
        wallet = self._account(request).funding_wallet
        rows = []
        for coin, name, network in (("USDT", "TetherUS", "ETH"), ("BTC", "Bitcoin", "BTC"),
                                    ("ETH", "Ethereum", "ETH"), ("SOL", "Solana", "SOL")):
            free = wallet.get(coin, ZERO)
            rows.append({
                "coin": coin, "depositAllEnable": True, "free": _fixed(free, 8), "freeze": "0", "ipoable": "0",
                "ipoing": "0", "isLegalMoney": False, "locked": "0", "name": name, "storage": "0", "trading": True,
                "withdrawAllEnable": True, "withdrawing": "0",
                "networkList": [{
                    "addressRegex": "", "coin": coin, "depositDesc": "", "depositEnable": True, "isDefault": True,
                    "memoRegex": "", "minConfirm": 12, "name": name, "network": network, "specialTips": "",
                    "unLockConfirm": 0, "withdrawDesc": "", "withdrawEnable": True, "withdrawFee": "1",
                    "withdrawIntegerMultiple": "0.00000001", "withdrawMax": "9999999999",
                    "withdrawMin": "10", "withdrawInternalMin": "0.00000001", "sameAddress": False,
                    "estimatedArrivalTime": 5, "busy": False, "contractAddressUrl": "", "contractAddress": ""}]})
        return web.json_response(rows)

    async def margin_pairs(self, request: web.Request) -> web.Response:
        """GET /sapi/v1/margin/allPairs: stock ccxt reads it with the coins on load_markets (spot margin pairs)."""
        return web.json_response([{"id": 351637150141315861 + i, "symbol": p.symbol, "base": p.base, "quote": "USDT",
                                   "isMarginTrade": True, "isBuyAllowed": True, "isSellAllowed": True}
                                  for i, p in enumerate(PERPS.values())])

    def _move(self, request: web.Request, asset: str, amount: Decimal | None, into_futures: bool) -> int:
        """Spot (the emulator's funding wallet) ↔ USDⓈ-M futures wallet, USDT only."""
        if not asset:
            raise missing("asset")
        if asset != "USDT":
            raise BinanceError(-1130, "Data sent for parameter 'asset' is not valid.")
        if amount is None:
            raise missing("amount")
        if amount <= 0:
            raise BinanceError(-1130, "Data sent for parameter 'amount' is not valid.")
        acct = self._account(request)
        paper = acct.venue.account
        have = acct.funding_wallet.get("USDT", ZERO) if into_futures else paper.quote_balance
        if amount > have:
            raise BinanceError(-5013, "Asset transfer failed: insufficient balance")
        if into_futures:
            acct.funding_wallet["USDT"] = have - amount
            paper.quote_balance += amount
        else:
            paper.quote_balance -= amount
            acct.funding_wallet["USDT"] = acct.funding_wallet.get("USDT", ZERO) + amount
        self._next_tran += 1
        tran = 100_000_000 + self._next_tran
        self._keyed_for(request).transfers.append(
            _Transfer(tran, amount if into_futures else -amount, self.emu.clock()))
        acct.transfers += 1
        return tran

    async def asset_transfer(self, request: web.Request) -> web.Response:
        params = _given(request)
        kind = params.get("type")
        if not kind:
            raise missing("type")
        if kind not in ("MAIN_UMFUTURE", "UMFUTURE_MAIN", "FUNDING_UMFUTURE", "UMFUTURE_FUNDING"):
            raise BinanceError(-1130, "Data sent for parameter 'type' is not valid.")
        tran = self._move(request, params.get("asset", ""), _decimal(params, "amount"), kind.endswith("_UMFUTURE"))
        return web.json_response({"tranId": tran})

    async def futures_transfer(self, request: web.Request) -> web.Response:
        params = _given(request)
        kind = _int(params, "type")
        if kind not in (1, 2):
            raise BinanceError(-1130, "Data sent for parameter 'type' is not valid.")
        tran = self._move(request, params.get("asset", ""), _decimal(params, "amount"), kind == 1)
        return web.json_response({"tranId": tran})


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


@contextlib.asynccontextmanager
async def serving(emu: Emulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[tuple[BinanceApp, str]]:
    """The Binance dialect served in-process on a loopback port (0: a free one); yields the app and its base URL."""
    app = BinanceApp(emu)
    runner = web.AppRunner(app.app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server else port  # type: ignore[attr-defined]
    try:
        yield app, f"http://{host}:{bound}"
    finally:
        await runner.cleanup()

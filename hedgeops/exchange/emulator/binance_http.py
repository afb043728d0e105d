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
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from aiohttp import web

from hedgeops.exchange.emulator.binance_account import BinanceAccount
from hedgeops.exchange.emulator.binance_market import BinanceMarket
from hedgeops.exchange.emulator.binance_orders import BinanceOrders
from hedgeops.exchange.emulator.binance_rules import (
    AHEAD_MS,
    API_KEY,
    DEFAULT_RECV_WINDOW_MS,
    MAX_RECV_WINDOW_MS,
    PARAMS,
    BinanceError,
    Handler,
    Params,
    _int,
    _Keyed,
    _unsigned,
    missing,
)
from hedgeops.exchange.emulator.state import Emulator
from hedgeops.exchange.venue import VenueError

log = logging.getLogger(__name__)


class BinanceApp(BinanceMarket, BinanceAccount, BinanceOrders):
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
            if faults.queued > 0 and private:  # read, then held up before it is judged
                faults.queued -= 1
                await asyncio.sleep(faults.queued_seconds)
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
        except Exception:  # a bug of ours: Binance's UNKNOWN, logged, never a bare 500 page with a traceback
            log.exception("emulator: %s %s failed", request.method, request.path)
            response = web.json_response({"code": -1000, "msg": "An unknown error occured while processing the "
                                          "request."}, status=500)
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


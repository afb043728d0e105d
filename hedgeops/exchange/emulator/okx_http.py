"""The emulator's HTTP face: OKX v5 REST as ccxt speaks it. Envelope {"code","msg","data"}, HMAC-SHA256
signatures checked with the passphrase and a fresh timestamp, sizes in contracts, OKX's error codes, and every
served endpoint's fields as OKX documents them (tests/test_emulator_okx_fields.py holds the lists). One clock: the
replay clock stamps every answer; only the signature's freshness is checked against the wall clock (the signer's).
A key is live or demo (state.Credentials.env) and must sign in its environment (x-simulated-trading: 1 for demo).
Not emulated (refused, never booked as something else): spot margin trading, isolated margin and hedged
(long/short mode) positions, as okx_trade says."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web

from hedgeops.exchange.emulator.okx_account import AccountRoutes
from hedgeops.exchange.emulator.okx_common import (
    _ORDER_PATHS,
    API_KEY,
    PUBLIC,
    Handler,
    OkxError,
    _dec,
    _inst,
    _ms,
    _num,
    _raw,
    log,
    ok,
)
from hedgeops.exchange.emulator.okx_market import MarketRoutes
from hedgeops.exchange.emulator.okx_trade import TradeRoutes
from hedgeops.exchange.emulator.okx_ws import WS_PREFIX, Streams
from hedgeops.exchange.emulator.state import Emulator
from hedgeops.exchange.marketdata.derived import DERIVED
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS

__all__ = ["EmulatorApp", "OkxError", "ok", "serving"]

# OKX refuses a signed request whose OK-ACCESS-TIMESTAMP is more than 30 s from its clock when the request is judged
# (50102), however long it was held up on its way in: so a create whose answer was lost can execute no later than
# that (the wait of hedgeops.exchange.ccxt.venue.CcxtVenue._lost_answer). A module constant: tests shorten it.
TIMESTAMP_WINDOW_SECONDS = 30.0
# OK-ACCESS-TIMESTAMP as OKX takes it: ISO 8601, UTC, milliseconds, "Z" (no offset, no other precision).
ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SIMULATED_HEADER = "x-simulated-trading"


class EmulatorApp(MarketRoutes, AccountRoutes, TradeRoutes):
    """Routes, authentication and faults around an Emulator. `controls` adds the test controls (POST
    /emulator/shock, /emulator/funding): off unless asked for, and signed like any private call."""

    def __init__(self, emu: Emulator, *, controls: bool = False) -> None:
        self.emu = emu
        self.requests = 0
        self.app = web.Application(middlewares=[self._middleware])
        r = self.app.router
        r.add_get("/api/v5/public/time", self.time)
        r.add_get("/api/v5/public/instruments", self.instruments)
        r.add_get("/api/v5/market/ticker", self.ticker)
        r.add_get("/api/v5/market/tickers", self.tickers)
        r.add_get("/api/v5/market/books", self.books)
        r.add_get("/api/v5/market/candles", self.candles)
        r.add_get("/api/v5/market/history-candles", self.candles)
        r.add_get("/api/v5/public/funding-rate", self.funding_rate)
        r.add_get("/api/v5/public/funding-rate-history", self.funding_rate_history)
        r.add_get("/api/v5/public/opt-summary", self.opt_summary)
        r.add_get("/api/v5/public/mark-price", self.mark_price)
        r.add_get("/api/v5/public/price-limit", self.public_price_limit)
        r.add_get("/api/v5/account/bills-archive", self.bills)
        r.add_get("/api/v5/account/bills", self.bills)
        r.add_get("/api/v5/trade/fills-history", self.fills)
        r.add_get("/api/v5/trade/fills", self.fills)
        r.add_get("/api/v5/account/balance", self.balance)
        r.add_get("/api/v5/account/positions", self.positions)
        r.add_post("/api/v5/account/set-leverage", self.set_leverage)
        r.add_get("/api/v5/account/config", self.config)
        r.add_post("/api/v5/account/set-position-mode", self.set_position_mode)
        r.add_get("/api/v5/trade/order", self.get_order)
        r.add_get("/api/v5/trade/orders-pending", self.orders_pending)
        r.add_get("/api/v5/trade/orders-history", self.orders_history)
        r.add_get("/api/v5/trade/orders-history-archive", self.orders_history)
        r.add_post("/api/v5/trade/order", self.place_one)
        r.add_post("/api/v5/trade/batch-orders", self.place_batch)
        r.add_post("/api/v5/trade/cancel-order", self.cancel_one)
        r.add_post("/api/v5/trade/cancel-batch-orders", self.cancel_batch)
        r.add_get("/api/v5/asset/balances", self.asset_balances)
        r.add_get("/api/v5/asset/currencies", self.currencies)
        r.add_post("/api/v5/asset/transfer", self.transfer)
        r.add_get("/api/v5/asset/transfer-state", self.transfer_state)
        if controls:
            r.add_post("/emulator/shock", self.shock)
            r.add_post("/emulator/funding", self.set_funding)
        self.streams = Streams(self, controls=controls)  # OKX's websockets on the same port, state and clock

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The websockets answer in their own dialect (okx_ws); an unknown path there is REST's JSON 404 below.
        if request.path.startswith(WS_PREFIX) and request.match_info.http_exception is None:
            return await handler(request)
        self.requests += 1
        faults = self.emu.faults
        if faults.maintenance > 0:
            faults.maintenance -= 1
            return web.Response(status=503, text="Service Unavailable")
        if faults.rate_limited > 0:
            faults.rate_limited -= 1
            return web.json_response({"code": "50011", "msg": "Too Many Requests", "data": []}, status=429)
        missing = request.match_info.http_exception
        if missing is not None:  # no such endpoint (or not with this method): OKX's 404, before any signature
            return web.json_response({"code": str(missing.status), "msg": missing.reason, "data": []},
                                     status=missing.status)
        try:
            if not request.path.startswith(PUBLIC):
                if faults.queued > 0:  # held up on its way in: judged (its timestamp too) only when it arrives
                    faults.queued -= 1
                    await asyncio.sleep(faults.queued_seconds)
                request[API_KEY] = await self._authenticate(request)
                self.emu.settle_funding(self.emu.account(request[API_KEY]))
            response = await handler(request)
        except OkxError as exc:
            response = web.json_response({"code": exc.code, "msg": exc.msg, "data": []}, status=exc.status)
        except web.HTTPException:
            raise
        except Exception:  # a bug of ours: OKX's system error, logged, never a bare 500 page
            log.exception("emulator: %s %s failed", request.method, request.path)
            response = web.json_response({"code": "50026", "msg": "System error, please try again later.",
                                          "data": []}, status=500)
        if faults.timeouts > 0 and not request.path.startswith(PUBLIC):
            faults.timeouts -= 1
            await asyncio.sleep(faults.timeout_seconds)  # the work is done; the answer comes too late
        elif (faults.stall_after_orders is not None and request.path in _ORDER_PATHS
              and self.emu.orders_placed() > faults.stall_after_orders):
            await asyncio.sleep(faults.timeout_seconds)  # the order is in; its sender hears only much later
        return response

    async def _authenticate(self, request: web.Request) -> str:
        key = request.headers.get("OK-ACCESS-KEY", "")
        creds = self.emu.keys.get(key)
        if creds is None:
            raise OkxError("50111", "Invalid OK-ACCESS-KEY", 401)
        # OKX's demo trading is told apart by the header x-simulated-trading: 1 (ccxt sends it under
        # set_sandbox_mode): a demo key without it, or a live key with it, is in the wrong environment.
        if (request.headers.get(SIMULATED_HEADER, "") == "1") != creds.demo:
            raise OkxError("50101", "APIKey does not match current environment.", 401)
        if not hmac.compare_digest(_raw(request.headers.get("OK-ACCESS-PASSPHRASE", "")), creds.passphrase.encode()):
            raise OkxError("50105", "OK-ACCESS-PASSPHRASE incorrect", 401)
        stamp = request.headers.get("OK-ACCESS-TIMESTAMP", "")
        if not ISO_MILLIS.fullmatch(stamp):  # OKX: ISO 8601 in UTC with milliseconds and Z, 2020-12-08T09:08:57.715Z
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", 401)
        try:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:  # the right shape, no real time (month 13)
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", 401) from None
        # The signer's clock is the wall's, or the replay's when it synchronised with /public/time (ccxt's
        # adjustForTimeDifference): either is fresh. Read now, as the request is judged, not when it was sent.
        replayed = self.emu.clock().timestamp()
        if min(abs(time.time() - sent), abs(replayed - sent)) > TIMESTAMP_WINDOW_SECONDS:
            raise OkxError("50102", "Timestamp request expired", 401)
        try:
            body = await request.text()
        except UnicodeDecodeError:
            raise OkxError("50002", "Json data format error") from None
        payload = f"{stamp}{request.method}{request.raw_path}{body}".encode("utf-8", "surrogateescape")
        want = base64.b64encode(hmac.new(creds.secret.encode(), payload, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(_raw(request.headers.get("OK-ACCESS-SIGN", "")), want.encode()):
            raise OkxError("50113", "Invalid Sign", 401)
        return key

    async def shock(self, request: web.Request) -> web.Response:
        """{instId, ratio}: the instrument's price is (1 + ratio) × the replayed one until shocked again;
        {instFamily: "ETH-USDT", ratio}: spot and swap together, at one instant (a move of the whole market)."""
        body = await self._object(request)
        ratio = _dec(body.get("ratio"), "ratio")
        if "instFamily" in body:
            # The synthetic future and option follow the perp they are derived from: shocking them too would
            # move them twice.
            insts = [i for i in OKX_INSTRUMENTS.values()
                     if f"{i.base}-{i.quote}" == str(body["instFamily"]) and i.symbol not in DERIVED]
            if not insts:
                raise OkxError("51001", "Instrument ID does not exist")
        else:
            insts = [_inst(body.get("instId"))]
        if ratio <= -1:
            raise OkxError("51000", "Parameter ratio error")
        for inst in insts:
            self.emu.shock(inst.symbol, ratio)
        return ok([{"instId": i.inst_id, "ratio": _num(ratio), "last": _num(self.emu.quote(i).last)} for i in insts])

    async def set_funding(self, request: web.Request) -> web.Response:
        """{instId, rate}: the swap's coming settlement pays `rate` (shown by public/funding-rate at once)."""
        body = await self._object(request)
        inst, rate = _inst(body.get("instId")), _dec(body.get("rate"), "rate")
        if inst.spot:
            raise OkxError("51000", "Parameter instId error")
        try:
            at = self.emu.set_next_funding(inst.symbol, rate).at
        except ValueError as exc:
            raise OkxError("51001", str(exc)) from None
        return ok([{"instId": inst.inst_id, "fundingRate": _num(rate), "fundingTime": _ms(at)}])


@contextlib.asynccontextmanager
async def serving(emu: Emulator, host: str = "127.0.0.1", port: int = 0, *,
                  controls: bool = False) -> AsyncIterator[tuple[EmulatorApp, str]]:
    """The emulator served in-process on a loopback port (0: a free one); yields the app and its base URL."""
    app = EmulatorApp(emu, controls=controls)
    runner = web.AppRunner(app.app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server else port  # type: ignore[attr-defined]
    try:
        yield app, f"http://{host}:{bound}"
    finally:
        await runner.cleanup()


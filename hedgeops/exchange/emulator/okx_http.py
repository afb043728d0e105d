"""The emulator's HTTP face: OKX v5 REST as ccxt speaks it. Envelope {"code","msg","data"}, HMAC-SHA256
signatures checked with the passphrase and a fresh timestamp, sizes in contracts, OKX's error codes, and every
served endpoint's fields as OKX documents them (tests/test_emulator_okx_fields.py holds the lists). One clock: the
replay clock stamps every answer; only the signature's freshness is checked against the wall clock (the signer's)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, DecimalException, InvalidOperation
from typing import Any

from aiohttp import web

from hedgeops.exchange.emulator.state import Account, Emulator, OrderMeta, Transfer
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL, OKX_INSTRUMENTS, OKX_SWAPS, OkxInstrument
from hedgeops.exchange.paper.account import DEFAULT_LEVERAGE, InsufficientFunds, is_spot
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderRejected
from hedgeops.model.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType, Side, parse_enum

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE = Decimal(1)
PUBLIC = ("/api/v5/public/", "/api/v5/market/")
_ORDER_PATHS = ("/api/v5/trade/order", "/api/v5/trade/batch-orders")
MAX_SKEW_SECONDS = 30
CLORDID = re.compile(r"^[A-Za-z0-9]{1,32}$")
TAG = re.compile(r"^[A-Za-z0-9]{0,16}$")
API_KEY = web.RequestKey("api_key", str)
ALL_SYMBOLS = sorted(i.symbol for i in OKX_INSTRUMENTS.values())
MAX_ROWS = 100
MAX_CANDLES = 300
MAX_EXPONENT = 30  # a size or price beyond 1e±30 is no number a market trades
MMR_RATE = Decimal("0.004")  # maintenance margin: 0.4% of notional (OKX's first tier for these swaps)
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
# Bill ids by kind: transfers (type 1), trades (type 2), funding fees (type 8).
TRANSFER_BILL, TRADE_BILL, FUNDING_BILL = 100_000_000_000, 200_000_000_000, 800_000_000_000
# OKX's bar sizes (seconds, and the hours the bar's day starts after UTC midnight: OKX aligns 6H and longer to
# Hong Kong time unless the bar ends in "utc").
_BAR_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1H": 3600, "2H": 7200, "4H": 14400,
                "6H": 21600, "12H": 43200, "1D": 86400, "2D": 172800, "3D": 259200, "1W": 604800}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OkxError(Exception):
    """An OKX error answer: code, message, HTTP status."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def ok(data: list[Any], code: str = "0", msg: str = "", **extra: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "data": data, **extra})


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def _num(x: Decimal) -> str:
    return format(x.normalize(), "f") if x else "0"


def _opt(x: Decimal | None) -> str:
    return "" if x is None else _num(x)


def _q(x: Decimal, places: str = "0.00000001") -> str:
    """A derived figure (margin, ratios) to 8 places, as OKX prints them."""
    return _num(x.quantize(Decimal(places), rounding=ROUND_HALF_EVEN))


def _dec(raw: Any, name: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise OkxError("51000", f"Parameter {name} error")
    try:
        d = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise OkxError("51000", f"Parameter {name} error") from None
    if not d.is_finite() or (d and abs(d.adjusted()) > MAX_EXPONENT):
        raise OkxError("51000", f"Parameter {name} error")
    return d


def _int(query: Mapping[str, str], name: str, default: int, top: int) -> int:
    """A whole-number query parameter (OKX's 51000 for anything else); at most `top`."""
    raw = query.get(name, "")
    if raw == "":
        return default
    if not re.fullmatch(r"\d{1,15}", raw):
        raise OkxError("51000", f"Parameter {name} error")
    return min(int(raw), top)


def _ms_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name, "")
    if raw == "":
        return None
    if not re.fullmatch(r"\d{1,15}", raw):
        raise OkxError("51000", f"Parameter {name} error")
    return int(raw)


def _levels(levels: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    return [[_num(p), _num(s), "0", "1"] for p, s in levels]


def _raw(header: str) -> bytes:
    """A header's bytes as sent: compare_digest refuses non-ASCII str, and aiohttp decodes headers as UTF-8 with
    surrogateescape, so this is exact even for bytes that are not UTF-8."""
    return header.encode("utf-8", "surrogateescape")


def _inst(inst_id: Any) -> OkxInstrument:
    if inst_id is None or inst_id == "":
        raise OkxError("50014", "Parameter instId can not be empty")
    inst = OKX_INSTRUMENTS.get(str(inst_id))
    if inst is None:
        raise OkxError("51001", "Instrument ID does not exist")
    return inst


def _inst_type(query: Mapping[str, str], required: bool) -> str | None:
    kind = query.get("instType", "")
    if kind == "":
        if required:
            raise OkxError("50014", "Parameter instType can not be empty")
        return None
    if kind not in INST_TYPES:
        raise OkxError("51000", "Parameter instType error")
    return kind


def _bar(text: str) -> tuple[int, int]:
    """OKX's bar parameter: (length, offset of its alignment from UTC), both in ms."""
    utc = text.endswith("utc")
    base = text[:-3] if utc else text
    seconds = _BAR_SECONDS.get(base)
    if seconds is None or (utc and seconds < 21600):
        raise OkxError("51000", "Parameter bar error")
    offset = 0 if utc or seconds < 21600 else -8 * 3600  # Hong Kong midnight is 16:00 UTC
    if base == "1W":
        offset += 4 * 86400  # weeks start on Monday; the epoch was a Thursday
    return seconds * 1000, offset * 1000


def _status(state: OrderState) -> str:
    if state.status == OrderStatus.CLOSED:
        return "filled"
    if state.status in (OrderStatus.CANCELED, OrderStatus.REJECTED):
        return "canceled"
    return "partially_filled" if state.filled else "live"


class EmulatorApp:
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
        r.add_get("/api/v5/account/bills-archive", self.bills)
        r.add_get("/api/v5/account/bills", self.bills)
        r.add_get("/api/v5/trade/fills-history", self.fills)
        r.add_get("/api/v5/trade/fills", self.fills)
        r.add_get("/api/v5/account/balance", self.balance)
        r.add_get("/api/v5/account/positions", self.positions)
        r.add_post("/api/v5/account/set-leverage", self.set_leverage)
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
            return web.json_response({"code": "50011", "msg": "Too Many Requests", "data": []}, status=429)
        missing = request.match_info.http_exception
        if missing is not None:  # no such endpoint (or not with this method): OKX's 404, before any signature
            return web.json_response({"code": str(missing.status), "msg": missing.reason, "data": []},
                                     status=missing.status)
        try:
            if not request.path.startswith(PUBLIC):
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
        if not hmac.compare_digest(_raw(request.headers.get("OK-ACCESS-PASSPHRASE", "")), creds.passphrase.encode()):
            raise OkxError("50105", "OK-ACCESS-PASSPHRASE incorrect", 401)
        stamp = request.headers.get("OK-ACCESS-TIMESTAMP", "")
        try:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", 401) from None
        if abs(time.time() - sent) > MAX_SKEW_SECONDS:  # wall time: the signer's clock is real, not replayed
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

    def _account(self, request: web.Request) -> Account:
        return self.emu.account(request[API_KEY])

    @staticmethod
    async def _json(request: web.Request) -> Any:
        try:
            text = await request.text()
        except UnicodeDecodeError:
            raise OkxError("50002", "Json data format error") from None
        if not text.strip():
            raise OkxError("50000", "Body can not be empty")
        try:
            body = json.loads(text, parse_constant=lambda _: None)  # NaN/Infinity are no JSON numbers
        except (json.JSONDecodeError, RecursionError):
            raise OkxError("50002", "Json data format error") from None
        if body is None:
            raise OkxError("50000", "Body can not be empty")
        return body

    async def _object(self, request: web.Request) -> dict[str, Any]:
        body = await self._json(request)
        if not isinstance(body, dict):
            raise OkxError("50002", "Json data format error")
        return body

    async def _items(self, request: web.Request, most: int) -> list[dict[str, Any]]:
        body = await self._json(request)
        if not isinstance(body, list) or not 1 <= len(body) <= most:
            raise OkxError("51000", "Parameter batch error")
        if not all(isinstance(o, dict) for o in body):
            raise OkxError("50002", "Json data format error")
        return body

    def _now(self) -> int:
        return self.emu.now_ms()

    # ---- test controls (not OKX's: what a market does to a strategy, on demand) ----------------------------

    async def shock(self, request: web.Request) -> web.Response:
        """{instId, ratio}: the instrument's price is (1 + ratio) × the replayed one until shocked again;
        {instFamily: "ETH-USDT", ratio}: spot and swap together, at one instant (a move of the whole market)."""
        body = await self._object(request)
        ratio = _dec(body.get("ratio"), "ratio")
        if "instFamily" in body:
            insts = [i for i in OKX_INSTRUMENTS.values() if f"{i.base}-{i.quote}" == str(body["instFamily"])]
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

    # ---- public --------------------------------------------------------------------------------------------

    async def time(self, request: web.Request) -> web.Response:
        return ok([{"ts": str(self._now())}])  # the replay clock, as every other stamp

    async def instruments(self, request: web.Request) -> web.Response:
        kind = _inst_type(request.query, required=True)
        wanted = request.query.get("instId", "")
        return ok([i.json() for i in OKX_INSTRUMENTS.values()
                   if i.inst_type == kind and (not wanted or i.inst_id == wanted)])

    def _ticker(self, inst: OkxInstrument) -> dict[str, str]:
        q = self.emu.quote(inst)
        size = _num((Decimal(20_000) / q.last / inst.ct_val).quantize(inst.lot_sz, rounding=ROUND_HALF_EVEN))
        base, quote = self.emu.volume_24h(inst)
        # OKX's units: spot vol24h in base and volCcy24h in quote; swaps vol24h in contracts, volCcy24h in base.
        contracts = inst.to_contracts(base).quantize(inst.lot_sz, rounding=ROUND_HALF_EVEN)
        vol, vol_ccy = (base, quote) if inst.spot else (contracts, base)
        now = self._now()
        series = self.emu.replay.series(inst.symbol)
        day = series.range_between(now - 86_400_000, now)
        open24, high24, low24 = (q.last, q.last, q.last) if day is None else day
        sod0 = series.range_between(now - now % 86_400_000, now)
        sod8 = series.range_between(now - (now + 8 * 3_600_000) % 86_400_000, now)
        tick = inst.tick_sz
        return {"instType": inst.inst_type, "instId": inst.inst_id, "last": _num(q.last), "lastSz": "1",
                "askPx": _num(q.ask), "askSz": size, "bidPx": _num(q.bid), "bidSz": size,
                "open24h": _num(open24.quantize(tick)), "high24h": _num(max(high24, q.last).quantize(tick)),
                "low24h": _num(min(low24, q.last).quantize(tick)), "volCcy24h": _num(vol_ccy), "vol24h": _num(vol),
                "sodUtc0": _num((sod0[0] if sod0 else q.last).quantize(tick)),
                "sodUtc8": _num((sod8[0] if sod8 else q.last).quantize(tick)), "ts": str(now)}

    async def ticker(self, request: web.Request) -> web.Response:
        return ok([self._ticker(_inst(request.query.get("instId")))])

    async def tickers(self, request: web.Request) -> web.Response:
        kind = _inst_type(request.query, required=True)
        return ok([self._ticker(i) for i in OKX_INSTRUMENTS.values() if i.inst_type == kind])

    async def books(self, request: web.Request) -> web.Response:
        inst = _inst(request.query.get("instId"))
        depth = max(1, _int(request.query, "sz", 1, 400))
        bids, asks = self.emu.book(inst, depth)
        return ok([{"asks": _levels(asks), "bids": _levels(bids), "ts": str(self._now())}])

    async def candles(self, request: web.Request) -> web.Response:
        """Real replayed bars aggregated to OKX's bar sizes, newest first; the bar under way shows only what is
        known (confirm "0"); never a bar that has not begun. Bars finer than the data are refused (51000)."""
        inst = _inst(request.query.get("instId"))
        length, offset = _bar(request.query.get("bar", "") or "1m")
        limit = max(1, _int(request.query, "limit", MAX_ROWS, MAX_CANDLES))
        after, before = _ms_param(request.query, "after"), _ms_param(request.query, "before")
        series = self.emu.replay.series(inst.symbol)
        if length % series.step_ms:
            raise OkxError("51000", f"Parameter bar error: the replayed data has {series.step_ms // 60_000}m bars")
        now = self._now()
        top = now if after is None else min(now, after - 1)
        start = top - (top - offset) % length
        first = series.ts[0]
        rows: list[list[str]] = []
        tick = inst.tick_sz
        while len(rows) < limit and start + length > first and (before is None or start > before):
            c = series.aggregate(start, start + length, now)
            if c is not None:
                vol_base = c.volume.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
                vol_quote = c.volume_quote.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
                contracts = inst.to_contracts(vol_base).quantize(inst.lot_sz, rounding=ROUND_HALF_EVEN)
                vol, vol_ccy = (vol_base, vol_quote) if inst.spot else (contracts, vol_base)
                rows.append([str(start), *(_num(p.quantize(tick, rounding=ROUND_HALF_EVEN))
                                           for p in (c.open, c.high, c.low, c.close)),
                             _num(vol), _num(vol_ccy), _num(vol_quote), "1" if c.confirmed else "0"])
            start -= length
        return ok(rows)

    # ---- account -------------------------------------------------------------------------------------------

    def _perp_margin(self, acct: Account, state: OrderState) -> Decimal:
        lever = acct.leverage.get(state.symbol, DEFAULT_LEVERAGE)
        return state.remaining * (state.price or ZERO) / lever

    async def balance(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        snap = await acct.venue.snapshot(ALL_SYMBOLS)
        paper = acct.venue.account
        wanted = {c for c in request.query.get("ccy", "").split(",") if c}
        now = str(self._now())
        upl = sum((p.unrealized_pnl for p in snap.positions.values()), ZERO)
        notional = sum((abs(p.qty) * snap.quotes[s].last for s, p in snap.positions.items()), ZERO)
        imr = sum((abs(p.qty) * snap.quotes[s].last / acct.leverage.get(s, DEFAULT_LEVERAGE)
                   for s, p in snap.positions.items()), ZERO)
        mmr = notional * MMR_RATE
        held = paper.reserved()
        held["USDT"] = held.get("USDT", ZERO) + sum((self._perp_margin(acct, o) for o in paper.open_orders()
                                                     if not is_spot(o.symbol)), ZERO)
        details, total, avail_total, frozen_total = [], ZERO, ZERO, ZERO
        balances = dict(snap.balances)
        for ccy in held:
            balances.setdefault(ccy, ZERO)
        for ccy, cash in balances.items():
            usdt = ccy == "USDT"
            price = ONE if usdt else snap.quotes[f"{ccy}/USDT"].last
            ord_frozen = held.get(ccy, ZERO)
            frozen = ord_frozen + (imr if usdt else ZERO)
            eq = cash + (upl if usdt else ZERO)
            total += eq * price
            avail_total += (eq - frozen) * price
            frozen_total += ord_frozen * price
            if wanted and ccy not in wanted:
                continue
            c_imr, c_mmr = (imr, mmr) if usdt else (ZERO, ZERO)
            details.append({
                "ccy": ccy, "eq": _num(eq), "cashBal": _num(cash), "uTime": now, "isoEq": "0",
                "availEq": _num(eq - frozen), "disEq": _num(eq * price), "fixedBal": "0",
                "availBal": _num(cash - frozen), "frozenBal": _num(frozen), "ordFrozen": _num(ord_frozen),
                "liab": "0", "upl": _num(upl if usdt else ZERO), "uplLiab": "0", "crossLiab": "0", "rewardBal": "0",
                "isoLiab": "0", "mgnRatio": _q(eq / c_mmr) if c_mmr else "", "imr": _q(c_imr), "mmr": _q(c_mmr),
                "interest": "0", "twap": "0", "frpType": "0", "maxLoan": "", "eqUsd": _q(eq * price),
                "borrowFroz": "0", "notionalLever": _q(notional / eq) if usdt and eq > 0 else "0",
                "stgyEq": "0", "isoUpl": "0", "spotInUseAmt": "", "clSpotInUseAmt": "", "maxSpotInUseAmt": "",
                "spotIsoBal": "0", "smtSyncEq": "0", "spotCopyTradingEq": "0", "spotBal": "", "openAvgPx": "",
                "accAvgPx": "", "spotUpl": "", "spotUplRatio": "", "totalPnl": "", "totalPnlRatio": "",
                "colRes": "0", "colBorrAutoConversion": "0", "collateralRestrict": False, "collateralEnabled": False,
                "autoLendStatus": "unsupported", "autoLendMtAmt": "0"})
        return ok([{"uTime": now, "totalEq": _q(total), "isoEq": "0", "adjEq": _q(total), "availEq": _q(avail_total),
                    "ordFroz": _q(frozen_total), "imr": _q(imr), "mmr": _q(mmr), "borrowFroz": "0",
                    "mgnRatio": _q(total / mmr) if mmr else "", "notionalUsd": _q(notional),
                    "notionalUsdForBorrow": "0", "notionalUsdForSwap": _q(notional), "notionalUsdForFutures": "0",
                    "notionalUsdForOption": "0", "upl": _q(upl), "details": details}])

    async def positions(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        kind = _inst_type(request.query, required=False)
        wanted = {i for i in request.query.get("instId", "").split(",") if i}
        pos_ids = {i for i in request.query.get("posId", "").split(",") if i}
        snap = await acct.venue.snapshot(ALL_SYMBOLS)
        paper = acct.venue.account
        notional_all = sum((abs(p.qty) * snap.quotes[s].last for s, p in snap.positions.items()), ZERO)
        upl_all = sum((p.unrealized_pnl for p in snap.positions.values()), ZERO)
        eq = paper.quote_balance + upl_all
        mgn_ratio = _q(eq / (notional_all * MMR_RATE)) if notional_all else ""
        last_trade = {f.symbol: f.trade_id for f in paper.fills}
        rows = []
        for n, inst in enumerate(OKX_SWAPS.values()):
            pos = snap.positions.get(inst.symbol)
            book = paper.position_book(inst.symbol)
            if pos is None or book is None or kind not in (None, "SWAP") or (wanted and inst.inst_id not in wanted):
                continue
            pos_id = str(900_000_000_000 + n * 1_000_000 + book.generation)
            if pos_ids and pos_id not in pos_ids:
                continue
            q = snap.quotes[inst.symbol]
            mark = q.last
            lever = acct.leverage.get(inst.symbol, DEFAULT_LEVERAGE)
            notional = abs(pos.qty) * mark
            imr = notional / lever
            cost = abs(pos.qty) * pos.entry_price
            contracts = inst.to_contracts(pos.qty)
            # OKX: realizedPnl = pnl + fee + fundingFee (+ liqPenalty), fee negative when paid.
            realized = book.pnl - book.fee + book.funding
            be_px = pos.entry_price + (book.fee - book.funding - book.pnl) / pos.qty  # where the PnL is zero
            rows.append({
                "instType": "SWAP", "mgnMode": "cross", "posId": pos_id, "posSide": "net", "pos": _num(contracts),
                "baseBal": "", "quoteBal": "", "baseBorrowed": "", "baseInterest": "", "quoteBorrowed": "",
                "quoteInterest": "", "posCcy": "", "availPos": _num(abs(contracts)), "avgPx": _num(pos.entry_price),
                "nonSettleAvgPx": _num(pos.entry_price), "markPx": _num(mark), "upl": _q(pos.unrealized_pnl),
                "uplRatio": _q(pos.unrealized_pnl / (cost / lever)) if cost else "0",
                "uplLastPx": _q(pos.unrealized_pnl),
                "uplRatioLastPx": _q(pos.unrealized_pnl / (cost / lever)) if cost else "0",
                "instId": inst.inst_id, "lever": _num(lever), "liqPx": "", "imr": _q(imr), "margin": "",
                "mgnRatio": mgn_ratio, "mmr": _q(notional * MMR_RATE), "liab": "", "liabCcy": "", "interest": "",
                "tradeId": last_trade.get(inst.symbol, ""), "optVal": "", "pendingCloseOrdLiabVal": "",
                "notionalUsd": _q(notional), "adl": "1", "ccy": "USDT", "last": _num(q.last), "idxPx": _num(mark),
                "usdPx": "", "bePx": _q(be_px), "deltaBS": "", "deltaPA": "", "gammaBS": "", "gammaPA": "",
                "thetaBS": "", "thetaPA": "", "vegaBS": "", "vegaPA": "", "spotInUseAmt": "", "spotInUseCcy": "",
                "clSpotInUseAmt": "", "maxSpotInUseAmt": "", "bizRefId": "", "bizRefType": "",
                "realizedPnl": _q(realized), "settledPnl": "", "pnl": _q(book.pnl), "fee": _q(-book.fee),
                "fundingFee": _q(book.funding), "liqPenalty": "0", "closeOrderAlgo": [],
                "cTime": _ms(book.opened_at) if book.opened_at else str(self._now()),
                "uTime": _ms(book.updated_at) if book.updated_at else str(self._now())})
        return ok(rows)

    async def set_leverage(self, request: web.Request) -> web.Response:
        body = await self._object(request)
        inst = _inst(body.get("instId"))
        lever = _dec(body.get("lever"), "lever")
        mode = str(body.get("mgnMode", ""))
        if mode not in ("cross", "isolated"):
            raise OkxError("51000", "Parameter mgnMode error")
        if inst.spot or not 1 <= lever <= inst.lever:
            raise OkxError("51000", "Parameter lever error")
        self._account(request).leverage[inst.symbol] = lever
        return ok([{"lever": _num(lever), "mgnMode": mode, "instId": inst.inst_id,
                    "posSide": str(body.get("posSide", "net") or "net")}])

    async def asset_balances(self, request: web.Request) -> web.Response:
        wallet = self._account(request).funding_wallet
        wanted = {c for c in request.query.get("ccy", "").split(",") if c}
        return ok([{"ccy": c, "bal": _num(v), "frozenBal": "0", "availBal": _num(v)} for c, v in wallet.items()
                   if not wanted or c in wanted])

    async def currencies(self, request: web.Request) -> web.Response:
        """The currencies the emulator's markets trade, one chain each (no deposits or withdrawals here)."""
        names = {"USDT": ("Tether", "USDT-TRC20", "1"), "BTC": ("Bitcoin", "BTC-Bitcoin", "0.0001"),
                 "ETH": ("Ethereum", "ETH-ERC20", "0.001"), "SOL": ("Solana", "SOL-Solana", "0.01")}
        wanted = {c for c in request.query.get("ccy", "").split(",") if c}
        rows = []
        for ccy, (name, chain, min_wd) in names.items():
            if wanted and ccy not in wanted:
                continue
            rows.append({"ccy": ccy, "name": name, "logoLink": "", "chain": chain, "ctAddr": "", "canDep": False,
                         "canWd": False, "canInternal": False, "depEstOpenTime": "", "wdEstOpenTime": "",
                         "minDep": "0", "minWd": min_wd, "maxWd": "0", "wdTickSz": "8", "wdQuota": "0",
                         "usedWdQuota": "0", "fee": "0", "minFee": "0", "maxFee": "0", "burningFeeRate": "",
                         "mainNet": True, "needTag": False, "minInternal": "0", "minDepArrivalConfirm": "0",
                         "minWdUnlockConfirm": "0", "depQuotaFixed": "", "usedDepQuotaFixed": "",
                         "depQuoteDailyLayer2": ""})
        return ok(rows)

    async def transfer(self, request: web.Request) -> web.Response:
        """Funding (6) ↔ trading (18) transfers of USDT."""
        acct = self._account(request)
        body = await self._object(request)
        amount = _dec(body.get("amt"), "amt")
        src, dst, ccy = str(body.get("from", "")), str(body.get("to", "")), str(body.get("ccy", ""))
        if not ccy or not src or not dst or body.get("amt") in (None, ""):
            raise OkxError("50014", "Parameter ccy/amt/from/to can not be empty")
        if str(body.get("type", "0")) != "0":
            raise OkxError("51000", "Parameter type error")  # no sub-accounts here
        if ccy != "USDT" or {src, dst} != {"6", "18"} or amount <= 0:
            raise OkxError("51000", "Parameter from/to/ccy/amt error")
        client_id = str(body.get("clientId", "") or "")
        if client_id and not CLORDID.match(client_id):
            raise OkxError("51000", "Parameter clientId error")
        paper = acct.venue.account
        have = acct.funding_wallet.get("USDT", ZERO) if src == "6" else paper.quote_balance - self._trading_frozen(acct)
        if amount > have:
            raise OkxError("58350", "Insufficient balance")
        if src == "6":
            acct.funding_wallet["USDT"] = acct.funding_wallet.get("USDT", ZERO) - amount
            paper.quote_balance += amount
        else:
            paper.quote_balance -= amount
            acct.funding_wallet["USDT"] = acct.funding_wallet.get("USDT", ZERO) + amount
        acct.transfers += 1
        record = Transfer(str(acct.transfers), ccy, amount, src, dst, client_id, self._now(), paper.quote_balance)
        acct.transfer_log.append(record)
        return ok([{"transId": record.trans_id, "ccy": ccy, "clientId": client_id, "from": src, "amt": _num(amount),
                    "to": dst}])

    def _trading_frozen(self, acct: Account) -> Decimal:
        """USDT the trading account cannot move: position margin, resting orders' margin and spot buys."""
        paper = acct.venue.account
        marks = {s: self.emu.quote(BY_SYMBOL[s]).last for s in paper.held()}
        imr = sum((abs(p.qty) * marks[s] / acct.leverage.get(s, DEFAULT_LEVERAGE)
                   for s, p in paper.positions(marks).items()), ZERO)
        orders = sum((self._perp_margin(acct, o) for o in paper.open_orders() if not is_spot(o.symbol)), ZERO)
        return imr + orders + paper.reserved().get("USDT", ZERO)

    async def transfer_state(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        trans_id, client_id = request.query.get("transId", ""), request.query.get("clientId", "")
        if not trans_id and not client_id:
            raise OkxError("50015", "Either parameter transId or clientId is required")
        found = [t for t in acct.transfer_log
                 if (not trans_id or t.trans_id == trans_id) and (not client_id or t.client_id == client_id)]
        return ok([{"amt": _num(t.amount), "ccy": t.ccy, "clientId": t.client_id, "from": t.src, "instId": "",
                    "state": "success", "subAcct": "", "to": t.dst, "toInstId": "", "transId": t.trans_id,
                    "type": "0"} for t in found])

    # ---- trading -------------------------------------------------------------------------------------------

    @staticmethod
    def _fills_by_order(acct: Account) -> dict[str, list[Fill]]:
        out: dict[str, list[Fill]] = {}
        for f in acct.venue.account.fills:
            out.setdefault(f.client_order_id, []).append(f)
        return out

    def _order_json(self, acct: Account, state: OrderState, fills: list[Fill]) -> dict[str, Any]:
        inst = BY_SYMBOL[state.symbol]
        cl = state.client_order_id
        meta = acct.meta.get(cl) or OrderMeta(acct.created_ms.get(cl, 0))
        book = acct.venue.account.fill_book
        last = fills[-1] if fills else None
        pnl = sum((book.get(f.trade_id, (ZERO, ZERO))[0] for f in fills), ZERO)
        updated = max([meta.c_time, acct.done_ms.get(cl, 0), *(int(f.at.timestamp() * 1000) for f in fills)])
        return {
            "instType": inst.inst_type, "instId": inst.inst_id, "tgtCcy": meta.tgt_ccy, "ccy": "",
            "ordId": acct.ord_ids[cl], "clOrdId": cl, "tag": meta.tag,
            "px": "" if state.price is None or meta.ord_type == "market" else _num(state.price), "pxUsd": "",
            "pxVol": "", "pxType": "", "sz": meta.quote_sz or _num(inst.to_contracts(state.amount)), "pnl": _num(pnl),
            "ordType": meta.ord_type, "side": str(state.side), "posSide": "net" if not inst.spot else "",
            "tdMode": meta.td_mode, "accFillSz": _num(inst.to_contracts(state.filled)),
            "fillPx": "" if last is None else _num(last.price), "tradeId": "" if last is None else last.trade_id,
            "fillSz": "0" if last is None else _num(inst.to_contracts(last.qty)),
            "fillTime": "" if last is None else _ms(last.at), "avgPx": _opt(state.average), "state": _status(state),
            "stpId": "", "stpMode": "cancel_maker", "lever": "" if inst.spot else _num(
                acct.leverage.get(state.symbol, DEFAULT_LEVERAGE)),
            "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "", "slTriggerPx": "",
            "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [], "linkedAlgoOrd": {"algoId": ""},
            "feeCcy": inst.quote, "fee": _num(-state.fee_quote), "rebateCcy": inst.quote, "rebate": "0",
            "source": "", "category": "normal", "reduceOnly": "true" if meta.reduce_only else "false",
            "isTpLimit": "false", "cancelSource": "", "cancelSourceReason": "", "quickMgnType": "",
            "algoClOrdId": "", "algoId": "", "tradeQuoteCcy": inst.quote if inst.spot else "",
            "uTime": str(updated), "cTime": str(meta.c_time)}

    def _visible(self, acct: Account, cl_ord_id: str) -> bool:
        delay = self.emu.faults.show_delay_seconds
        return delay <= 0 or time.time() * 1000 - acct.created_ms.get(cl_ord_id, 0) >= delay * 1000

    async def _place(self, acct: Account, body: dict[str, Any]) -> dict[str, str]:
        """One order; answers an OKX batch row (sCode 0 or an error code). A refused order leaves nothing
        behind: its clOrdId is free again, as OKX keeps no refused order."""
        cl = str(body.get("clOrdId") or "")
        tag = str(body.get("tag") or "")
        try:
            inst = _inst(body.get("instId"))
            if cl and not CLORDID.match(cl):
                raise OkxError("51000", "Parameter clOrdId error")
            if not TAG.match(tag):
                raise OkxError("51000", "Parameter tag error")
            for name in ("side", "ordType", "sz"):
                if body.get(name) in (None, ""):
                    raise OkxError("50014", f"Parameter {name} can not be empty")
            ord_type = str(body.get("ordType"))
            try:  # the wire's text as our enums: OKX's four order types are a market order or a limit
                side = parse_enum(Side, body.get("side"), "side")
            except ValueError:
                raise OkxError("51000", "Parameter side error") from None
            if ord_type not in ("market", "limit", "post_only", "ioc"):
                raise OkxError("51000", "Parameter ordType error")
            td_mode = str(body.get("tdMode") or ("cash" if inst.spot else "cross"))
            if td_mode not in (("cash", "cross", "isolated", "spot_isolated") if inst.spot else ("cross", "isolated")):
                raise OkxError("51000", "Parameter tdMode error")
            sz = _dec(body.get("sz"), "sz")
            tgt = str(body.get("tgtCcy") or "")
            if tgt not in ("", "base_ccy", "quote_ccy"):
                raise OkxError("51000", "Parameter tgtCcy error")
            # OKX sizes a spot market buy in quote unless told otherwise (ccxt always says which).
            in_quote = inst.spot and ord_type == "market" and side == Side.BUY and tgt in ("", "quote_ccy")
            if sz <= 0:
                raise OkxError("51000", "Parameter sz error")
            if not in_quote:
                most = Decimal(inst.json()["maxMktSz" if ord_type == "market" else "maxLmtSz"])
                if sz > most:
                    raise OkxError("51202" if ord_type == "market" else "51005",
                                   f"Order amount exceeds the limit ({most})")
                if sz % inst.lot_sz:
                    raise OkxError("51121", f"Order quantity must be a multiple of the lot size ({inst.lot_sz})")
                if sz < inst.min_sz:
                    raise OkxError("51020", "Order amount should be greater than the min available amount")
            elif sz > 10 ** 12:
                raise OkxError("51000", "Parameter sz error")
            quote_sz = _num(sz) if in_quote else ""
            px = _dec(body["px"], "px") if body.get("px") not in (None, "") else None
            if ord_type != "market":
                if px is None:
                    raise OkxError("50014", "Parameter px can not be empty")
                if px <= 0 or px > 10 ** 12 or px % inst.tick_sz:
                    raise OkxError("51000", f"Parameter px error: a positive multiple of the tick size {inst.tick_sz}")
            reduce_raw = body.get("reduceOnly", False)
            if reduce_raw not in (True, False, "true", "false", "True", "False", ""):
                raise OkxError("51000", "Parameter reduceOnly error")
            reduce = str(reduce_raw).lower() == "true"
            if reduce and inst.spot:
                raise OkxError("51000", "Parameter reduceOnly error")
            if self.emu.faults.rejects > 0:
                self.emu.faults.rejects -= 1
                raise OkxError("51008", "Order failed. Insufficient USDT margin in account")
            if in_quote:  # a spot market buy sized in quote
                sz = ((sz / self.emu.quote(inst).ask) / inst.lot_sz).to_integral_value(ROUND_DOWN) * inst.lot_sz
                if sz < inst.min_sz:
                    raise OkxError("51020", "Order amount should be greater than the min available amount")
            cl = cl or f"emu{self.emu.next_ord_id()}"
            if cl in acct.ord_ids:
                raise OkxError("51016", "Duplicated clOrdId")
            req = OrderRequest(cl, inst.symbol, side, inst.to_base(sz),
                               OrderType.MARKET if ord_type == "market" else OrderType.LIMIT,
                               px if ord_type != "market" else None, post_only=ord_type == "post_only",
                               reduce_only=reduce)
            ord_id = self.emu.next_ord_id()
            now = self._now()
            acct.ord_ids[cl], acct.by_ord_id[ord_id] = ord_id, cl
            acct.created_ms[cl] = int(time.time() * 1000)  # wall: the show-delay fault counts real seconds
            acct.meta[cl] = OrderMeta(now, tag, reduce, ord_type, td_mode, "quote_ccy" if quote_sz else tgt, quote_sz)
            try:
                state = await acct.venue.place(req)
                if ord_type == "ioc" and state.status == OrderStatus.OPEN:  # what does not fill at once is cancelled
                    await acct.venue.cancel(cl, inst.symbol)
                    acct.done_ms[cl] = now
            except OrderRejected as exc:
                paper = acct.venue.account
                if req.post_only and "cross" in str(exc):
                    # OKX accepts a crossing post-only order and cancels it at once.
                    rejected = paper.orders[cl]
                    paper.orders[cl] = OrderState(cl, rejected.symbol, rejected.side, rejected.amount, ZERO,
                                                  rejected.price, None, OrderStatus.CANCELED, ZERO, OrderType.LIMIT,
                                                  True)
                    acct.done_ms[cl] = now
                else:
                    del acct.ord_ids[cl], acct.by_ord_id[ord_id], acct.meta[cl], acct.created_ms[cl]
                    paper.orders.pop(cl, None)  # refused: nothing kept, the clOrdId is free again
                    code = ("51008" if isinstance(exc, InsufficientFunds) else "51169" if "reduce" in str(exc)
                            else "51000")
                    raise OkxError(code, str(exc)) from None
            except DuplicateClientOrderId:
                del acct.ord_ids[cl], acct.by_ord_id[ord_id], acct.meta[cl], acct.created_ms[cl]
                raise OkxError("51016", "Duplicated clOrdId") from None
            return {"ordId": ord_id, "clOrdId": cl, "tag": tag, "ts": str(now), "sCode": "0", "sMsg": "Order placed"}
        except OkxError as exc:
            return {"ordId": "", "clOrdId": cl, "tag": tag, "ts": str(self._now()), "sCode": exc.code,
                    "sMsg": exc.msg}
        except DecimalException:  # a number too large or too fine for the arithmetic: a parameter error
            return {"ordId": "", "clOrdId": cl, "tag": tag, "ts": str(self._now()), "sCode": "51000",
                    "sMsg": "Parameter sz/px error"}

    def _batch(self, rows: list[dict[str, str]], started: int) -> web.Response:
        failed = sum(1 for r in rows if r["sCode"] != "0")
        code = "0" if not failed else ("1" if failed == len(rows) else "2")
        msg = "" if not failed else "All operations failed" if code == "1" else "Bulk operation partially succeeded"
        return ok(rows, code, msg, inTime=str(started * 1000), outTime=str(int(time.time() * 1_000_000)))

    async def place_one(self, request: web.Request) -> web.Response:
        started = int(time.time() * 1000)
        body = await self._object(request)
        return self._batch([await self._place(self._account(request), body)], started)

    async def place_batch(self, request: web.Request) -> web.Response:
        started = int(time.time() * 1000)
        items = await self._items(request, 20)
        acct = self._account(request)
        return self._batch([await self._place(acct, o) for o in items], started)

    def _find(self, acct: Account, query: Mapping[str, Any]) -> OrderState:
        ord_id, cl_raw = query.get("ordId"), query.get("clOrdId")
        if ord_id in (None, "") and cl_raw in (None, ""):
            raise OkxError("50015", "Either parameter ordId or clOrdId is required")
        cl = str(cl_raw or acct.by_ord_id.get(str(ord_id), ""))
        state = acct.venue.account.orders.get(cl)
        if state is None or cl not in acct.ord_ids or not self._visible(acct, cl):
            raise OkxError("51603", "Order does not exist")
        if ord_id not in (None, "") and acct.ord_ids[cl] != str(ord_id):
            raise OkxError("51603", "Order does not exist")
        return state

    async def get_order(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        inst = _inst(request.query.get("instId"))
        state = self._find(acct, request.query)
        if state.symbol != inst.symbol:
            raise OkxError("51603", "Order does not exist")
        state = await acct.venue.order(state.client_order_id, state.symbol) or state
        return ok([self._order_json(acct, state, self._fills_by_order(acct).get(state.client_order_id, []))])

    def _listed(self, acct: Account, query: Mapping[str, str], states: Iterator[OrderState]) -> list[dict[str, Any]]:
        kind = _inst_type(query, required=False)
        wanted = query.get("instId", "")
        ord_type = query.get("ordType", "")
        state_filter = query.get("state", "")
        limit = max(1, _int(query, "limit", MAX_ROWS, MAX_ROWS))
        after, before = query.get("after", ""), query.get("before", "")
        begin, end = _ms_param(query, "begin"), _ms_param(query, "end")
        fills = self._fills_by_order(acct)
        rows = []
        for s in states:
            cl = s.client_order_id
            if cl not in acct.ord_ids or not self._visible(acct, cl):
                continue
            inst = BY_SYMBOL[s.symbol]
            meta = acct.meta.get(cl)
            c_time = meta.c_time if meta else 0
            ord_id = acct.ord_ids[cl]
            if ((kind and inst.inst_type != kind) or (wanted and inst.inst_id != wanted)
                    or (ord_type and meta is not None and meta.ord_type not in ord_type.split(","))
                    or (state_filter and _status(s) != state_filter)
                    or (after and int(ord_id) >= int(after) if after.isdigit() else False)
                    or (before and int(ord_id) <= int(before) if before.isdigit() else False)
                    or (begin is not None and c_time < begin) or (end is not None and c_time > end)):
                continue
            rows.append(self._order_json(acct, s, fills.get(cl, [])))
        rows.sort(key=lambda r: int(r["ordId"]), reverse=True)  # newest first
        return rows[:limit]

    async def orders_pending(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        await acct.venue.snapshot(ALL_SYMBOLS)  # lets resting orders fill first
        return ok(self._listed(acct, request.query, iter(acct.venue.account.open_orders())))

    async def orders_history(self, request: web.Request) -> web.Response:
        """Orders that are done (filled or canceled), newest first; instType is required, as on OKX."""
        acct = self._account(request)
        _inst_type(request.query, required=True)
        await acct.venue.snapshot(ALL_SYMBOLS)
        done = (s for s in acct.venue.account.orders.values() if s.status != OrderStatus.OPEN)
        return ok(self._listed(acct, request.query, done))

    async def _cancel(self, acct: Account, body: dict[str, Any]) -> dict[str, str]:
        try:
            inst = _inst(body.get("instId"))
            state = self._find(acct, body)
            if state.symbol != inst.symbol:
                raise OkxError("51603", "Order does not exist")
            await acct.venue.order(state.client_order_id, state.symbol)  # fills first: a filled order is done
            state = acct.venue.account.orders[state.client_order_id]
            if state.done:
                raise OkxError("51400", "Cancellation failed as the order has been filled, canceled or does not exist")
            await acct.venue.cancel(state.client_order_id, state.symbol)
            acct.done_ms[state.client_order_id] = self._now()
            return {"clOrdId": state.client_order_id, "ordId": acct.ord_ids[state.client_order_id],
                    "ts": str(self._now()), "sCode": "0", "sMsg": ""}
        except OkxError as exc:
            return {"clOrdId": str(body.get("clOrdId", "") or ""), "ordId": str(body.get("ordId", "") or ""),
                    "ts": str(self._now()), "sCode": exc.code, "sMsg": exc.msg}

    async def cancel_one(self, request: web.Request) -> web.Response:
        started = int(time.time() * 1000)
        body = await self._object(request)
        return self._batch([await self._cancel(self._account(request), body)], started)

    async def cancel_batch(self, request: web.Request) -> web.Response:
        started = int(time.time() * 1000)
        items = await self._items(request, 20)
        acct = self._account(request)
        return self._batch([await self._cancel(acct, o) for o in items], started)

    # ---- funding and history -------------------------------------------------------------------------------

    def _funding_row(self, inst: OkxInstrument) -> dict[str, str]:
        now = self.emu.clock()
        nxt = self.emu.funding.next_after(inst.symbol, now)
        if nxt is None:
            raise OkxError("51001", "No funding rate for this instrument at this time")
        after = self.emu.funding.next_after(inst.symbol, nxt.at)
        last = self.emu.funding.last_before(inst.symbol, now, 1)
        # The bundled data holds each settlement's rate and nothing of OKX's formula inputs (caps, interest rate,
        # impact value, premium): those are "" rather than invented.
        return {"instType": "SWAP", "instId": inst.inst_id, "method": "current_period", "formulaType": "withRate",
                "fundingRate": _num(nxt.rate), "nextFundingRate": "", "fundingTime": _ms(nxt.at),
                "nextFundingTime": _ms(after.at) if after else _ms(nxt.at), "minFundingRate": "",
                "maxFundingRate": "", "interestRate": "", "impactValue": "", "settState": "settled",
                "settFundingRate": _num(last[0].rate) if last else "", "premium": "", "sprdType": "",
                "ts": _ms(now)}

    async def funding_rate(self, request: web.Request) -> web.Response:
        """The rate that settles next (the real one: OKX shows its estimate converging to it)."""
        wanted = request.query.get("instId")
        insts = list(OKX_SWAPS.values()) if wanted == "ANY" else [_inst(wanted)]
        if any(i.spot for i in insts):
            raise OkxError("51000", "Parameter instId error")
        return ok([self._funding_row(i) for i in insts])

    async def funding_rate_history(self, request: web.Request) -> web.Response:
        inst = _inst(request.query.get("instId"))
        if inst.spot:
            raise OkxError("51000", "Parameter instId error")
        limit = max(1, _int(request.query, "limit", MAX_ROWS, MAX_ROWS))
        after, before = _ms_param(request.query, "after"), _ms_param(request.query, "before")
        now = self.emu.clock()
        top = now if after is None else min(now, datetime.fromtimestamp((after - 1) / 1000, now.tzinfo))
        rows = self.emu.funding.last_before(inst.symbol, top, limit)
        return ok([{"instType": "SWAP", "instId": inst.inst_id, "formulaType": "withRate", "fundingRate": _num(r.rate),
                    "realizedRate": _num(r.rate), "fundingTime": _ms(r.at), "method": "current_period"}
                   for r in rows if before is None or int(r.at.timestamp() * 1000) > before])

    def _bill(self, **fields: str) -> dict[str, str]:
        row = {"instType": "", "billId": "", "subType": "", "type": "", "ts": "", "balChg": "0", "posBalChg": "0",
               "bal": "", "posBal": "0", "sz": "", "px": "", "ccy": "USDT", "pnl": "0", "fee": "0", "earnAmt": "",
               "earnApr": "", "mgnMode": "", "instId": "", "ordId": "", "execType": "", "from": "", "to": "",
               "notes": "", "interest": "0", "tag": "", "fillTime": "", "tradeId": "", "clOrdId": "", "fillIdxPx": "",
               "fillMarkPx": "", "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": ""}
        row.update(fields)
        return row

    def _bills(self, acct: Account) -> list[dict[str, str]]:
        """Every bill of the trading account: transfers (1), trades (2), funding fees (8), oldest first."""
        paper = acct.venue.account
        rows: list[tuple[int, int, dict[str, str]]] = []
        for t in acct.transfer_log:
            into = t.dst == "18"
            rows.append((t.at_ms, TRANSFER_BILL + int(t.trans_id), self._bill(
                billId=str(TRANSFER_BILL + int(t.trans_id)), type="1", subType="11" if into else "12",
                ts=str(t.at_ms), balChg=_num(t.amount if into else -t.amount), bal=_num(t.trading_balance),
                sz=_num(t.amount), ccy=t.ccy, **{"from": t.src, "to": t.dst})))
        base_held: dict[str, Decimal] = {}
        for n, f in enumerate(paper.fills):
            inst = BY_SYMBOL[f.symbol]
            pnl, bal = paper.fill_book.get(f.trade_id, (ZERO, ZERO))
            at = int(f.at.timestamp() * 1000)
            meta = acct.meta.get(f.client_order_id)
            common = {"instType": inst.inst_type, "instId": inst.inst_id, "type": "2",
                      "subType": "1" if f.side == Side.BUY else "2", "ts": str(at), "px": _num(f.price),
                      "sz": _num(inst.to_contracts(f.qty)), "ordId": acct.ord_ids.get(f.client_order_id, ""),
                      "clOrdId": f.client_order_id, "tradeId": f.trade_id, "fillTime": str(at),
                      "execType": "M" if f.maker else "T", "tag": meta.tag if meta else "",
                      "mgnMode": meta.td_mode if meta else ("cash" if inst.spot else "cross"),
                      "fillIdxPx": _num(f.price), "fillMarkPx": "" if inst.spot else _num(f.price)}
            bill_id = TRADE_BILL + 2 * n
            if inst.spot:
                signed = f.side.signed(f.qty)
                base_held[inst.base] = base_held.get(inst.base, ZERO) + signed
                rows.append((at, bill_id, self._bill(**common, billId=str(bill_id), ccy=inst.quote,
                                                     balChg=_num(-signed * f.price - f.fee_quote), bal=_num(bal),
                                                     fee=_num(-f.fee_quote))))
                rows.append((at, bill_id + 1, self._bill(**common, billId=str(bill_id + 1), ccy=inst.base,
                                                         balChg=_num(signed), bal=_num(base_held[inst.base]))))
            else:
                rows.append((at, bill_id, self._bill(**common, billId=str(bill_id), ccy=inst.quote,
                                                     balChg=_num(pnl - f.fee_quote), bal=_num(bal), pnl=_num(pnl),
                                                     fee=_num(-f.fee_quote))))
        for b in paper.bills:
            inst = BY_SYMBOL[b.symbol]
            at = int(b.at.timestamp() * 1000)
            qty = -b.amount / (b.mark * b.rate) if b.rate and b.mark else ZERO
            rows.append((at, FUNDING_BILL + b.bill_id, self._bill(
                instType="SWAP", instId=inst.inst_id, billId=str(FUNDING_BILL + b.bill_id), type="8",
                subType="174" if b.amount > 0 else "173", ts=str(at), balChg=_num(b.amount), bal=_num(b.balance),
                px=_num(b.mark), sz=_num(abs(inst.to_contracts(qty))), mgnMode="cross", pnl=_num(b.amount))))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [r[2] for r in rows]

    async def bills(self, request: web.Request) -> web.Response:
        """The trading account's bills, newest first, filtered as OKX filters them."""
        acct = self._account(request)
        q = request.query
        kind = _inst_type(q, required=False)
        limit = max(1, _int(q, "limit", MAX_ROWS, MAX_ROWS))
        begin, end = _ms_param(q, "begin"), _ms_param(q, "end")
        after, before = _ms_param(q, "after"), _ms_param(q, "before")  # bill ids
        want = {k: q.get(k, "") for k in ("type", "subType", "ccy", "instId", "mgnMode")}
        rows = []
        for b in reversed(self._bills(acct)):
            if any(v and b[k] != v for k, v in want.items()) or (kind and b["instType"] != kind):
                continue
            ts, bill_id = int(b["ts"]), int(b["billId"])
            if ((begin is not None and ts < begin) or (end is not None and ts > end)
                    or (after is not None and bill_id >= after) or (before is not None and bill_id <= before)):
                continue
            rows.append(b)
            if len(rows) == limit:
                break
        return ok(rows)

    async def fills(self, request: web.Request) -> web.Response:
        """Executions, newest first."""
        acct = self._account(request)
        q = request.query
        kind = _inst_type(q, required=False)
        wanted, ord_id = q.get("instId", ""), q.get("ordId", "")
        limit = max(1, _int(q, "limit", MAX_ROWS, MAX_ROWS))
        begin, end = _ms_param(q, "begin"), _ms_param(q, "end")
        paper = acct.venue.account
        fees = self.emu.fees
        rows = []
        for n in range(len(paper.fills) - 1, -1, -1):
            f = paper.fills[n]
            inst = BY_SYMBOL[f.symbol]
            at = int(f.at.timestamp() * 1000)
            if ((wanted and inst.inst_id != wanted) or (kind and inst.inst_type != kind)
                    or f.client_order_id not in acct.ord_ids or (ord_id and acct.ord_ids[f.client_order_id] != ord_id)
                    or (begin is not None and at < begin) or (end is not None and at > end)):
                continue
            meta = acct.meta.get(f.client_order_id)
            pnl = paper.fill_book.get(f.trade_id, (ZERO, ZERO))[0]
            rows.append({"instType": inst.inst_type, "instId": inst.inst_id, "tradeId": f.trade_id,
                         "ordId": acct.ord_ids[f.client_order_id], "clOrdId": f.client_order_id,
                         "billId": str(TRADE_BILL + 2 * n), "subType": "1" if f.side == Side.BUY else "2",
                         "tag": meta.tag if meta else "", "fillPx": _num(f.price),
                         "fillSz": _num(inst.to_contracts(f.qty)), "fillIdxPx": _num(f.price), "fillPnl": _num(pnl),
                         "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "",
                         "fillMarkPx": "" if inst.spot else _num(f.price), "side": str(f.side),
                         "posSide": "" if inst.spot else "net", "execType": "M" if f.maker else "T",
                         "feeCcy": inst.quote, "fee": _num(-f.fee_quote),
                         "feeRate": _num(-(fees.maker if f.maker else fees.taker)), "ts": str(at), "fillTime": str(at),
                         "tradeQuoteCcy": inst.quote if inst.spot else ""})
            if len(rows) == limit:
                break
        return ok(rows)


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

"""The emulator's HTTP face: OKX v5 REST as ccxt speaks it. Envelope {"code","msg","data"}, HMAC-SHA256
signatures checked with the passphrase and a fresh timestamp, sizes in contracts, OKX's error codes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from hedgeops.exchange.emulator.state import Account, Emulator
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL, OKX_INSTRUMENTS, OKX_SWAPS, OkxInstrument
from hedgeops.exchange.paper.account import InsufficientFunds
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderRejected
from hedgeops.model.orders import OrderRequest, OrderState, OrderStatus, OrderType, Side, parse_enum

ZERO = Decimal(0)
PUBLIC = ("/api/v5/public/", "/api/v5/market/")
_ORDER_PATHS = ("/api/v5/trade/order", "/api/v5/trade/batch-orders")
MAX_SKEW_SECONDS = 30
CLORDID = re.compile(r"^[A-Za-z0-9]{1,32}$")
API_KEY = web.RequestKey("api_key", str)
ALL_SYMBOLS = sorted(i.symbol for i in OKX_INSTRUMENTS.values())
MAX_ROWS = 100
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OkxError(Exception):
    """An OKX error answer: code, message, HTTP status."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def ok(data: list[Any], code: str = "0", msg: str = "") -> web.Response:
    return web.json_response({"code": code, "msg": msg, "data": data})


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def _num(x: Decimal) -> str:
    return format(x.normalize(), "f") if x else "0"


def _dec(raw: Any, name: str) -> Decimal:
    try:
        d = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise OkxError("51000", f"Parameter {name} error") from None
    if not d.is_finite():
        raise OkxError("51000", f"Parameter {name} error")
    return d


def _levels(levels: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    return [[_num(p), _num(s), "0", "1"] for p, s in levels]


def _raw(header: str) -> bytes:
    """A header's bytes as sent: compare_digest refuses non-ASCII str, and aiohttp decodes headers as UTF-8 with
    surrogateescape, so this is exact even for bytes that are not UTF-8."""
    return header.encode("utf-8", "surrogateescape")


def _inst(inst_id: Any) -> OkxInstrument:
    inst = OKX_INSTRUMENTS.get(str(inst_id))
    if inst is None:
        raise OkxError("51001", "Instrument ID does not exist")
    return inst


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
        r.add_post("/api/v5/trade/order", self.place_one)
        r.add_post("/api/v5/trade/batch-orders", self.place_batch)
        r.add_post("/api/v5/trade/cancel-order", self.cancel_one)
        r.add_post("/api/v5/trade/cancel-batch-orders", self.cancel_batch)
        r.add_get("/api/v5/asset/balances", self.asset_balances)
        r.add_post("/api/v5/asset/transfer", self.transfer)
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
        try:
            if not request.path.startswith(PUBLIC):
                request[API_KEY] = await self._authenticate(request)
                self.emu.settle_funding(self.emu.account(request[API_KEY]))
            response = await handler(request)
        except OkxError as exc:
            response = web.json_response({"code": exc.code, "msg": exc.msg, "data": []}, status=exc.status)
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
        body = await request.text()
        payload = f"{stamp}{request.method}{request.raw_path}{body}".encode()
        want = base64.b64encode(hmac.new(creds.secret.encode(), payload, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(_raw(request.headers.get("OK-ACCESS-SIGN", "")), want.encode()):
            raise OkxError("50113", "Invalid Sign", 401)
        return key

    def _account(self, request: web.Request) -> Account:
        return self.emu.account(request[API_KEY])

    @staticmethod
    async def _json(request: web.Request) -> Any:
        try:
            return json.loads(await request.text() or "{}")
        except json.JSONDecodeError:
            raise OkxError("50002", "Json data format error") from None

    # ---- test controls (not OKX's: what a market does to a strategy, on demand) ----------------------------

    async def shock(self, request: web.Request) -> web.Response:
        """{instId, ratio}: the instrument's price is (1 + ratio) × the replayed one until shocked again;
        {instFamily: "ETH-USDT", ratio}: spot and swap together, at one instant (a move of the whole market)."""
        body = await self._json(request)
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
        body = await self._json(request)
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
        return ok([{"ts": str(int(time.time() * 1000))}])

    async def instruments(self, request: web.Request) -> web.Response:
        kind = request.query.get("instType", "")
        if kind not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            raise OkxError("51000", "Parameter instType error")
        return ok([i.json() for i in OKX_INSTRUMENTS.values() if i.inst_type == kind])

    def _ticker(self, inst: OkxInstrument) -> dict[str, str]:
        q = self.emu.quote(inst)
        size = _num((Decimal(20_000) / q.last / inst.ct_val).quantize(inst.lot_sz, rounding=ROUND_HALF_EVEN))
        base, quote = self.emu.volume_24h(inst)
        # OKX's units: spot vol24h in base and volCcy24h in quote; swaps vol24h in contracts, volCcy24h in base.
        contracts = inst.to_contracts(base).quantize(inst.lot_sz, rounding=ROUND_HALF_EVEN)
        vol, vol_ccy = (base, quote) if inst.spot else (contracts, base)
        return {"instType": inst.inst_type, "instId": inst.inst_id, "last": _num(q.last), "lastSz": "1",
                "askPx": _num(q.ask), "askSz": size, "bidPx": _num(q.bid), "bidSz": size,
                "open24h": _num(q.last), "high24h": _num(q.last), "low24h": _num(q.last),
                "volCcy24h": _num(vol_ccy), "vol24h": _num(vol), "sodUtc0": _num(q.last), "sodUtc8": _num(q.last),
                "ts": _ms(q.at)}

    async def ticker(self, request: web.Request) -> web.Response:
        return ok([self._ticker(_inst(request.query.get("instId")))])

    async def tickers(self, request: web.Request) -> web.Response:
        kind = request.query.get("instType")
        return ok([self._ticker(i) for i in OKX_INSTRUMENTS.values() if i.inst_type == kind])

    async def books(self, request: web.Request) -> web.Response:
        inst = _inst(request.query.get("instId"))
        depth = min(int(request.query.get("sz", "20") or 20), 400)
        bids, asks = self.emu.book(inst, depth)
        return ok([{"asks": _levels(asks), "bids": _levels(bids), "ts": _ms(self.emu.clock())}])

    # ---- account -------------------------------------------------------------------------------------------

    async def balance(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        snap = await acct.venue.snapshot(ALL_SYMBOLS)
        upl = sum((p.unrealized_pnl for p in snap.positions.values()), ZERO)
        details, total = [], ZERO
        for ccy, cash in snap.balances.items():
            eq = cash + (upl if ccy == "USDT" else ZERO)
            price = Decimal(1) if ccy == "USDT" else snap.quotes[f"{ccy}/USDT"].last
            total += eq * price
            details.append({"ccy": ccy, "eq": _num(eq), "cashBal": _num(cash), "availBal": _num(cash),
                            "availEq": _num(eq), "frozenBal": "0", "ordFrozen": "0",
                            "upl": _num(upl if ccy == "USDT" else ZERO), "eqUsd": _num(eq * price),
                            "uTime": _ms(snap.at)})
        return ok([{"totalEq": _num(total), "adjEq": _num(total), "details": details, "uTime": _ms(snap.at)}])

    async def positions(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        wanted = request.query.get("instId")
        snap = await acct.venue.snapshot(ALL_SYMBOLS)
        rows = []
        for inst in OKX_SWAPS.values():
            pos = snap.positions.get(inst.symbol)
            if pos is None or (wanted and wanted != inst.inst_id):
                continue
            mark = snap.quotes[inst.symbol].last
            lever = acct.leverage.get(inst.symbol, Decimal(3))
            notional = abs(pos.qty) * mark
            rows.append({"instType": "SWAP", "instId": inst.inst_id, "mgnMode": "cross", "posSide": "net",
                         "pos": _num(inst.to_contracts(pos.qty)), "avgPx": _num(pos.entry_price),
                         "markPx": _num(mark), "upl": _num(pos.unrealized_pnl), "lever": _num(lever),
                         "notionalUsd": _num(notional), "imr": _num(notional / lever), "margin": "",
                         "mmr": _num(notional * Decimal("0.004")), "liqPx": "", "ccy": "USDT",
                         "cTime": _ms(snap.at), "uTime": _ms(snap.at)})
        return ok(rows)

    async def set_leverage(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        inst = _inst(body.get("instId"))
        lever = _dec(body.get("lever"), "lever")
        if inst.spot or not 1 <= lever <= inst.lever:
            raise OkxError("51000", "Parameter lever error")
        self._account(request).leverage[inst.symbol] = lever
        return ok([{"instId": inst.inst_id, "lever": _num(lever), "mgnMode": body.get("mgnMode", "cross"),
                    "posSide": "net"}])

    async def asset_balances(self, request: web.Request) -> web.Response:
        wallet = self._account(request).funding_wallet
        return ok([{"ccy": c, "bal": _num(v), "availBal": _num(v), "frozenBal": "0"} for c, v in wallet.items()])

    async def transfer(self, request: web.Request) -> web.Response:
        """Funding (6) ↔ trading (18) transfers of USDT."""
        acct = self._account(request)
        body = await self._json(request)
        amount = _dec(body.get("amt"), "amt")
        src, dst, ccy = str(body.get("from")), str(body.get("to")), str(body.get("ccy", ""))
        if ccy != "USDT" or {src, dst} != {"6", "18"} or amount <= 0:
            raise OkxError("51000", "Parameter from/to/ccy/amt error")
        paper = acct.venue.account
        have = acct.funding_wallet.get("USDT", ZERO) if src == "6" else paper.quote_balance
        if amount > have:
            raise OkxError("58350", "Insufficient balance")
        if src == "6":
            acct.funding_wallet["USDT"] = have - amount
            paper.quote_balance += amount
        else:
            paper.quote_balance -= amount
            acct.funding_wallet["USDT"] = acct.funding_wallet.get("USDT", ZERO) + amount
        acct.transfers += 1
        return ok([{"transId": str(acct.transfers), "ccy": ccy, "from": src, "to": dst, "amt": _num(amount),
                    "clientId": str(body.get("clientId", ""))}])

    # ---- trading -------------------------------------------------------------------------------------------

    def _order_json(self, acct: Account, state: OrderState) -> dict[str, str]:
        inst = BY_SYMBOL[state.symbol]
        okx_state = {"closed": "filled", "canceled": "canceled"}.get(
            state.status, "partially_filled" if state.filled else "live")
        ord_type = "post_only" if state.post_only else ("market" if state.type == "market" else "limit")
        created = str(acct.created_ms.get(state.client_order_id, 0))
        return {"instType": inst.inst_type, "instId": inst.inst_id, "ordId": acct.ord_ids[state.client_order_id],
                "clOrdId": state.client_order_id, "tag": "", "px": "" if state.price is None else _num(state.price),
                "sz": _num(inst.to_contracts(state.amount)), "ordType": ord_type, "side": state.side,
                "posSide": "net", "tdMode": "cross", "accFillSz": _num(inst.to_contracts(state.filled)),
                "fillPx": "" if state.average is None else _num(state.average),
                "avgPx": "" if state.average is None else _num(state.average), "state": okx_state,
                "fee": _num(-state.fee_quote), "feeCcy": "USDT", "reduceOnly": "false", "lever": "",
                "cTime": created, "uTime": created}

    def _visible(self, acct: Account, cl_ord_id: str) -> bool:
        delay = self.emu.faults.show_delay_seconds
        return delay <= 0 or time.time() * 1000 - acct.created_ms.get(cl_ord_id, 0) >= delay * 1000

    async def _place(self, acct: Account, body: dict[str, Any]) -> dict[str, str]:
        """One order; answers an OKX batch row (sCode 0 or an error code)."""
        cl = str(body.get("clOrdId") or "")
        try:
            inst = _inst(body.get("instId"))
            if cl and not CLORDID.match(cl):
                raise OkxError("51000", "Parameter clOrdId error")
            ord_type = str(body.get("ordType"))
            try:  # the wire's text as our enums: OKX's four order types are a market order or a limit
                side = parse_enum(Side, body.get("side"), "side")
            except ValueError:
                raise OkxError("51000", "Parameter side/ordType error") from None
            if ord_type not in ("market", "limit", "post_only", "ioc"):
                raise OkxError("51000", "Parameter side/ordType error")
            sz = _dec(body.get("sz"), "sz")
            if sz <= 0 or (sz / inst.lot_sz) != (sz / inst.lot_sz).to_integral_value(ROUND_HALF_EVEN):
                raise OkxError("51121", "Order quantity must be a multiple of the lot size")
            if sz < inst.min_sz:
                raise OkxError("51020", "Order amount should be greater than the min available amount")
            if self.emu.faults.rejects > 0:
                self.emu.faults.rejects -= 1
                raise OkxError("51008", "Order failed. Insufficient USDT margin in account")
            px = _dec(body["px"], "px") if body.get("px") not in (None, "") else None
            if ord_type != "market" and px is None:
                raise OkxError("51000", "Parameter px error")
            if inst.spot and body.get("tgtCcy") == "quote_ccy":  # a spot market buy sized in quote
                sz = ((sz / self.emu.quote(inst).ask) / inst.lot_sz).to_integral_value(ROUND_DOWN) * inst.lot_sz
            cl = cl or f"emu{self.emu.next_ord_id()}"
            if cl in acct.ord_ids:
                raise OkxError("51016", "Duplicated clOrdId")
            reduce = str(body.get("reduceOnly", "false")).lower() == "true"
            req = OrderRequest(cl, inst.symbol, side, inst.to_base(sz),
                               OrderType.MARKET if ord_type == "market" else OrderType.LIMIT,
                               px, post_only=ord_type == "post_only", reduce_only=reduce)
            ord_id = self.emu.next_ord_id()
            acct.ord_ids[cl], acct.by_ord_id[ord_id] = ord_id, cl
            acct.created_ms[cl] = int(time.time() * 1000)
            try:
                await acct.venue.place(req)
            except OrderRejected as exc:
                if req.post_only and "cross" in str(exc):
                    # OKX accepts a crossing post-only order and cancels it at once.
                    paper = acct.venue.account
                    rejected = paper.orders[cl]
                    paper.orders[cl] = OrderState(cl, rejected.symbol, rejected.side, rejected.amount, ZERO,
                                                  rejected.price, None, OrderStatus.CANCELED, ZERO, OrderType.LIMIT,
                                                  True)
                else:
                    del acct.ord_ids[cl], acct.by_ord_id[ord_id]
                    code = ("51008" if isinstance(exc, InsufficientFunds) else "51169" if "reduce" in str(exc)
                            else "51000")
                    raise OkxError(code, str(exc)) from None
            except DuplicateClientOrderId:
                raise OkxError("51016", "Duplicated clOrdId") from None
            return {"ordId": ord_id, "clOrdId": cl, "tag": "", "sCode": "0", "sMsg": "Order placed",
                    "ts": str(acct.created_ms[cl])}
        except OkxError as exc:
            return {"ordId": "", "clOrdId": cl, "tag": "", "sCode": exc.code, "sMsg": exc.msg, "ts": ""}

    @staticmethod
    def _batch(rows: list[dict[str, str]]) -> web.Response:
        failed = sum(1 for r in rows if r["sCode"] != "0")
        code = "0" if not failed else ("1" if failed == len(rows) else "2")
        return ok(rows, code, "" if not failed else "All operations failed" if code == "1" else "")

    async def place_one(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        return self._batch([await self._place(self._account(request), dict(body))])

    async def place_batch(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if not isinstance(body, list) or not 1 <= len(body) <= 20:
            raise OkxError("51000", "Parameter batch error")
        acct = self._account(request)
        return self._batch([await self._place(acct, dict(o)) for o in body])

    def _find(self, acct: Account, query: Any) -> OrderState:
        cl = str(query.get("clOrdId") or acct.by_ord_id.get(str(query.get("ordId") or ""), ""))
        state = acct.venue.account.orders.get(cl)
        if state is None or cl not in acct.ord_ids or not self._visible(acct, cl):
            raise OkxError("51603", "Order does not exist")
        return state

    async def get_order(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        _inst(request.query.get("instId"))
        state = self._find(acct, request.query)
        state = await acct.venue.order(state.client_order_id, state.symbol) or state
        return ok([self._order_json(acct, state)])

    async def orders_pending(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        await acct.venue.snapshot(ALL_SYMBOLS)  # lets resting orders fill first
        wanted = request.query.get("instId")
        rows = [self._order_json(acct, s) for s in acct.venue.account.open_orders()
                if s.client_order_id in acct.ord_ids and self._visible(acct, s.client_order_id)
                and (not wanted or BY_SYMBOL[s.symbol].inst_id == wanted)]
        return ok(rows)

    async def _cancel(self, acct: Account, body: dict[str, Any]) -> dict[str, str]:
        try:
            _inst(body.get("instId"))
            state = self._find(acct, body)
            if state.done:
                raise OkxError("51400", "Cancellation failed as the order has been filled, canceled or does not exist")
            await acct.venue.cancel(state.client_order_id, state.symbol)
            return {"ordId": acct.ord_ids[state.client_order_id], "clOrdId": state.client_order_id,
                    "sCode": "0", "sMsg": ""}
        except OkxError as exc:
            return {"ordId": str(body.get("ordId", "")), "clOrdId": str(body.get("clOrdId", "")),
                    "sCode": exc.code, "sMsg": exc.msg}

    async def cancel_one(self, request: web.Request) -> web.Response:
        return self._batch([await self._cancel(self._account(request), dict(await self._json(request)))])

    async def cancel_batch(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if not isinstance(body, list) or not body:
            raise OkxError("51000", "Parameter batch error")
        acct = self._account(request)
        return self._batch([await self._cancel(acct, dict(o)) for o in body])

    # ---- funding and history -------------------------------------------------------------------------------

    def _funding_row(self, inst: OkxInstrument) -> dict[str, str]:
        now = self.emu.clock()
        nxt = self.emu.funding.next_after(inst.symbol, now)
        if nxt is None:
            raise OkxError("51001", "No funding rate for this instrument at this time")
        after = self.emu.funding.next_after(inst.symbol, nxt.at)
        return {"instType": "SWAP", "instId": inst.inst_id, "fundingRate": _num(nxt.rate),
                "nextFundingRate": "", "fundingTime": _ms(nxt.at),
                "nextFundingTime": _ms(after.at) if after else _ms(nxt.at), "method": "current_period",
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
        limit = min(int(request.query.get("limit", MAX_ROWS) or MAX_ROWS), MAX_ROWS)
        rows = self.emu.funding.last_before(inst.symbol, self.emu.clock(), limit)
        return ok([{"instType": "SWAP", "instId": inst.inst_id, "fundingRate": _num(r.rate),
                    "realizedRate": _num(r.rate), "fundingTime": _ms(r.at), "method": "current_period"}
                   for r in rows])

    async def bills(self, request: web.Request) -> web.Response:
        """Funding-fee bills (type 8), newest first, as OKX lists them."""
        acct = self._account(request)
        if request.query.get("type", "8") != "8":
            return ok([])
        rows = []
        for b in reversed(acct.venue.account.bills[-MAX_ROWS:]):
            inst = BY_SYMBOL[b.symbol]
            rows.append({"billId": str(b.bill_id), "instType": "SWAP", "instId": inst.inst_id, "ccy": "USDT",
                         "type": "8", "subType": "174" if b.amount > 0 else "173", "balChg": _num(b.amount),
                         "posBalChg": "0", "bal": "", "px": _num(b.mark), "sz": "", "ts": _ms(b.at)})
        return ok(rows)

    async def fills(self, request: web.Request) -> web.Response:
        """Executions, newest first."""
        acct = self._account(request)
        wanted = request.query.get("instId")
        rows = []
        for f in reversed(acct.venue.account.fills):
            inst = BY_SYMBOL[f.symbol]
            if (wanted and inst.inst_id != wanted) or f.client_order_id not in acct.ord_ids:
                continue
            rows.append({"instType": inst.inst_type, "instId": inst.inst_id, "tradeId": f.trade_id,
                         "ordId": acct.ord_ids[f.client_order_id], "clOrdId": f.client_order_id,
                         "billId": f.trade_id, "fillPx": _num(f.price), "fillSz": _num(inst.to_contracts(f.qty)),
                         "side": f.side, "posSide": "net", "execType": "M" if f.maker else "T",
                         "fee": _num(-f.fee_quote), "feeCcy": "USDT", "ts": _ms(f.at)})
            if len(rows) == MAX_ROWS:
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

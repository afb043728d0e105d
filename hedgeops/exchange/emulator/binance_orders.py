"""Binance USDⓈ-M orders, fills and income on the shared matching core."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from aiohttp import web

from hedgeops.exchange.emulator.binance_rules import (
    BY_CCXT,
    CCXT_SYMBOLS,
    CLIENT_ID,
    PERCENT_DOWN,
    PERCENT_UP,
    ZERO,
    BinanceBase,
    BinanceError,
    Params,
    _decimal,
    _fixed,
    _given,
    _int,
    _Keyed,
    _limit,
    _Meta,
    _ms,
    _num,
    _perp,
    _places,
    illegal,
    missing,
    realized_by_fill,
)
from hedgeops.exchange.emulator.state import Account
from hedgeops.exchange.paper.account import InsufficientFunds
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderRejected
from hedgeops.model.orders import OrderRequest, OrderState, OrderStatus, OrderType, Side


class BinanceOrders(BinanceBase):
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
            "avgPrice": _num(state.average) if state.average else "0",
            "clientOrderId": state.client_order_id.split("#")[0],
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
                raise BinanceError(-4002, "Price greater than max price.")
            if _places(price) > perp.price_precision:
                raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
            if price % perp.tick:
                raise BinanceError(-4014, "Price not increased by tick size.")
        q = self._quote(perp)
        if price is not None:  # PERCENT_PRICE, around the mark (the replayed price)
            cap = (q.last * PERCENT_UP / perp.tick).to_integral_value(ROUND_FLOOR) * perp.tick
            floor = (q.last * PERCENT_DOWN / perp.tick).to_integral_value(ROUND_CEILING) * perp.tick
            if side_raw == "BUY" and price > cap:
                raise BinanceError(-4016, f"Limit price can't be higher than {_fixed(cap, perp.price_precision)}.")
            if side_raw == "SELL" and price < floor:
                raise BinanceError(-4024, f"Limit price can't be lower than {_fixed(floor, perp.price_precision)}.")
        if not reduce and qty * (price if price is not None else q.last) < perp.min_notional:
            raise BinanceError(-4164, f"Order's notional must be no smaller than {perp.min_notional} (unless you "
                                      "choose reduce only).")
        if cl and cl in acct.venue.account.orders:
            # Binance: newClientOrderId is "a unique id among open orders". A final order's id is free again, so a
            # blind re-send of a filled market order is a second order: what the venue adapter must never do.
            earlier = await acct.venue.order(cl, perp.ccxt) or acct.venue.account.orders[cl]
            if not earlier.done:
                raise BinanceError(-4116, "ClientOrderId is duplicated.")
            self._archive(acct, keyed, cl)
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

    @staticmethod
    def _archive(acct: Account, keyed: _Keyed, cl: str) -> None:
        """A final order whose client id is reused: kept, still found by its orderId, under a key no client id can
        be (`#` is outside Binance's id alphabet); the client id now names the new order."""
        old_id = acct.ord_ids.pop(cl)
        archived = f"{cl}#{old_id}"
        acct.venue.account.orders[archived] = replace(acct.venue.account.orders.pop(cl), client_order_id=archived)
        acct.ord_ids[archived], acct.by_ord_id[old_id] = old_id, archived
        keyed.meta[archived] = keyed.meta.pop(cl)

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
        if "#" not in state.client_order_id:  # an archived one is final: nothing to refresh
            state = await acct.venue.order(state.client_order_id, state.symbol) or state
        self._touch(request, acct, state)
        return web.json_response(self._order_json(request, state))

    async def cancel_order(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        state = self._find(request, acct, _given(request), -2011, "Unknown order sent.")
        if "#" in state.client_order_id:  # archived: final, and its id reused
            raise BinanceError(-2011, "Unknown order sent.")
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


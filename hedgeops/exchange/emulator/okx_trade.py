"""OKX's trading endpoints: orders placed, cancelled and read back (pending and history) and fills, with OKX's
codes for what OKX refuses: a priced order beyond the price limit (51006), no tdMode (50014), a posSide that is not
long/short/net, or none in long/short position mode (51000).

Not emulated, and refused rather than booked as something else: spot margin trading (spot takes tdMode cash only;
cross, isolated and spot_isolated are refused with 51000), isolated margin on swaps, futures and options (51000,
cross only), and hedged positions: an account switched to long_short_mode refuses every swap and future order
(without posSide long/short as OKX does; with it because long and short legs side by side are not booked)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal, DecimalException
from typing import Any

from aiohttp import web

from hedgeops.exchange.emulator.okx_common import (
    ALL_SYMBOLS,
    ARCHIVED,
    CLORDID,
    MAX_ROWS,
    TAG,
    TRADE_BILL,
    ZERO,
    OkxBase,
    OkxError,
    _cl_ord_id,
    _dec,
    _inst,
    _inst_type,
    _int,
    _ms,
    _ms_param,
    _num,
    _opt,
    _status,
    ok,
    price_limit,
)
from hedgeops.exchange.emulator.state import Account, OrderMeta
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL
from hedgeops.exchange.paper.account import DEFAULT_LEVERAGE, InsufficientFunds
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderRejected
from hedgeops.model.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType, Side, parse_enum


class TradeRoutes(OkxBase):
    """/api/v5/trade/*."""

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
            "ordId": acct.ord_ids[cl], "clOrdId": _cl_ord_id(cl), "tag": meta.tag,
            "px": "" if state.price is None or meta.ord_type == "market" else _num(state.price), "pxUsd": "",
            "pxVol": "", "pxType": "", "sz": meta.quote_sz or _num(inst.to_contracts(state.amount)), "pnl": _num(pnl),
            "ordType": meta.ord_type, "side": str(state.side), "posSide": "net",
            "tdMode": meta.td_mode, "accFillSz": _num(inst.to_contracts(state.filled)),
            "fillPx": "" if last is None else _num(last.price), "tradeId": "" if last is None else last.trade_id,
            "fillSz": "0" if last is None else _num(inst.to_contracts(last.qty)),
            "fillTime": "" if last is None else _ms(last.at), "avgPx": _opt(state.average), "state": _status(state),
            "stpId": "", "stpMode": "cancel_maker", "lever": "" if inst.spot or inst.option else _num(
                acct.leverage.get(state.symbol, DEFAULT_LEVERAGE)),
            "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "", "slTriggerPx": "",
            "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [], "linkedAlgoOrd": {"algoId": ""},
            "feeCcy": inst.settle, "fee": _num(-state.fee_quote), "rebateCcy": inst.settle, "rebate": "0",
            "source": "", "category": "normal", "reduceOnly": "true" if meta.reduce_only else "false",
            "isTpLimit": "false", "cancelSource": "", "cancelSourceReason": "", "quickMgnType": "",
            "algoClOrdId": "", "algoId": "", "tradeQuoteCcy": inst.quote if inst.spot else "",
            "uTime": str(updated), "cTime": str(meta.c_time)}

    async def _place(self, acct: Account, body: dict[str, Any]) -> dict[str, str]:
        """One order; answers an OKX batch row (sCode 0 or an error code). A refused order leaves nothing
        behind: its clOrdId is free again, as OKX keeps no refused order. OKX refuses a clOrdId only while an order
        under it is pending (51016): a filled or canceled order's id may be sent again, and the clOrdId then names
        the new order (GET /trade/order: "only the latest one will be returned")."""
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
            if ord_type == "market" and inst.option:  # OKX's options take priced orders only
                raise OkxError("51000", "Parameter ordType error: options take limit, post_only or ioc orders")
            td_raw = body.get("tdMode")
            if td_raw in (None, ""):  # OKX defaults nothing: every order says how it is margined
                raise OkxError("50014", "Parameter tdMode can not be empty.")
            td_mode = str(td_raw)
            if inst.spot:
                if td_mode != "cash":  # spot margin (cross, isolated, spot_isolated) is not emulated
                    raise OkxError("51000", "Parameter tdMode error")
            elif td_mode == "isolated":
                raise OkxError("51000", "Parameter tdMode error: isolated margin is not emulated (cross only)")
            elif td_mode != "cross":
                raise OkxError("51000", "Parameter tdMode error")
            pos_raw = body.get("posSide")
            pos_side = "" if pos_raw in (None, "") else pos_raw
            if pos_side not in ("", "long", "short", "net"):
                raise OkxError("51000", "Parameter posSide error")
            if acct.pos_mode == "long_short_mode" and inst.inst_type in ("SWAP", "FUTURES"):
                if pos_side not in ("long", "short"):  # OKX: required in long/short mode, long or short only
                    raise OkxError("51000", "Parameter posSide error")
                raise OkxError("51000", "Parameter posSide error: long/short position mode is not emulated "
                                        "(set-position-mode net_mode)")
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
                buy_lmt, sell_lmt = price_limit(self.emu, inst)  # OKX's band: a priced order beyond it is refused
                if (px > buy_lmt) if side == Side.BUY else (px < sell_lmt):
                    raise OkxError("51006", "Order price is not within the price limit (max buy price: "
                                            f"{_num(buy_lmt)}, min sell price: {_num(sell_lmt)})")
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
            archived = None
            if cl in acct.ord_ids:
                earlier = acct.venue.account.orders.get(cl)
                if earlier is not None:  # fills first: a resting order that has filled is done
                    earlier = await acct.venue.order(cl, earlier.symbol) or earlier
                if earlier is None or not earlier.done:
                    raise OkxError("51016", "Duplicated clOrdId")
                # A blind re-send of a filled market order is a second order here: what the venue adapter must
                # never do (CcxtVenue._lost_answer).
                archived = f"{cl}{ARCHIVED}{acct.ord_ids[cl]}"
                self._rekey(acct, cl, archived)
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
                    if archived is not None:  # and names the earlier order again
                        self._rekey(acct, archived, cl)
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

    @staticmethod
    def _rekey(acct: Account, key: str, new: str) -> None:
        """Move an order, with what is kept of it by key (meta, stamps, fills), from `key` to `new`; its ordId
        stays. Archives a final order whose clOrdId is used again, and puts it back if the new one is refused."""
        paper = acct.venue.account
        ord_id = acct.ord_ids.pop(key)
        acct.ord_ids[new], acct.by_ord_id[ord_id] = ord_id, new
        paper.orders[new] = replace(paper.orders.pop(key), client_order_id=new)
        if key in acct.meta:
            acct.meta[new] = acct.meta.pop(key)
        for stamps in (acct.created_ms, acct.done_ms):
            if key in stamps:
                stamps[new] = stamps.pop(key)
        if paper.fills_by_order.pop(key, None) is not None:  # rare (an id used again): a scan of every fill is fine
            for n, f in enumerate(paper.fills):
                if f.client_order_id == key:
                    paper.fills[n] = replace(f, client_order_id=new)
            paper.fills_by_order[new] = [f for f in paper.fills if f.client_order_id == new]

    def _batch(self, rows: list[dict[str, str]], started: int) -> web.Response:
        failed = sum(1 for r in rows if r["sCode"] != "0")
        code = "0" if not failed else ("1" if failed == len(rows) else "2")
        msg = "" if not failed else "All operations failed" if code == "1" else "Bulk operation partially succeeded"
        # OKX's gateway stamps (µs), on the replay clock like every other stamp.
        return ok(rows, code, msg, inTime=str(started * 1000), outTime=str(self._now() * 1000))

    async def place_one(self, request: web.Request) -> web.Response:
        started = self._now()
        body = await self._object(request)
        return self._batch([await self._place(self._account(request), body)], started)

    async def place_batch(self, request: web.Request) -> web.Response:
        started = self._now()
        items = await self._items(request, 20)
        acct = self._account(request)
        return self._batch([await self._place(acct, o) for o in items], started)

    def _find(self, acct: Account, query: Mapping[str, Any]) -> OrderState:
        ord_id, cl_raw = query.get("ordId"), query.get("clOrdId")
        if ord_id in (None, "") and cl_raw in (None, ""):
            raise OkxError("50015", "Either parameter ordId or clOrdId is required")
        if ord_id not in (None, ""):  # the ordId names one order, an archived one too; a clOrdId given must match
            key = acct.by_ord_id.get(str(ord_id), "")
            if cl_raw not in (None, "") and _cl_ord_id(key) != str(cl_raw):
                raise OkxError("51603", "Order does not exist")
        else:  # the latest order sent under the clOrdId; an archive's key is no clOrdId
            key = "" if ARCHIVED in str(cl_raw) else str(cl_raw)
        state = acct.venue.account.orders.get(key)
        if state is None or key not in acct.ord_ids or not self._visible(acct, key):
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
            return {"clOrdId": _cl_ord_id(state.client_order_id), "ordId": acct.ord_ids[state.client_order_id],
                    "ts": str(self._now()), "sCode": "0", "sMsg": ""}
        except OkxError as exc:
            return {"clOrdId": str(body.get("clOrdId", "") or ""), "ordId": str(body.get("ordId", "") or ""),
                    "ts": str(self._now()), "sCode": exc.code, "sMsg": exc.msg}

    async def cancel_one(self, request: web.Request) -> web.Response:
        started = self._now()
        body = await self._object(request)
        return self._batch([await self._cancel(self._account(request), body)], started)

    async def cancel_batch(self, request: web.Request) -> web.Response:
        started = self._now()
        items = await self._items(request, 20)
        acct = self._account(request)
        return self._batch([await self._cancel(acct, o) for o in items], started)

    async def fills(self, request: web.Request) -> web.Response:
        """Executions, newest first."""
        acct = self._account(request)
        q = request.query
        kind = _inst_type(q, required=request.path.endswith("fills-history"))  # required there, as on OKX
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
                         "ordId": acct.ord_ids[f.client_order_id], "clOrdId": _cl_ord_id(f.client_order_id),
                         "billId": str(TRADE_BILL + 2 * n), "subType": "1" if f.side == Side.BUY else "2",
                         "tag": meta.tag if meta else "", "fillPx": _num(f.price),
                         "fillSz": _num(inst.to_contracts(f.qty)), "fillIdxPx": _num(f.price), "fillPnl": _num(pnl),
                         "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "", "fillFwdPx": "",
                         "fillMarkPx": "" if inst.spot else _num(f.price), "side": str(f.side),
                         "posSide": "net", "execType": "M" if f.maker else "T",
                         "feeCcy": inst.settle, "fee": _num(-f.fee_quote),
                         "feeRate": _num(-(fees.maker if f.maker else fees.taker)), "ts": str(at), "fillTime": str(at),
                         "tradeQuoteCcy": inst.quote if inst.spot else ""})
            if len(rows) == limit:
                break
        return ok(rows)


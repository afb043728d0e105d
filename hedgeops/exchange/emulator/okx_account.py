"""OKX's account and funding endpoints: balance, positions, leverage, the account's configuration and position
mode, bills (transfers, trades, funding fees), the funding wallet, currencies and transfers."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from aiohttp import web

from hedgeops.exchange.emulator.okx_common import (
    ALL_SYMBOLS,
    API_KEY,
    CLORDID,
    FUNDING_BILL,
    MAX_ROWS,
    MMR_RATE,
    ONE,
    TRADE_BILL,
    TRANSFER_BILL,
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
    _q,
    ok,
)
from hedgeops.exchange.emulator.okx_derivatives import DerivativeRoutes
from hedgeops.exchange.emulator.okx_ws_channels import uid_of
from hedgeops.exchange.emulator.state import Account, Transfer
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL, OKX_INSTRUMENTS
from hedgeops.exchange.paper.account import DEFAULT_LEVERAGE, MarginCheck, is_option
from hedgeops.model.orders import Position, Side


class AccountRoutes(DerivativeRoutes, OkxBase):
    """/api/v5/account/* and /api/v5/asset/*."""

    async def balance(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        snap = await acct.venue.snapshot(ALL_SYMBOLS)
        paper = acct.venue.account
        wanted = {c for c in request.query.get("ccy", "").split(",") if c}
        now = str(self._now())
        # Options are bought in full in their settlement currency (BTC): no margin, their value and upl not USDT's.
        linear = {s: p for s, p in snap.positions.items() if not is_option(s)}
        upl = sum((p.unrealized_pnl for p in linear.values()), ZERO)
        notional = sum((abs(p.qty) * snap.quotes[s].last for s, p in linear.items()), ZERO)
        imr = sum((abs(p.qty) * snap.quotes[s].last / acct.leverage.get(s, DEFAULT_LEVERAGE)
                   for s, p in linear.items()), ZERO)
        mmr = notional * MMR_RATE
        held = paper.reserved()  # spot orders' holds, and perp orders' margin (their opening parts only)
        held["USDT"] = held.get("USDT", ZERO) + sum(paper.order_margins(acct.leverage).values(), ZERO)
        opt_val, opt_upl = self._options_by_currency(snap.positions)
        details, total, avail_total, frozen_total, upl_usd = [], ZERO, ZERO, ZERO, upl
        balances = dict(snap.balances)
        for ccy in held:
            balances.setdefault(ccy, ZERO)
        for ccy, cash in balances.items():
            usdt = ccy == "USDT"
            price = ONE if usdt else snap.quotes[f"{ccy}/USDT"].last
            ord_frozen = held.get(ccy, ZERO)
            frozen = ord_frozen + (imr if usdt else ZERO)
            ccy_upl = (upl if usdt else ZERO) + opt_upl.get(ccy, ZERO)
            eq = cash + (upl if usdt else ZERO) + opt_val.get(ccy, ZERO)
            avail_eq = eq - opt_val.get(ccy, ZERO) - frozen  # an option's value is not margin to spend
            total += eq * price
            avail_total += avail_eq * price
            upl_usd += opt_upl.get(ccy, ZERO) * price
            frozen_total += ord_frozen * price
            if wanted and ccy not in wanted:
                continue
            c_imr, c_mmr = (imr, mmr) if usdt else (ZERO, ZERO)
            details.append({
                "ccy": ccy, "eq": _num(eq), "cashBal": _num(cash), "uTime": now, "isoEq": "0",
                "availEq": _num(avail_eq), "disEq": _num(eq * price), "fixedBal": "0",
                "availBal": _num(cash - frozen), "frozenBal": _num(frozen), "ordFrozen": _num(ord_frozen),
                "liab": "0", "upl": _num(ccy_upl), "uplLiab": "0", "crossLiab": "0", "rewardBal": "0",
                "isoLiab": "0", "mgnRatio": _q(eq / c_mmr) if c_mmr else "", "imr": _q(c_imr), "mmr": _q(c_mmr),
                "interest": "0", "twap": "0", "frpType": "0", "maxLoan": "", "eqUsd": _q(eq * price),
                "borrowFroz": "0", "notionalLever": _q(notional / eq) if usdt and eq > 0 else "0",
                "stgyEq": "0", "isoUpl": "0", "spotInUseAmt": "", "clSpotInUseAmt": "", "maxSpotInUse": "",
                "spotIsoBal": "0", "smtSyncEq": "0", "spotCopyTradingEq": "0", "spotBal": "", "openAvgPx": "",
                "accAvgPx": "", "spotUpl": "", "spotUplRatio": "", "totalPnl": "", "totalPnlRatio": "",
                "colRes": "0", "colBorrAutoConversion": "0", "collateralRestrict": False, "collateralEnabled": False,
                "autoLendStatus": "unsupported", "autoLendMtAmt": "0"})
        return ok([{"uTime": now, "totalEq": _q(total), "isoEq": "0", "adjEq": _q(total), "availEq": _q(avail_total),
                    "ordFroz": _q(frozen_total), "imr": _q(imr), "mmr": _q(mmr), "borrowFroz": "0",
                    "mgnRatio": _q(total / mmr) if mmr else "", "notionalUsd": _q(notional),
                    "notionalUsdForBorrow": "0", "notionalUsdForSwap": _q(notional), "notionalUsdForFutures": "0",
                    "notionalUsdForOption": "0", "upl": _q(upl_usd), "delta": "", "deltaLever": "",
                    "deltaNeutralStatus": "0", "details": details}])

    def _options_by_currency(self, positions: Mapping[str, Position]) -> tuple[dict[str, Decimal],
                                                                               dict[str, Decimal]]:
        """Per settlement currency, the market value of the options held and their unrealised PnL. OKX counts the
        first in the currency's eq (its help on margin-free mode: "Equity = Available + In use + Options value";
        the premium paid has left cashBal) and the second in its upl ("Sum of unrealized profit & loss of all margin
        and derivatives positions of currency")."""
        value: dict[str, Decimal] = {}
        pnl: dict[str, Decimal] = {}
        for symbol, pos in positions.items():
            if is_option(symbol):
                inst = BY_SYMBOL[symbol]
                mark = self.mark(inst)
                value[inst.settle] = value.get(inst.settle, ZERO) + pos.qty * mark
                pnl[inst.settle] = pnl.get(inst.settle, ZERO) + pos.qty * (mark - pos.entry_price)
        return value, pnl

    async def positions(self, request: web.Request) -> web.Response:
        acct = self._account(request)
        kind = _inst_type(request.query, required=False)
        wanted = {i for i in request.query.get("instId", "").split(",") if i}
        pos_ids = {i for i in request.query.get("posId", "").split(",") if i}
        snap = await acct.venue.snapshot(ALL_SYMBOLS)
        paper = acct.venue.account
        linear = {s: p for s, p in snap.positions.items() if not is_option(s)}
        notional_all = sum((abs(p.qty) * snap.quotes[s].last for s, p in linear.items()), ZERO)
        upl_all = sum((p.unrealized_pnl for p in linear.values()), ZERO)
        eq = paper.quote_balance + upl_all
        mgn_ratio = _q(eq / (notional_all * MMR_RATE)) if notional_all else ""
        last_trade = {f.symbol: f.trade_id for f in paper.fills}
        rows = []
        for n, inst in enumerate(i for i in OKX_INSTRUMENTS.values() if not i.spot):
            pos = snap.positions.get(inst.symbol)
            book = paper.position_book(inst.symbol)
            if pos is None or book is None or kind not in (None, inst.inst_type) or (
                    wanted and inst.inst_id not in wanted):
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
            row = {
                "instType": inst.inst_type, "mgnMode": "cross", "posId": pos_id, "posSide": "net",
                "pos": _num(contracts),
                "hedgedPos": "",  # delta-neutral strategy accounts only
                "baseBal": "", "quoteBal": "", "baseBorrowed": "", "baseInterest": "", "quoteBorrowed": "",
                "quoteInterest": "", "posCcy": "", "availPos": "", "avgPx": _num(pos.entry_price),  # MARGIN/OPTION only
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
                "uTime": _ms(book.updated_at) if book.updated_at else str(self._now())}
            if inst.option:
                row.update(self.option_position(inst, pos.qty, pos.entry_price, self.emu.clock()))
            rows.append(row)
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
        acct = self._account(request)
        await acct.venue.snapshot(ALL_SYMBOLS)  # resting orders fill and funding settles first
        if acct.venue.margin is not None:
            now = acct.venue.margin()
            paper = acct.venue.account
            after = MarginCheck({**now.leverage, inst.symbol: lever}, now.marks)
            free, free_after = paper.free_quote("USDT", now), paper.free_quote("USDT", after)
            if free_after < 0 and free_after < free:  # a lower leverage the position and orders cannot carry
                raise OkxError("59108", "Low leverage and insufficient margin, please adjust the leverage")
        acct.leverage[inst.symbol] = lever
        return ok([{"lever": _num(lever), "mgnMode": mode, "instId": inst.inst_id,
                    "posSide": str(body.get("posSide", "net") or "net")}])

    async def config(self, request: web.Request) -> web.Response:
        """GET /account/config: the account's settings as OKX lists them. A single-currency margin account (acctLv
        2), in the position mode set-position-mode chose (net_mode by default, as OKX opens accounts)."""
        key = request[API_KEY]
        acct = self._account(request)
        uid = uid_of(key)
        creds = self.emu.keys.get(key)
        return ok([{"acctLv": "2", "acctStpMode": "cancel_maker", "autoLoan": False, "ctIsoMode": "automatic",
                    "enableSpotBorrow": False, "greeksType": "PA", "feeType": "0", "ip": "", "type": "0",
                    "kycLv": "2", "label": "hedgeops emulator" + (" (demo)" if creds and creds.demo else ""),
                    "level": "Lv1", "levelTmp": "", "liquidationGear": "-1", "mainUid": uid, "mgnIsoMode": "automatic",
                    "opAuth": "0", "perm": "read_only,trade", "posMode": acct.pos_mode, "roleType": "0",
                    "spotBorrowAutoRepay": False, "spotOffsetType": "", "spotRoleType": "0", "spotTraderInsts": [],
                    "traderInsts": [], "uid": uid, "settleCcy": "USDT", "settleCcyList": ["USDT"]}])

    async def set_position_mode(self, request: web.Request) -> web.Response:
        """POST /account/set-position-mode {posMode}: net_mode or long_short_mode, refused (59000) while the account
        has an open order or a position, as OKX refuses it. In long_short_mode every swap and future order must
        carry posSide long or short (51000 without); hedged positions themselves are not emulated (okx_trade)."""
        body = await self._object(request)
        mode = body.get("posMode")
        if mode in (None, ""):
            raise OkxError("50014", "Parameter posMode can not be empty")
        if mode not in ("net_mode", "long_short_mode"):
            raise OkxError("51000", "Parameter posMode error")
        acct = self._account(request)
        snap = await acct.venue.snapshot(ALL_SYMBOLS)  # resting orders fill first
        if acct.pos_mode != mode and (acct.venue.account.open_orders()
                                      or any(p.qty for p in snap.positions.values())):
            raise OkxError("59000", "Setting failed. Cancel any open orders, close positions, and stop trading "
                                    "bots first.")
        acct.pos_mode = str(mode)
        return ok([{"posMode": acct.pos_mode}])

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
                         "usedWdQuota": "0", "fee": "0", "minFee": "0", "maxFee": "0", "minFeeForCtAddr": "",
                         "maxFeeForCtAddr": "", "burningFeeRate": "",
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
        if src == "6":
            have = acct.funding_wallet.get("USDT", ZERO)
        else:  # the trading account's available equity, less unrealised profit (see PaperAccount.transferable)
            await acct.venue.snapshot(ALL_SYMBOLS)  # resting orders fill and funding settles first
            have = paper.transferable("USDT", acct.venue.margin()) if acct.venue.margin else paper.quote_balance
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
                      "clOrdId": _cl_ord_id(f.client_order_id), "tradeId": f.trade_id, "fillTime": str(at),
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
            elif inst.option:  # the premium and its fee change the settlement currency (BTC) hands
                premium = -f.side.signed(f.qty) * f.price
                rows.append((at, bill_id, self._bill(**common, billId=str(bill_id), ccy=inst.settle,
                                                     balChg=_num(premium - f.fee_quote), bal="",
                                                     fee=_num(-f.fee_quote))))
            else:
                rows.append((at, bill_id, self._bill(**common, billId=str(bill_id), ccy=inst.settle,
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


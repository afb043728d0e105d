"""Binance USDⓈ-M account endpoints: balance, account, positions, leverage, and the sapi wallet calls."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from hedgeops.exchange.emulator.binance_rules import (
    BY_CCXT,
    CCXT_SYMBOLS,
    MAINT_RATE,
    PERPS,
    ZERO,
    BinanceBase,
    BinanceError,
    BinancePerp,
    D,
    _decimal,
    _fixed,
    _given,
    _int,
    _ms,
    _num,
    _perp,
    _Transfer,
    missing,
)
from hedgeops.exchange.emulator.state import Account
from hedgeops.exchange.paper.account import DEFAULT_LEVERAGE, MarginCheck
from hedgeops.model.orders import Side


class BinanceAccount(BinanceBase):
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
        # Open orders hold margin only for what they would open (what closes the position holds none).
        order_im = acct.venue.account.order_margins(acct.leverage)
        ord_im = sum((order_im.get(o.client_order_id, ZERO) for o in snap.open_orders if o.symbol in BY_CCXT), ZERO)
        available = wallet + upl - pos_im - ord_im
        # What may be transferred out: the available balance less any unrealised profit (paid out only once
        # realised; an unrealised loss does reduce it), as PaperAccount.transferable.
        return {"wallet": wallet, "upl": upl, "margin": wallet + upl, "pos_im": pos_im, "ord_im": ord_im,
                "im": pos_im + ord_im, "maint": maint, "available": available,
                "max_withdraw": max(ZERO, available - max(upl, ZERO)), "positions": positions,
                "quotes": snap.quotes, "orders": snap.open_orders, "order_im": order_im, "at": _ms(snap.at)}

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
                "ord_im": sum((f["order_im"].get(o.client_order_id, ZERO) for o in orders), ZERO),
                "maint": abs(notional) * MAINT_RATE, "bid": bid, "ask": ask,
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
        acct = self._account(request)
        await acct.venue.snapshot(CCXT_SYMBOLS)  # resting orders fill and funding settles first
        if acct.venue.margin is not None:
            now = acct.venue.margin()
            paper = acct.venue.account
            free = paper.free_quote("USDT", now)
            free_after = paper.free_quote("USDT", MarginCheck({**now.leverage, perp.ccxt: D(lever)}, now.marks))
            if free_after < 0 and free_after < free:  # a lower leverage the position and orders cannot carry
                raise BinanceError(-2028, "Leverage is smaller than permitted: insufficient margin balance.")
        acct.leverage[perp.ccxt] = D(lever)
        return web.json_response({"leverage": lever, "maxNotionalValue": "1000000", "symbol": perp.symbol})


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
        if into_futures:
            have = acct.funding_wallet.get("USDT", ZERO)
        else:  # maxWithdrawAmount: what the futures account does not need (see PaperAccount.transferable)
            have = paper.transferable("USDT", acct.venue.margin()) if acct.venue.margin else paper.quote_balance
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
        await self._account(request).venue.snapshot(CCXT_SYMBOLS)  # orders fill and funding settles first
        tran = self._move(request, params.get("asset", ""), _decimal(params, "amount"), kind.endswith("_UMFUTURE"))
        return web.json_response({"tranId": tran})

    async def futures_transfer(self, request: web.Request) -> web.Response:
        params = _given(request)
        kind = _int(params, "type")
        if kind not in (1, 2):
            raise BinanceError(-1130, "Data sent for parameter 'type' is not valid.")
        await self._account(request).venue.snapshot(CCXT_SYMBOLS)  # orders fill and funding settles first
        tran = self._move(request, params.get("asset", ""), _decimal(params, "amount"), kind == 1)
        return web.json_response({"tranId": tran})


"""The emulator's Binance USDⓈ-M dialect (issue 19, item 5), in-process: Binance's signature rules and error codes,
every served endpoint's keys against Binance's documented response fields, the filters, and malformed input
never answered with a 5xx. Stock ccxt.binanceusdm runs against it in test_emulator_binance_conformance.py."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import ccxt.async_support as ccxt
import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.emulator.binance_http import BinanceApp, serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.venue import OrderRejected
from hedgeops.model.orders import OrderRequest, OrderStatus, OrderType, Side

KEY, SECRET = "bn-key", "bn-secret"
START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# Binance's documented response fields (developers.binance.com/docs/derivatives/usds-margined-futures/...), one list
# per endpoint as served. Left out on purpose: none of the documented keys; exchangeInfo's symbol rows carry no
# `contractSize` or `marketTakeBound` beyond what the page lists (both listed), and the order rows no `priceMatch`
# beyond NONE (no price-match orders are taken).
DOC: dict[str, set[str]] = {
    "time": {"serverTime"},
    "exchangeInfo": {"exchangeFilters", "rateLimits", "serverTime", "assets", "symbols", "timezone",
                     "futuresType"},
    "exchangeInfo.symbol": {"symbol", "pair", "contractType", "deliveryDate", "onboardDate", "status",
                            "maintMarginPercent", "requiredMarginPercent", "baseAsset", "quoteAsset", "marginAsset",
                            "pricePrecision", "quantityPrecision", "baseAssetPrecision", "quotePrecision",
                            "underlyingType", "underlyingSubType", "settlePlan", "triggerProtect", "filters",
                            "orderTypes", "timeInForce", "liquidationFee", "marketTakeBound", "maxMoveOrderLimit",
                            "permissionSets"},
    "depth": {"lastUpdateId", "E", "T", "bids", "asks"},
    "ticker/24hr": {"symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "lastPrice", "lastQty",
                    "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId",
                    "lastId", "count"},
    "ticker/bookTicker": {"symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time", "lastUpdateId"},
    "ticker/price": {"symbol", "price", "time"},
    "premiumIndex": {"symbol", "markPrice", "indexPrice", "estimatedSettlePrice", "lastFundingRate", "interestRate",
                     "nextFundingTime", "time"},
    "fundingRate": {"symbol", "fundingRate", "fundingTime", "markPrice"},
    "fundingInfo": {"symbol", "adjustedFundingRateCap", "adjustedFundingRateFloor", "fundingIntervalHours",
                    "disclaimer"},
    "balance": {"accountAlias", "asset", "balance", "crossWalletBalance", "crossUnPnl", "availableBalance",
                "maxWithdrawAmount", "marginAvailable", "updateTime"},
    "account.v3": {"totalInitialMargin", "totalMaintMargin", "totalWalletBalance", "totalUnrealizedProfit",
                   "totalMarginBalance", "totalPositionInitialMargin", "totalOpenOrderInitialMargin",
                   "totalCrossWalletBalance", "totalCrossUnPnl", "availableBalance", "maxWithdrawAmount", "assets",
                   "positions"},
    "account.v3.asset": {"asset", "walletBalance", "unrealizedProfit", "marginBalance", "maintMargin",
                         "initialMargin", "positionInitialMargin", "openOrderInitialMargin", "crossWalletBalance",
                         "crossUnPnl", "availableBalance", "maxWithdrawAmount", "updateTime"},
    "account.v3.position": {"symbol", "positionSide", "positionAmt", "unrealizedProfit", "isolatedMargin",
                            "notional", "isolatedWallet", "initialMargin", "maintMargin", "updateTime"},
    "account.v2.position": {"symbol", "initialMargin", "maintMargin", "unrealizedProfit", "positionInitialMargin",
                            "openOrderInitialMargin", "leverage", "isolated", "entryPrice", "breakEvenPrice",
                            "maxNotional", "bidNotional", "askNotional", "positionSide", "positionAmt",
                            "updateTime"},
    "positionRisk.v2": {"entryPrice", "breakEvenPrice", "marginType", "isAutoAddMargin", "isolatedMargin",
                        "leverage", "liquidationPrice", "markPrice", "maxNotionalValue", "positionAmt", "notional",
                        "isolatedWallet", "symbol", "unRealizedProfit", "positionSide", "updateTime"},
    "positionRisk.v3": {"symbol", "positionSide", "positionAmt", "entryPrice", "breakEvenPrice", "markPrice",
                        "unRealizedProfit", "liquidationPrice", "isolatedMargin", "notional", "marginAsset",
                        "isolatedWallet", "initialMargin", "maintMargin", "positionInitialMargin",
                        "openOrderInitialMargin", "adl", "bidNotional", "askNotional", "updateTime"},
    "leverage": {"leverage", "maxNotionalValue", "symbol"},
    "order.new": {"clientOrderId", "cumQty", "cumQuote", "executedQty", "orderId", "avgPrice", "origQty", "price",
                  "reduceOnly", "side", "positionSide", "status", "stopPrice", "closePosition", "symbol",
                  "timeInForce", "type", "origType", "activatePrice", "priceRate", "updateTime", "workingType",
                  "priceProtect", "priceMatch", "selfTradePreventionMode", "goodTillDate"},
    "order.query": {"avgPrice", "clientOrderId", "cumQuote", "executedQty", "orderId", "origQty", "origType",
                    "price", "reduceOnly", "side", "positionSide", "status", "stopPrice", "closePosition", "symbol",
                    "time", "timeInForce", "type", "activatePrice", "priceRate", "updateTime", "workingType",
                    "priceProtect", "priceMatch", "selfTradePreventionMode", "goodTillDate"},
    "userTrades": {"buyer", "commission", "commissionAsset", "id", "maker", "orderId", "price", "qty", "quoteQty",
                   "realizedPnl", "side", "positionSide", "symbol", "time"},
    "income": {"symbol", "incomeType", "income", "asset", "info", "time", "tranId", "tradeId"},
}


class Clock:
    def __init__(self) -> None:
        self.t = START

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
async def rig() -> AsyncIterator[tuple[Emulator, BinanceApp, Clock, str]]:
    clock = Clock()
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, "")}, funding_usdt=Decimal(1000))
    async with serving(emu) as (app, url):
        yield emu, app, clock, url


def sign(params: dict[str, Any], secret: str = SECRET, **over: Any) -> str:
    q = urlencode({"timestamp": int(time.time() * 1000), **params, **over})
    return q + "&signature=" + hmac.new(secret.encode(), q.encode(), hashlib.sha256).hexdigest()


async def call(url: str, method: str, path: str, params: dict[str, Any] | None = None, *, signed: bool = True,
               key: str | None = KEY, body: bool = False, raw: str | None = None) -> tuple[int, Any]:
    """One HTTP request as a Binance client sends it: signed query (GET/DELETE) or form body (POST)."""
    query = raw if raw is not None else (sign(params or {}) if signed else urlencode(params or {}))
    headers = {"X-MBX-APIKEY": key} if key is not None else {}
    async with aiohttp.ClientSession() as s:
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = await s.request(method, url + path, data=query.encode(), headers=headers)
        else:
            resp = await s.request(method, url + path + ("?" + query if query else ""), headers=headers)
        async with resp:
            text = await resp.text()
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, text


def binanceusdm(url: str, secret: str = SECRET) -> Any:
    """Stock ccxt.binanceusdm with only its URLs changed: each keeps its path, on the emulator's host."""
    ex = ccxt.binanceusdm({"apiKey": KEY, "secret": secret, "enableRateLimit": False})
    ex.urls["api"] = {k: url + urlsplit(v).path for k, v in ex.urls["api"].items() if isinstance(v, str)}
    return ex


# ---- signatures --------------------------------------------------------------------------------------------


async def test_signatures_timestamps_and_keys_are_checked_with_binances_codes(rig: Any) -> None:
    _, _, _, url = rig
    now = int(time.time() * 1000)
    cases = [
        (dict(key=None), 401, -2014),
        (dict(key="nobody"), 401, -2015),
        (dict(raw=sign({}, secret="wrong")), 400, -1022),
        (dict(raw=sign({}, timestamp=now - 6_000)), 400, -1021),  # older than the default 5 s recvWindow
        (dict(raw=sign({}, timestamp=now + 5_000)), 400, -1021),  # more than 1 s ahead
        (dict(raw=sign({}, recvWindow=70_000)), 400, -1131),
        (dict(raw="timestamp=" + str(now)), 400, -1102),  # no signature
        (dict(raw=sign({}).replace("timestamp=", "ts=")), 400, -1102),  # no timestamp
        (dict(raw=sign({}, timestamp="abc")), 400, -1100),
    ]
    for kwargs, status, code in cases:
        got = await call(url, "GET", "/fapi/v2/balance", **kwargs)  # type: ignore[arg-type]
        assert got[0] == status and got[1]["code"] == code, (kwargs, got)
    status, answer = await call(url, "GET", "/fapi/v2/balance", raw=sign({}, timestamp=now - 8_000, recvWindow=10_000))
    assert status == 200 and answer[0]["asset"] == "USDT"  # a wider recvWindow lets it in
    # A POST signed over its form body (Binance: the query string followed by the body).
    status, answer = await call(url, "POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 5}, body=True)
    assert status == 200 and answer == {"leverage": 5, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"}
    status, answer = await call(url, "GET", "/fapi/v1/nothing-here")
    assert status == 404  # unknown paths: 404, not an authentication error


# ---- field for field ---------------------------------------------------------------------------------------


async def test_every_endpoints_keys_are_binances_documented_fields(rig: Any) -> None:
    emu, _, clock, url = rig

    async def get(path: str, params: dict[str, Any] | None = None, signed: bool = False) -> Any:
        status, answer = await call(url, "GET", path, params, signed=signed)
        assert status == 200, (path, answer)
        return answer

    assert set(await get("/fapi/v1/time")) == DOC["time"]
    info = await get("/fapi/v1/exchangeInfo")
    assert set(info) == DOC["exchangeInfo"]
    assert all(set(s) == DOC["exchangeInfo.symbol"] for s in info["symbols"])
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert set(await get("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5})) == DOC["depth"]
    for path, doc in (("/fapi/v1/ticker/24hr", "ticker/24hr"), ("/fapi/v1/ticker/bookTicker", "ticker/bookTicker"),
                      ("/fapi/v1/ticker/price", "ticker/price"), ("/fapi/v2/ticker/price", "ticker/price"),
                      ("/fapi/v1/premiumIndex", "premiumIndex")):
        assert set(await get(path, {"symbol": "ETHUSDT"})) == DOC[doc], path
        rows = await get(path)
        assert len(rows) == 3 and all(set(r) == DOC[doc] for r in rows), path
    funding = await get("/fapi/v1/fundingRate", {"symbol": "SOLUSDT", "limit": 3})
    assert len(funding) == 3 and all(set(r) == DOC["fundingRate"] for r in funding)
    assert funding[0]["fundingTime"] < funding[-1]["fundingTime"] <= int(START.timestamp() * 1000)  # oldest first
    assert all(set(r) == DOC["fundingInfo"] for r in await get("/fapi/v1/fundingInfo"))
    klines = await get("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": 3})
    assert len(klines) == 3 and all(len(k) == 12 for k in klines)
    start_ms = int(START.timestamp() * 1000)
    assert klines[-2][6] < start_ms == klines[-1][0]  # closed candles, then the one under way (replay time)
    assert klines[-1][1] == klines[-1][4] and klines[-1][5] == "0.000"  # nothing of it traded yet but its open

    # Private: an account with a position, a resting order, fills, a transfer and a funding settlement.
    assert (await call(url, "POST", "/fapi/v1/order", {"symbol": "SOLUSDT", "side": "SELL", "type": "MARKET",
                                                        "quantity": "2"}, body=True))[0] == 200
    placed = await call(url, "POST", "/fapi/v1/order", {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                                                         "timeInForce": "GTC", "quantity": "0.05", "price": "1500",
                                                         "newClientOrderId": "rest-1"}, body=True)
    assert placed[0] == 200 and set(placed[1]) == DOC["order.new"] and placed[1]["status"] == "NEW"
    assert placed[1]["updateTime"] == int(START.timestamp() * 1000)  # replay time, not the wall clock
    assert (await call(url, "POST", "/sapi/v1/asset/transfer", {"type": "MAIN_UMFUTURE", "asset": "USDT",
                                                                 "amount": "100"}, body=True))[0] == 200
    clock.t += timedelta(hours=8)  # past a settlement: the short pays or earns funding
    got = await get("/fapi/v1/order", {"symbol": "ETHUSDT", "origClientOrderId": "rest-1"}, signed=True)
    assert set(got) == DOC["order.query"]
    assert all(set(o) == DOC["order.query"] for o in await get("/fapi/v1/openOrders", signed=True))
    assert all(set(o) == DOC["order.query"]
               for o in await get("/fapi/v1/allOrders", {"symbol": "SOLUSDT"}, signed=True))
    balance = await get("/fapi/v2/balance", signed=True)
    assert all(set(r) == DOC["balance"] for r in balance)
    assert balance == await get("/fapi/v3/balance", signed=True)
    v3 = await get("/fapi/v3/account", signed=True)
    assert set(v3) == DOC["account.v3"] and set(v3["assets"][0]) == DOC["account.v3.asset"]
    assert [set(p) for p in v3["positions"]] == [DOC["account.v3.position"]]  # the SOL short only
    v2 = await get("/fapi/v2/account", signed=True)
    assert all(set(p) == DOC["account.v2.position"] for p in v2["positions"]) and len(v2["positions"]) == 3
    risk2 = await get("/fapi/v2/positionRisk", signed=True)
    assert len(risk2) == 3 and all(set(r) == DOC["positionRisk.v2"] for r in risk2)
    risk3 = await get("/fapi/v3/positionRisk", signed=True)
    assert {r["symbol"] for r in risk3} == {"SOLUSDT", "ETHUSDT"}  # a position, or open orders
    assert all(set(r) == DOC["positionRisk.v3"] for r in risk3)
    trades = await get("/fapi/v1/userTrades", {"symbol": "SOLUSDT"}, signed=True)
    assert len(trades) == 1 and set(trades[0]) == DOC["userTrades"] and trades[0]["side"] == "SELL"
    income = await get("/fapi/v1/income", signed=True)
    assert {r["incomeType"] for r in income} == {"TRANSFER", "COMMISSION", "FUNDING_FEE"}
    assert all(set(r) == DOC["income"] for r in income)
    wallet = emu.account(KEY).venue.account.quote_balance
    total = sum(Decimal(r["income"]) for r in income)
    assert total == pytest.approx(wallet - Decimal(100_000), abs=Decimal("0.00000001"))  # the ledger adds up


# ---- filters and errors ------------------------------------------------------------------------------------


async def test_orders_are_checked_with_binances_filter_codes(rig: Any) -> None:
    emu, _, _, url = rig

    async def order(**p: Any) -> tuple[int, Any]:
        base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.002",
                "price": "90000"}
        base.update({k: v for k, v in p.items() if v is not None})
        for k in [k for k, v in p.items() if v is None]:
            del base[k]
        return await call(url, "POST", "/fapi/v1/order", base, body=True)

    ask = Decimal((await call(url, "GET", "/fapi/v1/ticker/bookTicker", {"symbol": "BTCUSDT"}, signed=False))[1][
        "askPrice"])
    cases: list[tuple[dict[str, Any], int]] = [
        ({"symbol": "DOGEUSDT"}, -1121), ({"symbol": None}, -1102), ({"quantity": None}, -1102),
        ({"price": None}, -1102), ({"timeInForce": None}, -1102), ({"side": "UP"}, -1117), ({"type": "STOP"}, -1116),
        ({"timeInForce": "FOK"}, -1115), ({"quantity": "0"}, -4003), ({"quantity": "-1"}, -1100),
        ({"quantity": "0.0015"}, -1111), ({"price": "90000.05"}, -4014), ({"price": "90000.123"}, -1111),
        ({"quantity": "0.001"}, -4164), ({"price": "1E+5"}, -1100), ({"quantity": "5000"}, -4005),
        ({"newClientOrderId": "x" * 37}, -1100), ({"positionSide": "LONG"}, -4061),
        ({"type": "MARKET", "price": None, "timeInForce": None, "reduceOnly": "true"}, -2022),
        ({"type": "MARKET", "price": None, "timeInForce": None, "quantity": "100"}, -2019),
        ({"timeInForce": "GTX", "price": str(ask + 100)}, -5022),
    ]
    for over, code in cases:
        status, answer = await order(**over)
        assert status == 400 and answer["code"] == code, (over, answer)
    assert emu.account(KEY).venue.account.orders == {}  # nothing refused is recorded
    # A refused client id is free again; a taken one is -4116.
    assert (await order(timeInForce="GTX", price=str(ask + 100), newClientOrderId="mm-1"))[1]["code"] == -5022
    assert (await order(timeInForce="GTX", newClientOrderId="mm-1"))[0] == 200
    assert (await order(newClientOrderId="mm-1"))[1]["code"] == -4116
    # Lookups and cancels of what is not there.
    assert (await call(url, "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": 1}))[1]["code"] == -2013
    assert (await call(url, "GET", "/fapi/v1/order", {"symbol": "BTCUSDT"}))[1]["code"] == -1102
    assert (await call(url, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "no"}))[1][
        "code"] == -2011
    status, gone = await call(url, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "mm-1"})
    assert status == 200 and gone["status"] == "CANCELED"
    assert (await call(url, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "mm-1"}))[1][
        "code"] == -2011  # a done order cannot be cancelled again
    assert (await call(url, "POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 200}, body=True))[1][
        "code"] == -4028
    # IOC: what does not fill at once expires; a market order fills.
    status, ioc = await order(timeInForce="IOC", price="90000")
    assert status == 200 and ioc["status"] == "EXPIRED"
    status, mkt = await order(type="MARKET", price=None, timeInForce=None)
    assert status == 200 and mkt["status"] == "FILLED" and Decimal(mkt["avgPrice"]) >= ask


async def test_malformed_input_is_never_a_5xx(rig: Any) -> None:
    _, _, _, url = rig
    bad: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "abc"}),
        ("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "-5"}),
        ("GET", "/fapi/v1/depth", {}),
        ("GET", "/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "7m"}),
        ("GET", "/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1m"}),  # finer than the replayed candles
        ("GET", "/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h", "startTime": "x"}),
        ("GET", "/fapi/v1/fundingRate", {"symbol": "BTCUSDT", "limit": "1" * 40}),
        ("GET", "/fapi/v1/ticker/24hr", {"symbol": "../../etc"}),
        ("GET", "/fapi/v1/premiumIndex", {"symbol": "\u00e9"}),
    ]
    for method, path, params in bad:
        status, answer = await call(url, method, path, params, signed=False)
        assert 400 <= status < 500 and isinstance(answer["code"], int), (path, params, status, answer)
    private: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1E+999999"}),
        ("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "NaN"}),
        ("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                                    "price": "1" * 30, "timeInForce": "GTC"}),
        ("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01",
                                    "reduceOnly": "maybe"}),
        ("GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": "abc"}),
        ("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT", "fromId": "--"}),
        ("GET", "/fapi/v1/income", {"incomeType": "what?"}),
        ("GET", "/fapi/v1/allOrders", {}),
        ("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "1.5"}),
        ("POST", "/sapi/v1/asset/transfer", {"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "1e3"}),
        ("POST", "/sapi/v1/asset/transfer", {"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "99999999"}),
    ]
    for method, path, params in private:
        status, answer = await call(url, method, path, params, body=method == "POST")
        assert 400 <= status < 500 and isinstance(answer["code"], int), (path, params, status, answer)
    for raw in ("%ff%fe=1", "symbol=BTCUSDT&&&=", "a" * 5000):  # undecodable, empty and long parameters
        status, _ = await call(url, "GET", "/fapi/v1/ticker/price", raw=raw)
        assert status < 500, raw
    async with aiohttp.ClientSession() as s, s.post(url + "/fapi/v1/order", data=b"\xff\xfe{[", headers={
            "X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert 400 <= resp.status < 500


# ---- ccxt and the project's venue -----------------------------------------------------------------------------


async def test_ccxt_maps_the_dialects_errors_to_its_own_exceptions(rig: Any) -> None:
    _, _, _, url = rig
    bad = binanceusdm(url, secret="wrong")
    ex = binanceusdm(url)
    try:
        with pytest.raises(ccxt.AuthenticationError):
            await bad.fetch_balance()
        await ex.load_markets()
        with pytest.raises(ccxt.OrderNotFound):
            await ex.fetch_order("1", "BTC/USDT:USDT")
        with pytest.raises(ccxt.OrderNotFound):
            await ex.cancel_order("1", "BTC/USDT:USDT")
        ask = (await ex.fetch_order_book("BTC/USDT:USDT", 5))["asks"][0][0]
        with pytest.raises(ccxt.InvalidOrder):  # -5022
            await ex.create_order("BTC/USDT:USDT", "limit", "buy", 0.002, ask + 50, {"postOnly": True})
    finally:
        await bad.close()
        await ex.close()


def project_client(url: str) -> Any:
    """The project's own ccxt client for binanceusdm, pointed at the emulator as the operator would
    (HEDGEOPS_EXCHANGE_URLS=binanceusdm=<url>)."""
    return make_client("binanceusdm", ApiCredentials(KEY, SECRET), base_url=url, rate_limit=False)


async def test_the_projects_venue_hedges_and_makes_markets_on_it(rig: Any) -> None:
    emu, _, clock, url = rig
    venue = CcxtVenue(project_client(url))
    try:
        rules = await venue.markets(["SOL/USDT:USDT", "ETH/USDT:USDT"])
        assert rules["SOL/USDT:USDT"].amount_step == Decimal("0.01") and rules["ETH/USDT:USDT"].price_step == Decimal(
            "0.01")
        await venue.set_leverage("SOL/USDT:USDT", Decimal(5))
        assert emu.account(KEY).leverage["SOL/USDT:USDT"] == 5
        # The hedge: a market sell of the perp, read back by client id, seen as a position.
        hedge = await venue.place(OrderRequest("hedge-1", "SOL/USDT:USDT", Side.SELL, Decimal(3), OrderType.MARKET))
        assert hedge.status == OrderStatus.CLOSED and hedge.filled == 3  # no fee on a Binance order: on its fills
        snap = await venue.snapshot(["SOL/USDT:USDT", "ETH/USDT:USDT"])
        assert snap.positions["SOL/USDT:USDT"].qty == -3 and snap.balances["USDT"] > 0
        # The maker: a post-only bid rests, is seen open, and is cancelled; one that would cross is refused.
        bid = snap.quotes["ETH/USDT:USDT"].bid
        quote = await venue.place(OrderRequest("mm-bid-1", "ETH/USDT:USDT", Side.BUY, Decimal("0.05"), OrderType.LIMIT,
                                               bid - Decimal(5), post_only=True))
        assert quote.status == OrderStatus.OPEN and quote.filled == 0
        venue.invalidate()
        snap = await venue.snapshot(["ETH/USDT:USDT"])
        assert [o.client_order_id for o in snap.open_orders] == ["mm-bid-1"]
        with pytest.raises(OrderRejected):
            await venue.place(OrderRequest("mm-bid-2", "ETH/USDT:USDT", Side.BUY, Decimal("0.05"), OrderType.LIMIT,
                                           snap.quotes["ETH/USDT:USDT"].ask + Decimal(1), post_only=True))
        done = await venue.cancel("mm-bid-1", "ETH/USDT:USDT")
        assert done.status == OrderStatus.CANCELED
        fills = await venue.fills("SOL/USDT:USDT")
        # Binance's fills name the orderId only (no client id): parse.fill falls back to it.
        order_id = emu.account(KEY).ord_ids["hedge-1"]
        assert [(f.client_order_id, f.qty, f.maker) for f in fills] == [(order_id, Decimal(3), False)]
        assert fills[0].fee_quote == pytest.approx(fills[0].qty * fills[0].price * Decimal("0.0005"))
        clock.t += timedelta(hours=8)
        payments = await venue.funding_payments("SOL/USDT:USDT")
        assert len(payments) == 1 and payments[0].currency == "USDT"
        rate, at = await venue.funding_rate("SOL/USDT:USDT")
        assert at > clock.t and rate == emu.funding.next_after("SOL/USDT:USDT", clock.t).rate  # type: ignore[union-attr]
    finally:
        await venue.close()


async def test_injected_faults_answer_as_binance_and_its_load_balancer_do(rig: Any) -> None:
    emu, app, _, url = rig
    emu.faults.rate_limited = 1
    status, answer = await call(url, "GET", "/fapi/v1/ticker/price", signed=False)
    assert (status, answer["code"]) == (429, -1003)
    emu.faults.maintenance = 1
    assert (await call(url, "GET", "/fapi/v2/balance"))[0] == 503
    emu.faults.rejects = 1
    order = {"symbol": "SOLUSDT", "side": "BUY", "type": "MARKET", "quantity": "1", "newClientOrderId": "f-1"}
    assert (await call(url, "POST", "/fapi/v1/order", order, body=True))[1]["code"] == -2019
    emu.faults.timeouts, emu.faults.timeout_seconds = 1, 0.5
    started = time.monotonic()
    status, placed = await call(url, "POST", "/fapi/v1/order", order, body=True)  # the refused id is free again
    assert status == 200 and placed["status"] == "FILLED" and time.monotonic() - started >= 0.5
    assert emu.orders_placed() == 1 and app.requests == 4
    ex = binanceusdm(url)
    try:
        emu.faults.rate_limited = 1
        with pytest.raises(ccxt.DDoSProtection):
            await ex.fetch_balance()
        emu.faults.maintenance = 1
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await ex.fetch_balance()
    finally:
        await ex.close()


async def test_klines_page_forward_from_start_time_and_aggregate_the_replayed_candles(rig: Any) -> None:
    emu, _, _, url = rig
    series = emu.replay.series("BTC/USDT:USDT")
    first_ms = int(series.first.timestamp() * 1000)
    long_ago = {"symbol": "BTCUSDT", "interval": "1d", "startTime": 1_500_000_000_000, "limit": 2}
    status, early = await call(url, "GET", "/fapi/v1/klines", long_ago, signed=False)
    assert status == 200 and [k[0] for k in early] == [first_ms, first_ms + 86_400_000]  # from the data's first day
    hour = int(START.timestamp() * 1000) - 3 * 3_600_000
    status, hours = await call(url, "GET", "/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1h",
                                                                "startTime": hour, "limit": 2}, signed=False)
    bars = list(series.bars_between(START - timedelta(hours=3), START - timedelta(hours=2)))
    assert len(bars) == 12 and hours[0][0] == hour and hours[1][0] == hour + 3_600_000
    assert Decimal(hours[0][1]) == bars[0].open and Decimal(hours[0][4]) == bars[-1].close
    assert Decimal(hours[0][2]) == max(b.high for b in bars) and Decimal(hours[0][3]) == min(b.low for b in bars)


async def test_each_api_key_is_its_own_account() -> None:
    """Issue 19 item 4 on the Binance dialect: keys (as --account or --keys-file give them) do not share books."""
    keys = {"bench0": Credentials("s0", "-", Decimal(500)), "bench1": Credentials("s1", "-")}
    emu = Emulator(MarketReplay(), Clock(), keys)
    async with serving(emu) as (_, url):
        async def as_key(n: int, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
            headers = {"X-MBX-APIKEY": f"bench{n}"}
            query = sign(params or {}, secret=f"s{n}")
            async with aiohttp.ClientSession() as s:
                kwargs: dict[str, Any] = ({"data": query.encode(), "headers": {
                    **headers, "Content-Type": "application/x-www-form-urlencoded"}} if method == "POST"
                    else {"headers": headers})
                target = url + path + ("" if method == "POST" else "?" + query)
                async with s.request(method, target, **kwargs) as resp:
                    return resp.status, await resp.json(content_type=None)

        assert (await as_key(0, "GET", "/fapi/v2/balance"))[1][0]["balance"] == "500.00000000"
        assert (await as_key(1, "GET", "/fapi/v2/balance"))[1][0]["balance"] == "100000.00000000"
        status, placed = await as_key(0, "POST", "/fapi/v1/order", {"symbol": "SOLUSDT", "side": "BUY",
                                                                    "type": "MARKET", "quantity": "1"})
        assert status == 200 and placed["status"] == "FILLED"
        assert len((await as_key(0, "GET", "/fapi/v3/positionRisk"))[1]) == 1
        assert (await as_key(1, "GET", "/fapi/v3/positionRisk"))[1] == []
        assert (await as_key(1, "GET", "/fapi/v1/order", {"symbol": "SOLUSDT", "orderId": placed["orderId"]}))[1][
            "code"] == -2013  # another key's order does not exist for this one
        assert (await as_key(1, "GET", "/fapi/v2/balance", {"unknownParameter": "1"}))[0] == 200  # extra: ignored
        headers = {"X-MBX-APIKEY": "bench1"}
        async with aiohttp.ClientSession() as s, s.get(url + "/fapi/v2/balance?" + sign({}, secret="s0"),
                                                        headers=headers) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == -1022  # signed with another key's secret


async def test_closing_orders_hold_no_margin_and_withdrawals_and_leverage_respect_margin_in_use() -> None:
    # The review's bn2.py and inproc_transfer.py: a 1 ETH sell at 300000 against a 1 ETH long showed 60637 of
    # open-order margin; a transfer of the whole wallet went through with 0.8 BTC long or bid (availableBalance
    # -7928); nothing refused a leverage the position could not carry.
    clock = Clock()
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, "")}, trading_usdt=Decimal(10_000))
    async with serving(emu) as (_, url):
        async def post(path: str, **p: Any) -> tuple[int, Any]:
            return await call(url, "POST", path, p, body=True)

        async def account() -> dict[str, Any]:
            got = (await call(url, "GET", "/fapi/v3/account"))[1]
            assert Decimal(got["availableBalance"]) >= 0 and Decimal(got["maxWithdrawAmount"]) >= 0
            return dict(got)

        assert (await post("/fapi/v1/leverage", symbol="ETHUSDT", leverage=5))[0] == 200
        assert (await post("/fapi/v1/order", symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1"))[0] == 200
        bid = Decimal((await call(url, "GET", "/fapi/v1/ticker/bookTicker", {"symbol": "ETHUSDT"}, signed=False))[1][
            "bidPrice"])
        rest = (bid * Decimal("0.95")).quantize(Decimal("0.01"))
        limit = {"symbol": "ETHUSDT", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1"}
        assert (await post("/fapi/v1/order", **limit, side="BUY", price=str(rest)))[0] == 200
        assert (await post("/fapi/v1/order", **limit, side="SELL", price="300000"))[0] == 200  # closes the long
        assert Decimal((await account())["totalOpenOrderInitialMargin"]) == rest / 5  # the bid's margin only
        near = str((bid * Decimal("1.01")).quantize(Decimal("0.01")))
        status, refused = await post("/fapi/v1/order", **limit, side="SELL", price=near, reduceOnly="true")
        assert status == 400 and refused["code"] == -2019  # the 300000 sell would then open a short
        row = next(p for p in (await call(url, "GET", "/fapi/v3/positionRisk", {"symbol": "ETHUSDT"}))[1])
        assert row["liquidationPrice"] == "0"  # the emulator never liquidates: Binance's "none"
        await call(url, "DELETE", "/fapi/v1/allOpenOrders", {"symbol": "ETHUSDT"})
        assert (await post("/fapi/v1/order", symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1"))[0] == 200

        assert (await post("/fapi/v1/leverage", symbol="BTCUSDT", leverage=10))[0] == 200
        assert (await post("/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.5"))[0] == 200
        assert (await post("/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                           quantity="0.3", price="90000"))[0] == 200
        before = await account()
        most = Decimal(before["maxWithdrawAmount"])
        assert 0 < most < Decimal(before["totalWalletBalance"]) - 7000
        for amount in (Decimal(before["totalWalletBalance"]) - 1, most + 1):
            status, answer = await post("/sapi/v1/futures/transfer", asset="USDT", amount=str(amount), type=2)
            assert status == 400 and answer["code"] == -5013
        assert (await post("/sapi/v1/futures/transfer", asset="USDT", amount=str(most - 1), type=2))[0] == 200
        assert Decimal((await account())["maxWithdrawAmount"]) < 2
        status, answer = await post("/fapi/v1/leverage", symbol="BTCUSDT", leverage=1)
        assert status == 400 and answer["code"] == -2028
        risk = (await call(url, "GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"}))[1][0]
        assert risk["leverage"] == "10" and risk["liquidationPrice"] == "0"
        assert (await post("/fapi/v1/leverage", symbol="BTCUSDT", leverage=20))[0] == 200  # higher frees margin

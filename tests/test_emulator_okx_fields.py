"""Every OKX endpoint the emulator serves answers with the fields OKX's API v5 documentation lists for it, and with
the documented types: strings in OKX's envelope, except the few fields OKX documents as booleans, arrays, objects
or numbers. The lists below are the documentation's response parameters, field for field (docs-v5, REST API:
public data, market data, trading account, order book trading, funding account; read from copies of
www.okx.com/docs-v5/en found with the search tool: each endpoint's "Response Parameters" table). In-process, one
account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from .emulator_controls import call
from .emulator_fixtures import KEY, Clock, Rig, start

# ---- the documentation's response parameters -------------------------------------------------------------------

TIME = ["ts"]
INSTRUMENT = ["instType", "instId", "uly", "instFamily", "baseCcy", "quoteCcy", "settleCcy", "ctVal", "ctMult",
              "ctValCcy", "optType", "stk", "listTime", "auctionEndTime", "contTdSwTime", "preMktSwTime", "openType",
              "expTime", "category",
              "lever", "tickSz", "lotSz", "minSz", "ctType", "alias", "state", "ruleType", "maxLmtSz", "maxMktSz",
              "maxLmtAmt", "maxMktAmt", "maxTwapSz", "maxIcebergSz", "maxTriggerSz", "maxStopSz", "futureSettlement",
              "tradeQuoteCcyList", "instIdCode"]
TICKER = ["instType", "instId", "last", "lastSz", "askPx", "askSz", "bidPx", "bidSz", "open24h", "high24h", "low24h",
          "volCcy24h", "vol24h", "sodUtc0", "sodUtc8", "ts"]
BOOK = ["asks", "bids", "ts"]
CANDLE = ["ts", "o", "h", "l", "c", "vol", "volCcy", "volCcyQuote", "confirm"]  # an array, in this order
FUNDING_RATE = ["instType", "instId", "method", "formulaType", "fundingRate", "nextFundingRate", "fundingTime",
                "nextFundingTime", "minFundingRate", "maxFundingRate", "interestRate", "impactValue", "settState",
                "settFundingRate", "premium", "ts"]
FUNDING_HISTORY = ["instType", "instId", "formulaType", "fundingRate", "realizedRate", "fundingTime", "method"]
BALANCE = ["uTime", "totalEq", "isoEq", "adjEq", "availEq", "ordFroz", "imr", "mmr", "borrowFroz", "mgnRatio",
           "notionalUsd", "notionalUsdForBorrow", "notionalUsdForSwap", "notionalUsdForFutures",
           "notionalUsdForOption", "upl", "delta", "deltaLever", "deltaNeutralStatus", "details"]
BALANCE_DETAIL = ["ccy", "eq", "cashBal", "uTime", "isoEq", "availEq", "disEq", "fixedBal", "availBal", "frozenBal",
                  "ordFrozen", "liab", "upl", "uplLiab", "crossLiab", "rewardBal", "isoLiab", "mgnRatio", "imr", "mmr",
                  "interest", "twap", "frpType", "maxLoan", "eqUsd", "borrowFroz", "notionalLever", "stgyEq",
                  "isoUpl", "spotInUseAmt", "clSpotInUseAmt", "maxSpotInUse", "spotIsoBal", "smtSyncEq",
                  "spotCopyTradingEq", "spotBal", "openAvgPx", "accAvgPx", "spotUpl", "spotUplRatio", "totalPnl",
                  "totalPnlRatio", "colRes", "colBorrAutoConversion", "collateralRestrict", "collateralEnabled",
                  "autoLendStatus", "autoLendMtAmt"]
POSITION = ["instType", "mgnMode", "posId", "posSide", "pos", "hedgedPos", "baseBal", "quoteBal", "baseBorrowed",
            "baseInterest", "quoteBorrowed", "quoteInterest", "posCcy", "availPos", "avgPx", "nonSettleAvgPx", "markPx",
            "upl", "uplRatio", "uplLastPx", "uplRatioLastPx", "instId", "lever", "liqPx", "imr", "margin", "mgnRatio",
            "mmr", "liab", "liabCcy", "interest", "tradeId", "optVal", "pendingCloseOrdLiabVal", "notionalUsd", "adl",
            "ccy", "last", "idxPx", "usdPx", "bePx", "deltaBS", "deltaPA", "gammaBS", "gammaPA", "thetaBS", "thetaPA",
            "vegaBS", "vegaPA", "spotInUseAmt", "spotInUseCcy", "clSpotInUseAmt", "maxSpotInUseAmt", "bizRefId",
            "bizRefType", "realizedPnl", "settledPnl", "pnl", "fee", "fundingFee", "liqPenalty", "closeOrderAlgo",
            "cTime", "uTime"]
SET_LEVERAGE = ["lever", "mgnMode", "instId", "posSide"]
ORDER = ["instType", "instId", "tgtCcy", "ccy", "ordId", "clOrdId", "tag", "px", "pxUsd", "pxVol", "pxType", "sz",
         "pnl", "ordType", "side", "posSide", "tdMode", "accFillSz", "fillPx", "tradeId", "fillSz", "fillTime",
         "avgPx", "state", "stpId", "stpMode", "lever", "attachAlgoClOrdId", "tpTriggerPx", "tpTriggerPxType",
         "tpOrdPx", "slTriggerPx", "slTriggerPxType", "slOrdPx", "attachAlgoOrds", "linkedAlgoOrd", "feeCcy", "fee",
         "rebateCcy", "rebate", "source", "category", "reduceOnly", "isTpLimit", "cancelSource",
         "cancelSourceReason", "quickMgnType", "algoClOrdId", "algoId", "tradeQuoteCcy", "uTime", "cTime"]
PLACE = ["ordId", "clOrdId", "tag", "ts", "sCode", "sMsg"]
PLACE_ENVELOPE = ["code", "msg", "data", "inTime", "outTime"]
CANCEL = ["ordId", "clOrdId", "ts", "sCode", "sMsg"]
FILL = ["instType", "instId", "tradeId", "ordId", "clOrdId", "billId", "subType", "tag", "fillPx", "fillSz",
        "fillIdxPx", "fillPnl", "fillPxVol", "fillPxUsd", "fillMarkVol", "fillFwdPx", "fillMarkPx", "side", "posSide",
        "execType", "feeCcy", "fee", "ts", "fillTime", "feeRate", "tradeQuoteCcy"]
BILL = ["instType", "billId", "subType", "type", "ts", "balChg", "posBalChg", "bal", "posBal", "sz", "px", "ccy", "pnl",
        "fee", "earnAmt", "earnApr", "mgnMode", "instId", "ordId", "execType", "from", "to", "notes", "interest",
        "tag", "fillTime", "tradeId", "clOrdId", "fillIdxPx", "fillMarkPx", "fillPxVol", "fillPxUsd", "fillMarkVol",
        "fillFwdPx"]
ASSET_BALANCE = ["ccy", "bal", "frozenBal", "availBal"]
CURRENCY = ["ccy", "name", "logoLink", "chain", "ctAddr", "canDep", "canWd", "canInternal", "depEstOpenTime",
            "wdEstOpenTime", "minDep", "minWd", "maxWd", "wdTickSz", "wdQuota", "usedWdQuota", "fee", "minFee",
            "maxFee", "minFeeForCtAddr", "maxFeeForCtAddr", "burningFeeRate", "mainNet", "needTag", "minInternal",
            "minDepArrivalConfirm", "minWdUnlockConfirm", "depQuotaFixed", "usedDepQuotaFixed", "depQuoteDailyLayer2"]
TRANSFER = ["transId", "ccy", "clientId", "from", "amt", "to"]
TRANSFER_STATE = ["amt", "ccy", "clientId", "from", "instId", "state", "subAcct", "to", "toInstId", "transId", "type"]

# The fields OKX documents with a type other than String.
NOT_STRINGS: dict[str, type | tuple[type, ...]] = {
    "futureSettlement": bool, "tradeQuoteCcyList": list, "instIdCode": int, "collateralRestrict": bool,
    "collateralEnabled": bool, "closeOrderAlgo": list, "attachAlgoOrds": list, "linkedAlgoOrd": dict,
    "canDep": bool, "canWd": bool, "canInternal": bool, "mainNet": bool, "needTag": bool, "details": list,
    "asks": list, "bids": list, "data": list}
# Documented fields the emulator leaves out, with the reason (none at present).
LEFT_OUT: dict[str, str] = {}

D = Decimal
START = datetime(2025, 6, 1, 12, 2, tzinfo=UTC)  # two minutes into a 5-minute bar


def check(row: dict[str, Any], fields: list[str], where: str) -> None:
    want = [f for f in fields if f not in LEFT_OUT]
    assert sorted(row) == sorted(want), (where, set(row) ^ set(want))
    for name, value in row.items():
        kind = NOT_STRINGS.get(name, str)
        assert isinstance(value, kind), (where, name, value)
        if kind is str and value not in ("",) and name.endswith(("Px", "Sz", "Eq", "Bal", "Pnl", "Chg")):
            assert D(value).is_finite(), (where, name, value)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start(Clock(START)):
        yield r


async def ok(rig: Rig, method: str, path: str, body: Any = None, n: int = 1) -> list[Any]:
    status, answer = await call(rig.url, method, path, body)
    assert status == 200 and answer["code"] == "0", (path, answer)
    assert isinstance(answer["msg"], str) and isinstance(answer["data"], list)
    assert len(answer["data"]) >= n, (path, answer)
    return list(answer["data"])


async def test_every_served_endpoint_answers_okx_fields_and_types(rig: Rig) -> None:
    rig.emu.account(KEY).funding_wallet["USDT"] = D(1000)
    check((await ok(rig, "GET", "/api/v5/public/time"))[0], TIME, "time")
    for kind in ("SWAP", "SPOT"):
        for row in await ok(rig, "GET", f"/api/v5/public/instruments?instType={kind}", n=3):
            check(row, INSTRUMENT, f"instruments {kind}")
        for row in await ok(rig, "GET", f"/api/v5/market/tickers?instType={kind}", n=3):
            check(row, TICKER, f"tickers {kind}")
    check((await ok(rig, "GET", "/api/v5/market/ticker?instId=SOL-USDT-SWAP"))[0], TICKER, "ticker")
    check((await ok(rig, "GET", "/api/v5/market/books?instId=SOL-USDT-SWAP&sz=5"))[0], BOOK, "books")
    for path in ("candles", "history-candles"):
        for row in await ok(rig, "GET", f"/api/v5/market/{path}?instId=SOL-USDT-SWAP&bar=5m&limit=3", n=3):
            assert len(row) == len(CANDLE) and all(isinstance(v, str) for v in row), row
    for row in await ok(rig, "GET", "/api/v5/public/funding-rate?instId=SOL-USDT-SWAP"):
        check(row, FUNDING_RATE, "funding-rate")
    for row in await ok(rig, "GET", "/api/v5/public/funding-rate-history?instId=SOL-USDT-SWAP&limit=3", n=3):
        check(row, FUNDING_HISTORY, "funding-rate-history")
    check((await ok(rig, "POST", "/api/v5/account/set-leverage",
                    {"instId": "SOL-USDT-SWAP", "lever": "5", "mgnMode": "cross"}))[0], SET_LEVERAGE, "set-leverage")

    status, placed = await call(rig.url, "POST", "/api/v5/trade/order",
                                {"instId": "SOL-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "market",
                                 "sz": "3", "clOrdId": "fld1", "tag": "hedgeops"})
    assert status == 200 and sorted(placed) == sorted(PLACE_ENVELOPE)
    check(placed["data"][0], PLACE, "order")
    await ok(rig, "POST", "/api/v5/trade/order", {"instId": "SOL-USDT", "tdMode": "cash", "side": "buy",
                                                  "ordType": "market", "sz": "2", "tgtCcy": "base_ccy"})
    bid = D((await ok(rig, "GET", "/api/v5/market/ticker?instId=ETH-USDT-SWAP"))[0]["bidPx"])
    await ok(rig, "POST", "/api/v5/trade/batch-orders", [
        {"instId": "ETH-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "post_only", "sz": "1",
         "px": str(bid - 20), "clOrdId": "fld2"},
        {"instId": "ETH-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "1",
         "px": str(bid - 30), "clOrdId": "fld3"}], n=2)
    check((await ok(rig, "POST", "/api/v5/trade/cancel-order", {"instId": "ETH-USDT-SWAP", "clOrdId": "fld3"}))[0],
          CANCEL, "cancel-order")
    check((await ok(rig, "GET", "/api/v5/trade/order?instId=SOL-USDT-SWAP&clOrdId=fld1"))[0], ORDER, "order")
    for row in await ok(rig, "GET", "/api/v5/trade/orders-pending"):
        check(row, ORDER, "orders-pending")
    for row in await ok(rig, "GET", "/api/v5/trade/orders-history?instType=SWAP", n=2):
        check(row, ORDER, "orders-history")

    transfer = (await ok(rig, "POST", "/api/v5/asset/transfer",
                         {"ccy": "USDT", "amt": "100", "from": "6", "to": "18", "type": "0"}))[0]
    check(transfer, TRANSFER, "transfer")
    check((await ok(rig, "GET", f"/api/v5/asset/transfer-state?transId={transfer['transId']}"))[0], TRANSFER_STATE,
          "transfer-state")
    rig.clock.t = START + timedelta(hours=12)  # two funding settlements on the SOL short
    for row in await ok(rig, "GET", "/api/v5/account/balance"):
        check(row, BALANCE, "balance")
        for d in row["details"]:
            check(d, BALANCE_DETAIL, f"balance {d['ccy']}")
    check((await ok(rig, "GET", "/api/v5/account/positions"))[0], POSITION, "positions")
    for path in ("fills", "fills-history?instType=SWAP"):
        for row in await ok(rig, "GET", f"/api/v5/trade/{path}", n=1):
            check(row, FILL, path)
    bills = await ok(rig, "GET", "/api/v5/account/bills", n=5)
    assert {b["type"] for b in bills} == {"1", "2", "8"}
    for row in bills:
        check(row, BILL, f"bill type {row['type']}")
    for row in await ok(rig, "GET", "/api/v5/asset/balances"):
        check(row, ASSET_BALANCE, "asset/balances")
    for row in await ok(rig, "GET", "/api/v5/asset/currencies", n=4):
        check(row, CURRENCY, "currencies")

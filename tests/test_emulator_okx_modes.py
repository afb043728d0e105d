"""OKX's account modes, as strict as OKX: GET /account/config (posMode net_mode by default), POST
/account/set-position-mode (refused with 59000 while an order rests or a position is open), posSide checked per
mode (51000), and tdMode required (50014) and only what is emulated: cash on spot, cross on derivatives (spot margin
and isolated margin are refused with 51000, never booked as cash or cross). ccxt's okx sends what these accept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from .emulator_controls import call
from .emulator_fixtures import Rig, okx, start
from .emulator_ws import warm
from .test_emulator_okx_fields import check

D = Decimal
SWAP = "SOL-USDT-SWAP"
CONFIG = ["acctLv", "acctStpMode", "autoLoan", "ctIsoMode", "enableSpotBorrow", "greeksType", "feeType", "ip", "type",
          "kycLv", "label", "level", "levelTmp", "liquidationGear", "mainUid", "mgnIsoMode", "opAuth", "perm",
          "posMode", "roleType", "spotBorrowAutoRepay", "spotOffsetType", "spotRoleType", "spotTraderInsts",
          "traderInsts", "uid", "settleCcy", "settleCcyList"]
NOT_STRINGS = {"autoLoan": bool, "enableSpotBorrow": bool, "spotBorrowAutoRepay": bool, "spotTraderInsts": list,
               "traderInsts": list, "settleCcyList": list}


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        await warm(r)
        yield r


async def _place(rig: Rig, **fields: Any) -> dict[str, Any]:
    body = {"instId": SWAP, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    _, got = await call(rig.url, "POST", "/api/v5/trade/order", body)
    return dict(got["data"][0])


async def _set_mode(rig: Rig, mode: Any) -> dict[str, Any]:
    _, got = await call(rig.url, "POST", "/api/v5/account/set-position-mode", {"posMode": mode})
    return dict(got)


async def _config(rig: Rig) -> dict[str, Any]:
    _, got = await call(rig.url, "GET", "/api/v5/account/config")
    assert got["code"] == "0", got
    return dict(got["data"][0])


async def test_account_config_answers_okx_fields_in_net_mode(rig: Rig) -> None:
    row = await _config(rig)
    assert row["posMode"] == "net_mode" and row["acctLv"] == "2"
    for name, kind in NOT_STRINGS.items():
        assert isinstance(row.pop(name), kind), name
    check(row, [f for f in CONFIG if f not in NOT_STRINGS], "account/config")


async def test_set_position_mode_is_refused_while_orders_rest_or_positions_are_open(rig: Rig) -> None:
    assert (await _set_mode(rig, ""))["code"] == "50014"
    assert (await _set_mode(rig, "hedge"))["code"] == "51000"
    assert (await _set_mode(rig, "net_mode"))["data"] == [{"posMode": "net_mode"}]  # already: nothing to refuse
    _, ticker = await call(rig.url, "GET", f"/api/v5/market/ticker?instId={SWAP}")
    low = (D(ticker["data"][0]["bidPx"]) * D("0.97")).quantize(D("0.01"))
    assert (await _place(rig, ordType="limit", px=str(low), clOrdId="rest1"))["sCode"] == "0"
    busy = {"code": "59000", "msg": "Setting failed. Cancel any open orders, close positions, and stop trading bots "
                                   "first.", "data": []}
    assert await _set_mode(rig, "long_short_mode") == busy
    await call(rig.url, "POST", "/api/v5/trade/cancel-order", {"instId": SWAP, "clOrdId": "rest1"})
    assert (await _place(rig))["sCode"] == "0"  # a position
    assert await _set_mode(rig, "long_short_mode") == busy
    assert (await _place(rig, side="sell", reduceOnly=True))["sCode"] == "0"  # flat again
    assert (await _set_mode(rig, "long_short_mode"))["data"] == [{"posMode": "long_short_mode"}]
    assert (await _config(rig))["posMode"] == "long_short_mode"


async def test_pos_side_is_checked_per_position_mode(rig: Rig) -> None:
    for bad in ("both", "LONG", "BOTH", 1):
        assert (await _place(rig, posSide=bad))["sCode"] == "51000", bad
    got = await _place(rig, posSide="net")
    assert got["sCode"] == "0", got
    await _place(rig, side="sell", reduceOnly=True)
    assert (await _set_mode(rig, "long_short_mode"))["code"] == "0"
    for missing in (None, "", "net"):
        refused = await _place(rig, posSide=missing)
        assert (refused["sCode"], refused["sMsg"]) == ("51000", "Parameter posSide error"), missing
    hedged = await _place(rig, posSide="long")  # what OKX takes here: refused, hedged legs are not emulated
    assert hedged["sCode"] == "51000" and "not emulated" in hedged["sMsg"]
    spot = await _place(rig, instId="BTC-USDT", tdMode="cash", sz="0.001", tgtCcy="base_ccy")
    assert spot["sCode"] == "0", spot  # posSide is for swaps and futures only
    assert (await _set_mode(rig, "net_mode"))["code"] == "0"
    assert (await _place(rig))["sCode"] == "0"


async def test_td_mode_is_required_and_only_what_is_emulated_is_taken(rig: Rig) -> None:
    missing = await _place(rig, tdMode=None)
    assert (missing["sCode"], missing["sMsg"]) == ("50014", "Parameter tdMode can not be empty.")
    isolated = await _place(rig, tdMode="isolated")
    assert isolated["sCode"] == "51000" and "isolated margin is not emulated" in isolated["sMsg"]
    assert (await _place(rig, tdMode="cash"))["sCode"] == "51000"
    spot = {"instId": "BTC-USDT", "sz": "0.001", "tgtCcy": "base_ccy"}
    for mode in ("cross", "isolated", "spot_isolated", None):
        refused = await _place(rig, tdMode=mode, **spot)
        assert refused["sCode"] == ("50014" if mode is None else "51000"), mode
    assert (await _place(rig, tdMode="cash", **spot))["sCode"] == "0"


async def test_ccxt_okx_sends_td_mode_and_no_pos_side_in_net_mode(rig: Rig) -> None:
    ex = okx(rig.url)
    ex.options["fetchMarkets"] = {"types": ["spot", "swap"]}
    sent: list[dict[str, Any]] = []
    create = ex.create_order_request

    def spy(*args: Any, **kwargs: Any) -> Any:
        request = create(*args, **kwargs)
        sent.append(dict(request))
        return request

    ex.create_order_request = spy
    try:
        await ex.load_markets()
        assert (await ex.fetch_position_mode("SOL/USDT:USDT"))["hedged"] is False
        opened = await ex.create_order("SOL/USDT:USDT", "market", "buy", 1)
        closed = await ex.create_order("SOL/USDT:USDT", "market", "sell", 1, None, {"reduceOnly": True})
        bought = await ex.create_order("BTC/USDT", "market", "buy", 0.001, None, {"tgtCcy": "base_ccy"})
        assert opened["id"] and closed["id"] and bought["id"]
        assert [(r["tdMode"], r.get("posSide")) for r in sent] == [("cross", None), ("cross", None), ("cash", None)]
        assert (await ex.fetch_order(opened["id"], "SOL/USDT:USDT"))["info"]["tdMode"] == "cross"
        assert (await ex.fetch_order(bought["id"], "BTC/USDT"))["info"]["tdMode"] == "cash"
        await ex.set_position_mode(True)
        with pytest.raises(ccxt.BadRequest, match="51000"):  # ccxt's default sends no posSide: refused, as OKX
            await ex.create_order("SOL/USDT:USDT", "market", "buy", 1)
    finally:
        await ex.close()


async def test_the_projects_venue_will_not_trade_an_account_in_long_short_mode_and_says_how_to_fix_it(
        rig: Rig) -> None:
    """Every order HedgeOps sends is one-way (no posSide): on an account in long/short mode each would be refused
    as a bad request (51000). The venue asks the mode before its first order and refuses with what to change,
    sending nothing; switched back to net mode, it trades."""
    from hedgeops.exchange.venue import FinalVenueError
    from hedgeops.model.orders import OrderRequest, OrderType, Side

    from .emulator_fixtures import venue

    assert (await _set_mode(rig, "long_short_mode"))["code"] == "0"
    v = venue(rig)
    try:
        order = OrderRequest("pm1", "SOL/USDT:USDT", Side.BUY, D(1), OrderType.MARKET)
        with pytest.raises(FinalVenueError, match=r"hedge \(long/short\) position mode.*Net mode"):
            await v.place(order)
        assert rig.emu.orders_placed() == 0
        assert (await _set_mode(rig, "net_mode"))["code"] == "0"
        assert (await v.place(order)).status == "closed"
    finally:
        await v.close()

"""The websocket `account` channel and REST's balance agree for an account holding a bought option (review): the
push is built by REST's own balance handler, so a currency's `eq` counts the option's market value and its `upl`
the option's unrealised PnL (see test_emulator_okx_option_equity), on the snapshot and on every event push."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig, start
from .emulator_ws import answer, login_args, warm, ws_base

D = Decimal
OPTION = "BTC/USD:BTC-260327-100000-C"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        for symbol in ("BTC/USDT", "BTC/USDT:USDT", OPTION):  # loaded here, not inside a request ccxt times out
            r.emu.replay.series(symbol)
        await warm(r)
        yield r


async def _account_push(ws: aiohttp.ClientWebSocketResponse, event_type: str) -> dict[str, Any]:
    while True:
        push: dict[str, Any] = json.loads(await asyncio.wait_for(ws.receive_str(), 5))
        if push.get("arg", {}).get("channel") == "account" and push.get("eventType") == event_type:
            return push


async def test_the_account_push_and_rest_agree_on_a_bought_option_s_equity(rig: Rig) -> None:
    ex = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                   "options": {"fetchMarkets": {"types": ["spot", "swap", "option"]}}})
    ex.urls["api"] = {"rest": rig.url}
    ex.has["fetchCurrencies"] = False
    try:
        await ex.create_order("BTC/USDT", "market", "buy", 0.5, None, {"tgtCcy": "base_ccy"})
        await ex.create_order(OPTION, "limit", "buy", 10, (await ex.fetch_ticker(OPTION))["ask"])
        rig.clock.advance(3600)  # the option's mark moves with the underlying an hour on
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/private") as ws:
            assert (await answer(ws, login_args()))["event"] == "login"
            await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "account"}]}))
            snapshot = await _account_push(ws, "snapshot")
            rest = (await ex.fetch_balance())["info"]["data"]
            [pos] = [p for p in await ex.fetch_positions() if p["symbol"] == OPTION]
            assert snapshot["data"] == rest  # every figure, at the same replay instant
            btc = next(d for d in snapshot["data"][0]["details"] if d["ccy"] == "BTC")
            assert D(btc["eq"]) == D(btc["cashBal"]) + D(pos["info"]["optVal"]) and D(pos["info"]["optVal"]) > 0
            assert D(btc["upl"]) == D(pos["info"]["upl"]) != 0
            # An account event (another option bought over REST): the event push is REST's balance again.
            await ex.create_order(OPTION, "limit", "buy", 1, (await ex.fetch_ticker(OPTION))["ask"])
            update = await _account_push(ws, "event_update")
            assert update["data"] == (await ex.fetch_balance())["info"]["data"]
            btc_after = next(d for d in update["data"][0]["details"] if d["ccy"] == "BTC")
            assert D(btc_after["cashBal"]) < D(btc["cashBal"])  # the premium left the cash balance
    finally:
        await ex.close()

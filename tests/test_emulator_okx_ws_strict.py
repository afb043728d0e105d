"""The emulator's websockets are as strict as OKX's documentation, seen with a raw websocket client: every
refusal is an OKX event/error (or op reply) with OKX's code, never silence, and the connection stays usable."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS

from .emulator_fixtures import KEY, Rig, start
from .emulator_ws import INST_ID, advance_to_new_price, answer, login_args, warm, ws_base


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        await warm(r)
        yield r


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_ping_and_malformed_requests(rig: Rig, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
        assert await answer(ws, "ping") == "pong"
        bad_json = await answer(ws, "{not json")
        assert (bad_json["event"], bad_json["code"]) == ("error", "60012") and bad_json["connId"]
        assert bad_json["msg"].startswith("Illegal request: ")
        assert (await answer(ws, {"op": "dance", "args": []}))["code"] == "60019"
        assert (await answer(ws, {"args": [{"channel": "tickers", "instId": INST_ID}]}))["code"] == "60012"
        assert (await answer(ws, {"op": "subscribe", "args": []}))["code"] == "60012"
        assert (await answer(ws, {"op": "subscribe", "args": ["spot/ticker:BTC-USDT"]}))["code"] == "60012"
        await ws.send_bytes(b"\x00")
        assert (await answer(ws, "ping")) != "pong"  # the binary frame's error came first
        assert await answer(ws, "ping") == "pong"  # and the connection is still there


async def test_plain_http_on_the_websocket_paths_is_answered_in_json(rig: Rig,
                                                                     session: aiohttp.ClientSession) -> None:
    async with session.get(rig.url + "/ws/v5/public") as plain:
        assert (plain.status, (await plain.json())["code"]) == (400, "400")
    async with session.get(rig.url + "/ws/v5/nowhere") as unknown:
        assert (unknown.status, (await unknown.json())["code"]) == (404, "404")


async def test_subscription_arguments_are_checked(rig: Rig, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
        unknown = await answer(ws, {"op": "subscribe", "args": [{"channel": "ticker", "instId": INST_ID}]})
        assert (unknown["event"], unknown["code"]) == ("error", "60018") and "channel:ticker" in unknown["msg"]
        assert (await answer(ws, {"op": "subscribe", "args": [{"channel": "tickers"}]}))["code"] == "60027"
        no_inst = await answer(ws, {"op": "subscribe", "args": [{"channel": "books5", "instId": "NOPE-USDT"}]})
        assert no_inst["code"] == "60018" and "NOPE-USDT" in no_inst["msg"]
        # A private channel on the public URL does not exist there.
        assert (await answer(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}))[
            "code"] == "60018"
        ok = await answer(ws, {"op": "unsubscribe", "args": [{"channel": "tickers", "instId": INST_ID}]})
        assert ok == {"event": "unsubscribe", "arg": {"channel": "tickers", "instId": INST_ID}, "connId": ok["connId"]}
    async with session.ws_connect(ws_base(rig.url) + "/private") as ws:
        # ...and a market channel on the private URL neither.
        assert (await answer(ws, {"op": "subscribe", "args": [{"channel": "tickers", "instId": INST_ID}]}))[
            "code"] == "60018"
        assert (await answer(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}))[
            "code"] == "60011"  # not logged in
        assert (await answer(ws, login_args()))["event"] == "login"
        assert (await answer(ws, {"op": "subscribe", "args": [{"channel": "orders"}]}))["code"] == "60027"
        assert (await answer(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "SOUP"}]}))[
            "code"] == "60018"
        mismatch = {"channel": "positions", "instType": "SWAP", "instId": "SOL-USDT"}  # a spot id on SWAP
        assert (await answer(ws, {"op": "subscribe", "args": [mismatch]}))["code"] == "60018"
        good = await answer(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
        assert good["event"] == "subscribe" and good["arg"] == {"channel": "orders", "instType": "SWAP"}


@pytest.mark.parametrize(("change", "code"), [
    ({"sign": "bm90IGl0"}, "60007"),
    ({"timestamp": str(int(time.time()) - 31)}, "60006"),  # OKX's 30 s window
    ({"timestamp": "yesterday"}, "60004"),
    ({"apiKey": "someone-else"}, "60005"),
    ({"passphrase": "wrong"}, "60024"),
    ({"sign": ""}, "60027"),
])
async def test_login_refusals(rig: Rig, session: aiohttp.ClientSession, change: dict[str, str], code: str) -> None:
    message: dict[str, Any] = login_args()
    message["args"][0].update(change)
    async with session.ws_connect(ws_base(rig.url) + "/private") as ws:
        refused = await answer(ws, message)
        assert (refused["event"], refused["code"]) == ("error", code)
        assert "test-secret" not in str(refused) and "test-pass" not in str(refused)
        assert (await answer(ws, login_args()))["event"] == "login"  # the connection may try again


async def test_login_rules(rig: Rig, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_base(rig.url) + "/private") as ws:
        two = login_args()
        two["args"].append(dict(two["args"][0]))
        assert (await answer(ws, two))["code"] == "60021"
        done = await answer(ws, login_args())
        assert done == {"event": "login", "code": "0", "msg": "", "connId": done["connId"]}
        assert (await answer(ws, login_args()))["code"] == "60030"  # no repeated login on one connection


async def test_trading_ops_are_checked(rig: Rig, session: aiohttp.ClientSession) -> None:
    order = {"instId": INST_ID, "side": "buy", "ordType": "market", "sz": "1", "tdMode": "cross"}
    async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
        wrong_url = await answer(ws, {"id": "1", "op": "order", "args": [order]})
        assert (wrong_url["id"], wrong_url["op"], wrong_url["code"]) == ("1", "order", "60028")
    async with session.ws_connect(ws_base(rig.url) + "/private") as ws:
        assert (await answer(ws, {"id": "2", "op": "order", "args": [order]}))["code"] == "60011"
        await answer(ws, login_args())
        assert (await answer(ws, {"op": "order", "args": [order]}))["code"] == "60012"  # no id
        assert (await answer(ws, {"id": "x-y", "op": "order", "args": [order]}))["code"] == "60012"
        assert (await answer(ws, {"id": "3", "op": "order", "args": []}))["code"] == "60013"
        assert (await answer(ws, {"id": "4", "op": "order", "args": [order, order]}))["code"] == "60013"
        assert (await answer(ws, {"id": "5", "op": "amend-order", "args": [order]}))["code"] == "60019"
        # What REST refuses is refused here with the same sCode, in OKX's op reply.
        zero = await answer(ws, {"id": "6", "op": "order", "args": [{**order, "sz": "0"}]})
        assert (zero["id"], zero["code"], zero["data"][0]["sCode"]) == ("6", "1", "51000")
        coded = await answer(ws, {"id": "7", "op": "order", "args": [{**order, "instId": "",
                                                                       "instIdCode": 12345678}]})
        assert coded["data"][0]["sCode"] == "51001"
        by_code = {**order, "instIdCode": OKX_INSTRUMENTS[INST_ID].code}
        del by_code["instId"]
        placed = await answer(ws, {"id": "8", "op": "order", "args": [by_code]})
        assert (placed["code"], placed["data"][0]["sCode"]) == ("0", "0") and placed["data"][0]["ordId"]
        assert placed["inTime"] and placed["outTime"]
        batch = await answer(ws, {"id": "9", "op": "batch-orders", "args": [order, {**order, "side": "up"}]})
        assert batch["code"] == "2" and [r["sCode"] for r in batch["data"]] == ["0", "51000"]
        done = await answer(ws, {"id": "10", "op": "cancel-order",
                                 "args": [{"instId": INST_ID, "ordId": placed["data"][0]["ordId"]}]})
        assert (done["code"], done["data"][0]["sCode"]) == ("1", "51400")  # a filled market order
        missing = await answer(ws, {"id": "11", "op": "cancel-order", "args": [{"instId": INST_ID}]})
        assert missing["data"][0]["sCode"] == "50015"
    fills = rig.emu.account(KEY).venue.account.fills
    assert len(fills) == 2  # the order by instIdCode and the batch's good one


async def test_private_pushes_follow_the_subscription_filters(rig: Rig, session: aiohttp.ClientSession) -> None:
    order = {"instId": INST_ID, "side": "buy", "ordType": "market", "sz": "1", "tdMode": "cross"}
    async with session.ws_connect(ws_base(rig.url) + "/private") as ws:
        await answer(ws, login_args())
        assert (await answer(ws, {"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP",
                                                               "instFamily": "NOPE-USDT"}]}))["code"] == "60018"
        for arg in ({"channel": "orders", "instType": "SWAP", "instFamily": "ETH-USDT"},
                    {"channel": "orders", "instType": "SPOT"}, {"channel": "orders", "instType": "SWAP",
                                                                "instFamily": "SOL-USDT"}):
            assert (await answer(ws, {"op": "subscribe", "args": [arg]}))["event"] == "subscribe"
        placed = await answer(ws, {"id": "1", "op": "order", "args": [order]})
        assert placed["code"] == "0"
        pushed = json.loads(await asyncio.wait_for(ws.receive_str(), 3))
        assert pushed["arg"] == {"channel": "orders", "instType": "SWAP", "instFamily": "SOL-USDT",
                                 "uid": pushed["arg"]["uid"]}
        assert pushed["data"][0]["state"] == "filled" and pushed["data"][0]["fillFee"].startswith("-")
        with pytest.raises(TimeoutError):  # the other two subscriptions hear nothing of it
            await asyncio.wait_for(ws.receive_str(), 0.3)


def _okx_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's documented checksum, written out again here: bid:size:ask:size over the best 25 levels, CRC32 signed."""
    parts = []
    for i in range(25):
        parts += [f"{bids[i][0]}:{bids[i][1]}"] if i < len(bids) else []
        parts += [f"{asks[i][0]}:{asks[i][1]}"] if i < len(asks) else []
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 2 ** 32 if crc > 2 ** 31 - 1 else crc


async def test_books_updates_chain_and_their_checksums_hold(rig: Rig, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
        await answer(ws, {"op": "subscribe", "args": [{"channel": "books", "instId": INST_ID}]})
        snap = json.loads(await ws.receive_str())
        assert snap["action"] == "snapshot" and snap["data"][0]["prevSeqId"] == -1
        data = snap["data"][0]
        book = {side: {lv[0]: lv for lv in data[side]} for side in ("bids", "asks")}
        assert data["checksum"] == _okx_checksum(data["bids"], data["asks"])
        seq = data["seqId"]
        for _ in range(2):
            advance_to_new_price(rig)
            update = json.loads(await asyncio.wait_for(ws.receive_str(), 3))
            data = update["data"][0]
            assert update["action"] == "update" and data["prevSeqId"] == seq
            seq = data["seqId"]
            for side in ("bids", "asks"):
                for lv in data[side]:
                    if lv[1] == "0":
                        del book[side][lv[0]]
                    else:
                        book[side][lv[0]] = lv
            bids = sorted(book["bids"].values(), key=lambda lv: -Decimal(lv[0]))
            asks = sorted(book["asks"].values(), key=lambda lv: Decimal(lv[0]))
            assert data["checksum"] == _okx_checksum(bids, asks)
            assert bids[0][0] == str(rig.emu.quote(OKX_INSTRUMENTS[INST_ID]).bid.normalize())

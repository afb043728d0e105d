"""The emulator's websockets under load and at OKX's limits (review): a client that stops reading delays no other
client's pushes and is dropped (OKX's close 4005, "Buffer is full"), by its full outgoing queue or by a frame it
does not take in time; a request over 64 KB is refused with 60012 and a frame far beyond closes with 1009; the
481st subscribe/unsubscribe/login request of the hour is refused with 60014; a field no channel reads makes no
second subscription."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hedgeops.exchange.emulator import okx_ws, okx_ws_conn

from .emulator_fixtures import Rig, start
from .emulator_ws import INST_ID, advance_to_new_price, answer, until, warm, ws_base

BOOKS = [{"channel": "books", "instId": i} for i in ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP")]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        await warm(r)
        yield r


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _ticker_pushes(rig: Rig, fast: aiohttp.ClientWebSocketResponse, moves: int) -> int:
    """Move the replayed price `moves` times; how many of the ticker pushes reached `fast` within 2 s each."""
    got = 0
    for _ in range(moves):
        advance_to_new_price(rig)
        try:
            push = json.loads(await asyncio.wait_for(fast.receive_str(), 2))
            got += push["arg"]["channel"] == "tickers"
        except TimeoutError:
            pass
    return got


async def _a_slow_client_delays_no_one(rig: Rig, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
                                       why: str) -> None:
    async with session.ws_connect(ws_base(rig.url) + "/public") as fast, \
            session.ws_connect(ws_base(rig.url) + "/public") as slow:
        subscribed = await answer(fast, {"op": "subscribe", "args": [{"channel": "tickers", "instId": INST_ID}]})
        assert subscribed["event"] == "subscribe"
        await fast.receive_str()  # the first ticker
        await until(lambda: len(rig.app.streams.conns) == 2)
        [slow_id] = [c.conn_id for c in rig.app.streams.conns if c.conn_id != subscribed["connId"]]
        # The slow client asks for book snapshots (about 24 KB each) and never reads a byte of them.
        for _ in range(300):
            await slow.send_str(json.dumps({"op": "subscribe", "args": BOOKS}))
        assert await _ticker_pushes(rig, fast, 20) == 20
        await until(lambda: len(rig.app.streams.conns) == 1, timeout=10)  # the slow one was dropped
        assert [r.getMessage() for r in caplog.records if "dropped (4005)" in r.getMessage()] == [why.format(slow_id)]
        # What it finally reads: what was sent before the drop, then the close frame 4005 if it came for it within
        # a second, else the end of the TCP connection (cut).
        end = await asyncio.wait_for(_until_closed(slow), 10)
        assert end in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert await answer(fast, "ping") == "pong"


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMsgType:
    while True:
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            if msg.type == aiohttp.WSMsgType.CLOSE:
                assert msg.data == okx_ws_conn.SLOW_CODE and msg.extra == okx_ws_conn.SLOW_REASON.decode()
            return msg.type


async def test_a_client_that_stops_reading_delays_no_one_and_is_dropped_when_its_queue_is_full(
        rig: Rig, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    await _a_slow_client_delays_no_one(rig, session, caplog, "emulator websocket {}: outgoing queue full, dropped "
                                                             "(4005)")


async def test_a_client_that_stops_reading_is_dropped_when_a_frame_is_not_taken_in_time(
        rig: Rig, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # A queue that never fills: the stalled send (the client's socket buffers full) is what drops it.
    monkeypatch.setattr(okx_ws_conn, "QUEUE_BYTES", 1 << 40)
    monkeypatch.setattr(okx_ws_conn, "SEND_SECONDS", 0.5)
    await _a_slow_client_delays_no_one(rig, session, caplog, "emulator websocket {}: a frame not taken in 0.5 s, "
                                                             "dropped (4005)")


async def test_a_request_over_64_kb_is_refused_and_a_huge_frame_closes_the_connection(
        rig: Rig, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
        def sized(pad: int) -> str:
            arg = {"channel": "tickers", "instId": INST_ID, "pad": "x" * pad}
            return json.dumps({"op": "subscribe", "args": [arg]})

        assert (await answer(ws, sized(64 * 1024 - 200)))["event"] == "subscribe"  # at the limit: served
        await ws.receive_str()  # its ticker
        refused = await answer(ws, sized(64 * 1024))
        assert (refused["event"], refused["code"]) == ("error", "60012")
        assert refused["msg"].startswith("Illegal request: ") and "64 KB" in refused["msg"]
        assert await answer(ws, "ping") == "pong"  # the connection is kept
        await ws.send_str(sized(2 * 1024 * 1024))  # beyond what the websocket layer holds in memory
        closing = await asyncio.wait_for(ws.receive(), 5)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, aiohttp.WSCloseCode.MESSAGE_TOO_BIG)


async def test_subscribe_unsubscribe_and_login_requests_are_limited_per_connection_and_hour(
        rig: Rig, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(okx_ws, "REQUESTS_PER_HOUR", 3)  # OKX's 480, counted the same way
    tickers = {"op": "subscribe", "args": [{"channel": "tickers", "instId": INST_ID}]}
    async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
        for op in ("subscribe", "unsubscribe", "subscribe"):
            assert (await answer(ws, {**tickers, "op": op}))["event"] == op
            if op == "subscribe":
                await ws.receive_str()  # its ticker
        too_many = await answer(ws, {"op": "login", "args": []})
        assert (too_many["event"], too_many["code"], too_many["msg"]) == ("error", "60014", "Requests too frequent.")
        assert await answer(ws, "ping") == "pong"  # pings and the rest are not counted
    async with session.ws_connect(ws_base(rig.url) + "/public") as other:  # the limit is the connection's
        assert (await answer(other, tickers))["event"] == "subscribe"


async def test_a_field_no_channel_reads_makes_no_second_subscription(rig: Rig,
                                                                    session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
        for n in range(5):
            arg = {"channel": "tickers", "instId": INST_ID, "x": str(n)}
            assert (await answer(ws, {"op": "subscribe", "args": [arg]}))["event"] == "subscribe"
            await ws.receive_str()
        [conn] = rig.app.streams.conns
        assert len(conn.subs) == 1
        advance_to_new_price(rig)
        assert json.loads(await asyncio.wait_for(ws.receive_str(), 3))["arg"]["channel"] == "tickers"
        with pytest.raises(TimeoutError):  # one push per price move, not one per repeated subscription
            await asyncio.wait_for(ws.receive_str(), 0.3)


async def test_the_481st_request_of_the_hour_is_refused_at_okxs_own_count(rig: Rig,
                                                                        session: aiohttp.ClientSession) -> None:
    """The figure itself, unpatched: OKX documents 480 subscribe/unsubscribe/login requests per connection per
    hour; the 480th is served and the 481st refused 60014."""
    unsubscribe = {"op": "unsubscribe", "args": [{"channel": "tickers", "instId": INST_ID}]}
    async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
        for _ in range(480):
            assert (await answer(ws, unsubscribe))["event"] == "unsubscribe"
        too_many = await answer(ws, unsubscribe)
        assert (too_many["event"], too_many["code"]) == ("error", "60014")

"""The emulator's websocket faults, switched on over its signed controls (POST /emulator/ws/*) and seen by real
ccxt.pro okx: every connection dropped with a close code, missed messages (the next pushes of a channel never
sent; on the seqId'd `books` channel the gap is detectable), and a stale stream (no push at all while frozen)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt.pro as ccxtpro
import pytest

from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS

from .emulator_controls import control
from .emulator_fixtures import Rig
from .emulator_ws import (
    INST_ID,
    SWAP,
    advance_to_new_price,
    answer,
    okx_pro,
    rig_with_controls,
    until,
    while_doing,
    ws_base,
)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in rig_with_controls():
        yield r


@pytest.fixture
async def pro(rig: Rig) -> AsyncIterator[Any]:
    ex = okx_pro(rig.url)
    try:
        yield ex
    finally:
        await ex.close()


async def test_dropped_connections_close_with_the_code_and_ccxt_reconnects(rig: Rig, pro: Any) -> None:
    await asyncio.wait_for(pro.watch_ticker(SWAP), 5)
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/private") as raw:
        await until(lambda: len(rig.app.streams.conns) == 2)
        pending = asyncio.ensure_future(pro.watch_ticker(SWAP))
        await asyncio.sleep(0.05)
        status, body = await control(rig.url, "/emulator/ws/drop", {"code": 4001})
        assert status == 200 and body["data"] == [{"connections": "2", "code": "4001"}]
        with pytest.raises(ccxtpro.NetworkError):
            await asyncio.wait_for(pending, 5)
        closing = await asyncio.wait_for(raw.receive(), 5)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4001)  # the close frame's code
    assert not rig.app.streams.conns
    # ccxt's next watch connects again and is answered with the market as it stands.
    again = await asyncio.wait_for(pro.watch_ticker(SWAP), 5)
    assert again["last"] == float(rig.emu.quote(OKX_INSTRUMENTS[INST_ID]).last)
    assert (await control(rig.url, "/emulator/ws/drop", {"code": 1006}))[1]["code"] == "51000"  # reserved code


async def test_missed_ticker_messages(rig: Rig, pro: Any) -> None:
    first = await asyncio.wait_for(pro.watch_ticker(SWAP), 5)
    pending = asyncio.ensure_future(pro.watch_ticker(SWAP))
    await asyncio.sleep(0.05)
    assert (await control(rig.url, "/emulator/ws/skip", {"channel": "tickers", "count": 1}))[0] == 200
    missed = advance_to_new_price(rig)
    await asyncio.sleep(0.3)
    assert not pending.done()  # that push was lost
    seen = advance_to_new_price(rig)
    got = await asyncio.wait_for(pending, 5)
    assert got["last"] == float(seen) and float(missed) != got["last"] != first["last"]
    assert rig.emu.faults.ws_skip == {"tickers": 0}


async def test_a_missed_books_update_is_a_seq_gap_ccxt_resyncs_from(rig: Rig, pro: Any) -> None:
    book = await asyncio.wait_for(pro.watch_order_book(SWAP), 5)  # ccxt's default: the 400-level `books`
    assert len(book["bids"]) == 400
    await control(rig.url, "/emulator/ws/skip", {"channel": "books", "count": 1})
    advance_to_new_price(rig)  # this update is lost...
    await asyncio.sleep(0.1)
    with pytest.raises(ccxtpro.InvalidNonce):  # ...so the next one's prevSeqId is not the seqId ccxt holds
        await while_doing(pro.watch_order_book(SWAP), lambda: advance_to_new_price(rig))
    # ccxt unsubscribes and subscribes again: a fresh snapshot, right on the current price.
    fresh = await asyncio.wait_for(pro.watch_order_book(SWAP), 5)
    assert fresh["bids"][0][0] == float(rig.emu.quote(OKX_INSTRUMENTS[INST_ID]).bid)


async def test_a_frozen_stream_goes_stale_until_thawed(rig: Rig, pro: Any) -> None:
    first = await asyncio.wait_for(pro.watch_ticker(SWAP), 5)
    pending = asyncio.ensure_future(pro.watch_ticker(SWAP))
    await asyncio.sleep(0.05)
    assert (await control(rig.url, "/emulator/ws/freeze", {"frozen": True}))[0] == 200
    moved = advance_to_new_price(rig)
    await asyncio.sleep(0.3)
    assert not pending.done()  # the connection is open, the price moved, nothing comes
    assert (await pro.fetch_ticker(SWAP))["last"] == float(moved) != first["last"]  # REST knows
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/public") as raw:
        assert await answer(raw, "ping") == "pong"  # a stale stream still answers pings
    assert (await control(rig.url, "/emulator/ws/freeze", {"frozen": False}))[0] == 200
    thawed = await asyncio.wait_for(pending, 5)
    assert thawed["last"] == float(moved)
    assert (await control(rig.url, "/emulator/ws/freeze", {"frozen": "yes"}))[1]["code"] == "51000"


async def test_missed_private_messages(rig: Rig, pro: Any) -> None:
    """An order's `live` push is lost: the client first hears of the order when it is cancelled."""
    inst = OKX_INSTRUMENTS[INST_ID]
    price = float((rig.emu.quote(inst).bid * 8 / 10).quantize(inst.tick_sz))
    await asyncio.wait_for(pro.watch_balance(), 5)  # logged in
    await control(rig.url, "/emulator/ws/skip", {"channel": "orders", "count": 1})
    pending = asyncio.ensure_future(pro.watch_orders(SWAP))
    await until(lambda: any(s.channel == "orders" for c in rig.app.streams.conns for s in c.subs.values()))
    placed = await pro.create_order(SWAP, "limit", "buy", 1, price)
    await asyncio.sleep(0.3)
    assert not pending.done()
    await pro.cancel_order(placed["id"], SWAP)
    orders = await asyncio.wait_for(pending, 5)
    assert [(o["id"], o["status"]) for o in orders] == [(placed["id"], "canceled")]


async def test_an_order_the_show_delay_hides_is_pushed_only_when_it_shows(rig: Rig, pro: Any) -> None:
    """The REST fault that keeps a new order out of queries for a while keeps it out of the orders channel too."""
    rig.emu.faults.show_delay_seconds = 0.5
    await asyncio.wait_for(pro.watch_balance(), 5)  # logged in
    pending = asyncio.ensure_future(pro.watch_orders(SWAP))
    await until(lambda: any(s.channel == "orders" for c in rig.app.streams.conns for s in c.subs.values()))
    started = time.monotonic()
    placed = await pro.create_order(SWAP, "market", "buy", 1)
    orders = await asyncio.wait_for(pending, 5)
    assert time.monotonic() - started >= 0.45
    assert [(o["id"], o["status"]) for o in orders] == [(placed["id"], "closed")]

"""OKX checks a clOrdId only against pending orders (51016): a filled market order's id may be sent again, and a look-up
by clOrdId answers the latest order. A re-send after a lost answer is then guarded by nothing but a look-up, so the
venue re-sends only once the first request can no longer execute: OKX refuses a request whose OK-ACCESS-TIMESTAMP is
more than 30 s old when it is judged (50102). The emulator does both; its window is shortened here, and the venue's
lifetime with it, so each test takes seconds. Real ccxt.okx over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue, request_lifetime_seconds
from hedgeops.exchange.emulator import okx_http
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderRejected
from hedgeops.model.orders import OrderRequest, OrderType, Side

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig, start
from .emulator_ws import okx_pro, until

SOL, INST = "SOL/USDT:USDT", "SOL-USDT-SWAP"  # one contract is one SOL
D = Decimal


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        yield r


def venue(rig: Rig, timeout_ms: int = 10_000, lifetime_s: float | None = None) -> CcxtVenue:
    client = make_client("okx", ApiCredentials(KEY, SECRET, PASSPHRASE), base_url=rig.url, rate_limit=False,
                         timeout_ms=timeout_ms)
    return CcxtVenue(client, request_lifetime_s=lifetime_s)


def held(rig: Rig) -> Decimal:
    return rig.emu.account(KEY).venue.account.positions({})[SOL].qty


async def test_an_open_orders_id_is_refused_a_final_ones_is_free_again_and_the_first_still_found(rig: Rig) -> None:
    v = venue(rig)
    raw: Any = v.client
    try:
        await v.markets([SOL])
        await v.check_position_mode()  # asked before the first order: not the request a fault hits
        q = (await v.quotes([SOL]))[SOL]
        bid = (q.bid * D("0.9")).quantize(D("0.01"))
        await v.place(OrderRequest("bid1", SOL, Side.BUY, D(1), OrderType.LIMIT, bid, post_only=True))
        with pytest.raises(DuplicateClientOrderId):  # 51016 while it rests, as the adapter must read it
            await v.place(OrderRequest("bid1", SOL, Side.BUY, D(1), OrderType.MARKET))
        first = await v.place(OrderRequest("mkt1", SOL, Side.BUY, D(1), OrderType.MARKET))
        older = rig.emu.account(KEY).ord_ids["mkt1"]
        assert first.status == "closed"
        with pytest.raises(OrderRejected):  # a reduce-only buy on a long: refused, and the id names the first still
            await v.place(OrderRequest("mkt1", SOL, Side.BUY, D(1), OrderType.MARKET, reduce_only=True))
        assert rig.emu.account(KEY).ord_ids["mkt1"] == older and (await v.order("mkt1", SOL)) == first
        again = await v.place(OrderRequest("mkt1", SOL, Side.BUY, D(2), OrderType.MARKET))  # OKX takes it
        assert again.status == "closed" and again.amount == D(2) and held(rig) == D(3)
        assert rig.emu.orders_placed() == 3
        latest = (await raw.private_get_trade_order({"instId": INST, "clOrdId": "mkt1"}))["data"][0]
        assert latest["ordId"] != older and latest["sz"] == "2"  # the clOrdId names the latest
        found = (await raw.private_get_trade_order({"instId": INST, "ordId": older}))["data"][0]
        assert (found["clOrdId"], found["sz"], found["state"]) == ("mkt1", "1", "filled")
        fills = (await raw.private_get_trade_fills({"instId": INST}))["data"]
        assert sorted((f["ordId"], f["fillSz"]) for f in fills if f["clOrdId"] == "mkt1") == sorted(
            [(older, "1"), (latest["ordId"], "2")])  # each fill still its own order's, under the id it was sent
        with pytest.raises(ccxt.ExchangeError, match="51400"):  # final: not cancellable; the new one untouched
            await raw.private_post_trade_cancel_order({"instId": INST, "ordId": older})
    finally:
        await v.close()


async def test_a_lost_answer_is_looked_up_again_after_the_timestamp_window_before_any_re_send(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The create is held up 1.5 s on its way in; the client gives up after 0.3 s. A look-up then finds nothing,
    and a re-send would be a second filled order under the same id."""
    monkeypatch.setattr(okx_http, "TIMESTAMP_WINDOW_SECONDS", 3.0)
    v = venue(rig, timeout_ms=300, lifetime_s=3.0)
    try:
        await v.markets([SOL])
        await v.check_position_mode()  # asked before the first order: not the request a fault hits
        rig.emu.faults.queued, rig.emu.faults.queued_seconds = 1, 1.5
        started = time.monotonic()
        state = await v.place(OrderRequest("lost1", SOL, Side.SELL, D(3), OrderType.MARKET))
        assert time.monotonic() - started >= 3.0  # waited out the window before its last look-up
        assert state.status == "closed" and state.filled == D(3)
        assert rig.emu.orders_placed() == 1 and held(rig) == D(-3)  # not -6
    finally:
        await v.close()


async def test_a_request_held_past_its_window_is_refused_there_and_the_re_send_goes_in_once(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(okx_http, "TIMESTAMP_WINDOW_SECONDS", 1.0)
    v = venue(rig, timeout_ms=300, lifetime_s=1.0)
    try:
        await v.markets([SOL])
        await v.check_position_mode()  # asked before the first order: not the request a fault hits
        rig.emu.faults.queued, rig.emu.faults.queued_seconds = 1, 3.0
        state = await v.place(OrderRequest("lost2", SOL, Side.BUY, D(2), OrderType.MARKET))
        assert state.status == "closed" and state.filled == D(2)
        await asyncio.sleep(1.5)  # the held-up create reaches the server 3 s old: 50102, nothing placed
        assert rig.emu.orders_placed() == 1 and held(rig) == D(2)
    finally:
        await v.close()


async def test_the_timestamp_is_judged_when_the_request_arrives(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(okx_http, "TIMESTAMP_WINDOW_SECONDS", 0.5)
    client = make_client("okx", ApiCredentials(KEY, SECRET, PASSPHRASE), base_url=rig.url, rate_limit=False)
    try:
        rig.emu.faults.queued, rig.emu.faults.queued_seconds = 1, 1.0
        with pytest.raises(ccxt.InvalidNonce, match="50102"):  # ccxt reads it as a clock problem
            await client.private_get_trade_fills()
        assert (await client.private_get_trade_fills())["code"] == "0"  # on time: taken
    finally:
        await client.close()


def test_the_lifetime_is_the_venues_own_where_ids_are_unique_among_pending_orders() -> None:
    assert request_lifetime_seconds(make_client("okx")) == 30.0 == okx_http.TIMESTAMP_WINDOW_SECONDS
    assert request_lifetime_seconds(make_client("binanceusdm")) == 5.0
    assert request_lifetime_seconds(make_client("bybit")) is None


async def test_over_the_websocket_too_a_final_orders_id_is_free_and_a_pending_ones_refused(rig: Rig) -> None:
    pro = okx_pro(rig.url)
    try:
        q = (await pro.fetch_ticker(SOL))
        far = round(q["bid"] * 0.8, 2)
        first = await asyncio.wait_for(pro.create_order_ws(SOL, "market", "buy", 1, None, {"clientOrderId": "wsm1"}),
                                       5)
        again = await asyncio.wait_for(pro.create_order_ws(SOL, "market", "buy", 2, None, {"clientOrderId": "wsm1"}),
                                       5)
        assert first["id"] != again["id"] and held(rig) == D(3)
        await asyncio.wait_for(pro.create_order_ws(SOL, "limit", "buy", 1, far, {"clientOrderId": "wsl1"}), 5)
        with pytest.raises(ccxt.ExchangeError, match="51016"):
            await asyncio.wait_for(pro.create_order_ws(SOL, "limit", "buy", 1, far, {"clientOrderId": "wsl1"}), 5)
        orders = asyncio.ensure_future(pro.watch_orders(SOL))
        await until(lambda: any(s.channel == "orders" for c in rig.app.streams.conns for s in c.subs.values()))
        await pro.private_post_trade_cancel_order({"instId": INST, "clOrdId": "wsl1"})
        seen = await asyncio.wait_for(orders, 5)
        assert [(o["clientOrderId"], o["status"]) for o in seen] == [("wsl1", "canceled")]
        third = await asyncio.wait_for(pro.create_order_ws(SOL, "limit", "buy", 1, far, {"clientOrderId": "wsl1"}),
                                       5)  # canceled: its id is free again
        await until(lambda: third["id"] in {o["id"] for o in pro.orders})
        assert [o["status"] for o in pro.orders if o["clientOrderId"] == "wsl1"] == ["canceled", "open"]
    finally:
        await pro.close()


async def test_a_lost_answer_whose_look_up_fails_too_still_waits_the_window_before_anything_else(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The create is held up 1.5 s; the look-up after the client gives up meets a 503. Giving up there let the
    cycle fail and the next plan go out under new ids while the first request could still execute: the look-up
    is tried again once the window has passed, and finds it."""
    monkeypatch.setattr(okx_http, "TIMESTAMP_WINDOW_SECONDS", 3.0)
    v = venue(rig, timeout_ms=300, lifetime_s=3.0)
    try:
        await v.markets([SOL])
        await v.check_position_mode()
        rig.emu.faults.queued, rig.emu.faults.queued_seconds = 1, 1.5
        started = time.monotonic()
        placing = asyncio.ensure_future(v.place(OrderRequest("lost5", SOL, Side.SELL, D(3), OrderType.MARKET)))
        await asyncio.sleep(0.1)  # the create is held up: the next request is the look-up
        rig.emu.faults.maintenance = 1
        state = await placing
        assert time.monotonic() - started >= 3.0
        assert state.status == "closed" and rig.emu.orders_placed() == 1 and held(rig) == D(-3)
    finally:
        await v.close()


async def test_a_create_the_venue_answered_429_is_sent_again_at_once(rig: Rig) -> None:
    """A rate limit says the request was not acted on: nothing can still execute, so no window is waited."""
    v = venue(rig, lifetime_s=30.0)
    try:
        await v.markets([SOL])
        await v.check_position_mode()
        rig.emu.faults.rate_limited = 1
        started = time.monotonic()
        state = await v.place(OrderRequest("rl1", SOL, Side.BUY, D(1), OrderType.MARKET))
        assert time.monotonic() - started < 5.0 and state.status == "closed" and rig.emu.orders_placed() == 1
    finally:
        await v.close()

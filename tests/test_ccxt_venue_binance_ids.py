"""Binance's client order ids are "unique among open orders" only: a filled market order's id is free again, so a
re-send after a lost answer is guarded by nothing but a look-up. The emulator now frees a final order's id as
Binance does, and the venue re-sends only once the first request's recvWindow has passed (after which Binance's
matching engine refuses it, -5028): found by then, or never executed. Real ccxt.binanceusdm over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from hedgeops.exchange.ccxt.client import RECV_WINDOW_MS, ApiCredentials, client_config, make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue, recv_window_seconds
from hedgeops.exchange.emulator.binance_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.venue import DuplicateClientOrderId
from hedgeops.model.orders import OrderRequest, OrderType, Side

from .test_emulator_binance import KEY, SECRET, Clock, call

SOL = "SOL/USDT:USDT"
D = Decimal


@pytest.fixture
async def rig() -> AsyncIterator[tuple[Emulator, str]]:
    emu = Emulator(MarketReplay(), Clock(), {KEY: Credentials(SECRET, "")}, funding_usdt=Decimal(1000))
    async with serving(emu) as (_, url):
        yield emu, url


def venue(url: str, timeout_ms: int = 10_000, recv_window_ms: int | None = None) -> CcxtVenue:
    client = make_client("binanceusdm", ApiCredentials(KEY, SECRET), base_url=url, rate_limit=False,
                         timeout_ms=timeout_ms)
    if recv_window_ms is not None:
        client.options["recvWindow"] = recv_window_ms
    return CcxtVenue(client)


def held(emu: Emulator) -> Decimal:
    return emu.account(KEY).venue.account.positions({})[SOL].qty


async def test_an_open_orders_id_is_refused_a_final_ones_is_free_again_and_the_first_still_found(
        rig: tuple[Emulator, str]) -> None:
    emu, url = rig
    v = venue(url)
    try:
        await v.markets([SOL])
        await v.check_position_mode()  # asked before the first order: not the request a fault hits
        q = (await v.quotes([SOL]))[SOL]
        bid = (q.bid * D("0.9")).quantize(D("0.01"))
        await v.place(OrderRequest("bid-1", SOL, Side.BUY, D(1), OrderType.LIMIT, bid,
                                   post_only=True))
        with pytest.raises(DuplicateClientOrderId):  # -4116, as the adapter must read it
            await v.place(OrderRequest("bid-1", SOL, Side.BUY, D(1), OrderType.MARKET))
        first = await v.place(OrderRequest("mkt-1", SOL, Side.BUY, D(1), OrderType.MARKET))
        assert first.status == "closed"
        again = await v.place(OrderRequest("mkt-1", SOL, Side.BUY, D(2), OrderType.MARKET))  # Binance takes it
        assert again.status == "closed" and again.amount == D(2) and held(emu) == D(3)
        status, orders = await call(url, "GET", "/fapi/v1/allOrders", {"symbol": "SOLUSDT"})
        mine = [o for o in orders if o["clientOrderId"] == "mkt-1"]
        assert status == 200 and sorted(o["origQty"] for o in mine) == ["1", "2"]
        older = min(mine, key=lambda o: int(o["orderId"]))
        status, found = await call(url, "GET", "/fapi/v1/order", {"symbol": "SOLUSDT", "orderId": older["orderId"]})
        assert status == 200 and found["origQty"] == "1" and found["status"] == "FILLED"
        status, gone = await call(url, "DELETE", "/fapi/v1/order", {"symbol": "SOLUSDT", "orderId": older["orderId"]})
        assert (status, gone["code"]) == (400, -2011)  # final: not cancellable, and the new one is untouched
    finally:
        await v.close()


async def test_a_lost_answer_is_looked_up_again_after_the_recv_window_before_any_re_send(
        rig: tuple[Emulator, str]) -> None:
    """The order request is held up 1.5 s on its way in; the client gives up after 0.3 s. A look-up then finds
    nothing, and a re-send would be a second filled order under the same id."""
    emu, url = rig
    v = venue(url, timeout_ms=300, recv_window_ms=2000)
    try:
        await v.markets([SOL])
        await v.check_position_mode()  # asked before the first order: not the request a fault hits
        emu.faults.queued, emu.faults.queued_seconds = 1, 1.5
        started = time.monotonic()
        state = await v.place(OrderRequest("lost-1", SOL, Side.SELL, D(3), OrderType.MARKET))
        assert time.monotonic() - started >= 2.0  # waited out the window before its last look-up
        assert state.status == "closed" and state.filled == D(3)
        assert emu.orders_placed() == 1 and held(emu) == D(-3)  # not -6
    finally:
        await v.close()


async def test_a_request_held_past_its_window_is_refused_there_and_the_re_send_goes_in_once(
        rig: tuple[Emulator, str]) -> None:
    emu, url = rig
    v = venue(url, timeout_ms=300, recv_window_ms=1000)
    try:
        await v.markets([SOL])
        await v.check_position_mode()  # asked before the first order: not the request a fault hits
        emu.faults.queued, emu.faults.queued_seconds = 1, 3.0
        state = await v.place(OrderRequest("lost-2", SOL, Side.BUY, D(2), OrderType.MARKET))
        assert state.status == "closed" and state.filled == D(2)
        await asyncio.sleep(1.5)  # the held-up request reaches the server, too old: -1021, nothing placed
        assert emu.orders_placed() == 1 and held(emu) == D(2)
    finally:
        await v.close()


def test_binance_clients_sign_with_a_5_second_window_and_others_are_left_alone() -> None:
    assert client_config("binanceusdm", None, 1000, True)["options"]["recvWindow"] == RECV_WINDOW_MS == 5000
    assert "recvWindow" not in client_config("okx", None, 1000, True)["options"]


def test_the_window_is_waited_only_where_ids_are_unique_among_open_orders() -> None:
    assert recv_window_seconds(make_client("binanceusdm")) == 5.0
    assert recv_window_seconds(make_client("okx")) is None

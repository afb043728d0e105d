"""The StreamingVenue's order safety against the emulator's OKX websockets, through real ccxt.pro: an order that
waited for the socket's rate limit while its session ended is never sent on that session's client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import ROUND_DOWN, Decimal

import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS
from hedgeops.exchange.stream import StreamingVenue, streaming_venue
from hedgeops.exchange.stream.ratelimit import WindowLimit
from hedgeops.exchange.venue import StreamUntrusted
from hedgeops.model.orders import OrderRequest, OrderStatus, OrderType, Side

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig
from .emulator_ws import INST_ID, SWAP, rig_with_controls, until


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in rig_with_controls():
        yield r


@pytest.fixture
async def sv(rig: Rig) -> AsyncIterator[StreamingVenue]:
    v = streaming_venue("okx", ApiCredentials(KEY, SECRET, PASSPHRASE), base_url=rig.url, rate_limit=False)
    try:
        yield v
    finally:
        await v.close()


def far_bid(rig: Rig) -> Decimal:
    inst = OKX_INSTRUMENTS[INST_ID]
    return (rig.emu.quote(inst).bid * Decimal("0.8")).quantize(inst.tick_sz, ROUND_DOWN)


def buy(cid: str, rig: Rig) -> OrderRequest:
    return OrderRequest(cid, SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, far_bid(rig))


async def test_an_order_waiting_on_the_rate_limit_is_not_sent_once_its_session_ended(
        rig: Rig, sv: StreamingVenue) -> None:
    sv._limit = WindowLimit(1, 1.0)  # one op per second: the second order waits for the first to leave the window
    await sv.snapshot([SWAP])
    first = asyncio.ensure_future(sv.place(buy("svq1", rig)))
    second = asyncio.ensure_future(sv.place(buy("svq2", rig)))
    assert (await first).status == OrderStatus.OPEN
    assert not second.done()  # still waiting for the limit
    rig.emu.faults.ws_drop_code = 4000  # the session ends during the wait
    await until(lambda: not sv.trusted, timeout=2)
    with pytest.raises(StreamUntrusted):
        await second
    orders = rig.emu.account(KEY).venue.account.orders
    assert "svq1" in orders and "svq2" not in orders
    await until(lambda: sv.trusted, timeout=10)  # the venue recovers; the refused order never went out
    await asyncio.sleep(0.3)
    assert "svq2" not in orders and "svq2" not in sv._own


async def test_a_cancel_waiting_on_the_rate_limit_goes_by_rest_once_its_session_ended(
        rig: Rig, sv: StreamingVenue) -> None:
    await sv.snapshot([SWAP])
    await sv.place(buy("svc1", rig))
    await sv.place(buy("svc2", rig))
    sv._limit = WindowLimit(1, 1.0)
    ws_orders = sv.stats.ws_orders
    first = asyncio.ensure_future(sv.cancel("svc1", SWAP))
    second = asyncio.ensure_future(sv.cancel("svc2", SWAP))
    assert (await first).status == OrderStatus.CANCELED
    assert not second.done()
    rig.emu.faults.ws_drop_code = 4000
    await until(lambda: not sv.trusted, timeout=2)
    assert (await second).status == OrderStatus.CANCELED
    assert sv.stats.ws_orders == ws_orders + 1  # the second was not sent on the ended session's socket

"""The StreamingVenue's order safety against the emulator's OKX websockets, through real ccxt.pro: an order that
waited for the socket's rate limit while its session ended is never sent on that session's client; an op whose
reply is lost carries a deadline (OKX's expTime) and is looked up, and sent again over REST, only once the deadline
has passed, so the late op is refused by the exchange; a frozen stream (open, answering pings, pushing nothing) is
untrusted within its silence bound, private or public, and trusted again once it pushes."""

from __future__ import annotations

import asyncio
import time
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS
from hedgeops.exchange.stream import StreamingVenue
from hedgeops.exchange.stream.client import make_pro_client
from hedgeops.exchange.stream.ratelimit import WindowLimit
from hedgeops.exchange.venue import StreamUntrusted
from hedgeops.model.orders import OrderRequest, OrderStatus, OrderType, Side

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig
from .emulator_ws import INST_ID, SWAP, advance_to_new_price, until


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


async def test_a_late_op_is_refused_by_its_deadline_and_the_order_goes_once_by_rest(
        rig: Rig, sv: StreamingVenue) -> None:
    await sv.snapshot([SWAP])
    sv._op_timeout = 0.5
    client = sv.supervisor.client
    sent: list[dict[str, Any]] = []
    replies: list[dict[str, Any]] = []
    conn = client.client(client.get_url("private", "private"))  # the private socket, as the session opened it
    send, handle = conn.send, client.handle_error_message

    def recording_send(message: Any) -> Any:  # what goes on the wire
        if isinstance(message, dict) and message.get("op") in ("order", "batch-orders"):
            sent.append(message)
        return send(message)

    def recording_handle(ws: Any, message: Any) -> Any:
        replies.append(message)
        return handle(ws, message)  # every message passes here first

    conn.send, client.handle_error_message = recording_send, recording_handle
    rest_sends: list[float] = []
    rest_place = sv.rest.place

    async def timed_place(order: OrderRequest) -> Any:
        rest_sends.append(time.time())
        return await rest_place(order)

    sv.rest.place = timed_place  # type: ignore[method-assign]
    rig.emu.faults.ws_op_delay_seconds = 1.2  # the op reaches the exchange after the venue gave up on it (0.5 s)
    before = rig.emu.orders_placed()
    state = await sv.place(buy("svlate1", rig))
    rig.emu.faults.ws_op_delay_seconds = 0
    assert state.client_order_id == "svlate1" and state.status == OrderStatus.OPEN
    assert len(sent) == 1 and sent[0]["args"][0]["clOrdId"] == "svlate1"
    exp_ms = int(sent[0]["expTime"])  # at the top of the op message, where OKX reads it
    assert "expTime" not in sent[0]["args"][0]
    # The late op was refused by its deadline, not taken; the order went once, over REST, after the deadline.
    await until(lambda: any(r.get("id") == sent[0]["id"] for r in replies), timeout=3)
    late = next(r for r in replies if r.get("id") == sent[0]["id"])
    assert [row["sCode"] for row in late["data"]] == ["50102"]
    assert len(rest_sends) == 1 and rest_sends[0] * 1000 > exp_ms
    assert rig.emu.orders_placed() == before + 1
    assert rig.emu.account(KEY).venue.account.orders["svlate1"].status == OrderStatus.OPEN


def watched_venue(rig: Rig, private_silence_s: float | None, public_silence_s: float | None) -> StreamingVenue:
    creds = ApiCredentials(KEY, SECRET, PASSPHRASE)
    rest = CcxtVenue(make_client("okx", creds, base_url=rig.url, rate_limit=False))
    return StreamingVenue(rest, lambda: make_pro_client("okx", creds, base_url=rig.url, rate_limit=False),
                          private_silence_s=private_silence_s, public_silence_s=public_silence_s)


async def test_a_frozen_private_stream_is_untrusted_within_its_bound_and_recovers(rig: Rig) -> None:
    rig.app.streams.periodic_s = 0.3  # the emulator's regular account/positions pushes (OKX's regular interval)
    v = watched_venue(rig, private_silence_s=1.0, public_silence_s=None)
    try:
        await v.snapshot([SWAP])
        sessions = v.supervisor.sessions
        await asyncio.sleep(1.6)  # longer than the bound: the regular pushes keep a live private stream trusted
        assert v.trusted and v.supervisor.sessions == sessions
        rig.emu.faults.ws_frozen = True
        started = time.monotonic()
        await until(lambda: not v.trusted, timeout=3)
        assert time.monotonic() - started < 1.0 + 0.5  # the bound and the watchdog's step
        assert "private stream silent" in v.untrusted_reason, v.untrusted_reason
        with pytest.raises(StreamUntrusted):
            await v.snapshot([SWAP])
        with pytest.raises(StreamUntrusted):
            await v.place(buy("svfrozen1", rig))
        assert "svfrozen1" not in rig.emu.account(KEY).venue.account.orders
        rig.emu.faults.ws_frozen = False
        await until(lambda: v.trusted, timeout=10)
        sessions = v.supervisor.sessions
        await asyncio.sleep(1.6)
        assert v.trusted and v.supervisor.sessions == sessions  # pushing again: no further gap
        assert (await v.snapshot([SWAP])).quotes[SWAP]
    finally:
        await v.close()


async def test_a_frozen_public_stream_is_untrusted_within_its_bound_and_recovers(rig: Rig) -> None:
    v = watched_venue(rig, private_silence_s=None, public_silence_s=1.0)

    async def market() -> None:  # the replayed price keeps moving: the ticker pushes
        while True:
            advance_to_new_price(rig)
            await asyncio.sleep(0.2)

    moving = asyncio.ensure_future(market())
    try:
        await v.snapshot([SWAP])
        sessions = v.supervisor.sessions
        await asyncio.sleep(1.6)
        assert v.trusted and v.supervisor.sessions == sessions
        rig.emu.faults.ws_frozen = True
        started = time.monotonic()
        await until(lambda: not v.trusted, timeout=3)
        assert time.monotonic() - started < 1.0 + 0.5
        assert "public stream silent" in v.untrusted_reason, v.untrusted_reason
        with pytest.raises(StreamUntrusted):
            await v.snapshot([SWAP])
        rig.emu.faults.ws_frozen = False
        await until(lambda: v.trusted, timeout=10)
        sessions = v.supervisor.sessions
        await asyncio.sleep(1.6)
        assert v.trusted and v.supervisor.sessions == sessions
    finally:
        moving.cancel()
        await v.close()

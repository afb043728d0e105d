"""The StreamingVenue against the emulator's OKX websockets, through real ccxt.pro: snapshots from the streams
with no REST request, the account following orders placed through the venue (over the socket) and by another
client over REST, order entry over the socket, close() leaving nothing running, and stop_streams() closing every
socket for good while REST still answers."""

from __future__ import annotations

import asyncio
import gc
import time
from decimal import ROUND_DOWN, Decimal

import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, UnknownExchange, make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS
from hedgeops.exchange.stream import StreamingVenue, StreamUpdate, streaming_venue
from hedgeops.exchange.stream.client import make_pro_client, ws_url
from hedgeops.exchange.venue import OrderRejected, StreamUntrusted
from hedgeops.model.orders import OrderRequest, OrderStatus, OrderType, Side

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig, okx
from .emulator_ws import INST_ID, SWAP, advance_to_new_price, until
from .stream_fixtures import make_venue

ETH = "ETH/USDT:USDT"


def far_bid(rig: Rig) -> Decimal:
    inst = OKX_INSTRUMENTS[INST_ID]
    return (rig.emu.quote(inst).bid * Decimal("0.8")).quantize(inst.tick_sz, ROUND_DOWN)


def test_ws_url_and_unknown_exchange() -> None:
    assert ws_url("http://127.0.0.1:8443/", "okx") == "ws://127.0.0.1:8443/ws/v5"
    assert ws_url("https://gw.example", "binanceusdm") == "wss://gw.example"
    with pytest.raises(UnknownExchange):
        streaming_venue("nosuchexchange", None)


async def test_snapshots_come_from_the_streams_with_no_rest_request(rig: Rig, sv: StreamingVenue) -> None:
    updates: list[StreamUpdate] = []
    sv.add_listener(updates.append)
    first = await sv.snapshot([SWAP])
    assert sv.trusted and sv.stats.reconciles == 1
    inst = OKX_INSTRUMENTS[INST_ID]
    assert first.quotes[SWAP].last == rig.emu.quote(inst).last
    assert first.balances["USDT"] == 100_000
    before = sv.stats.rest_requests
    seen = [first.quotes[SWAP].last]
    timings = []
    for _ in range(5):
        moved = advance_to_new_price(rig)
        await until(lambda m=moved: sv.state.quotes[SWAP].last == m)  # type: ignore[misc]
        started = time.perf_counter()
        snap = await sv.snapshot([SWAP])
        timings.append(time.perf_counter() - started)
        assert snap.quotes[SWAP].last == moved
        assert int(snap.quotes[SWAP].at.timestamp() * 1000) == rig.emu.now_ms()  # the exchange's push time
        seen.append(snap.quotes[SWAP].last)
    assert sv.stats.rest_requests == before  # not one REST request while the stream is trusted
    assert sv.supervisor.client.last_http_response is None  # nor did the stream's client ever use REST
    live = sv.live_snapshot()
    assert live is not None and live.quotes[SWAP] == snap.quotes[SWAP] and live.balances == snap.balances
    assert len(set(seen)) > 1
    assert any(u.kind == "quote" and SWAP in u.symbols for u in updates)
    assert any(u.kind == "trust" for u in updates)
    print(f"snapshot latency max {max(timings) * 1e6:.0f} us")


async def test_orders_over_the_socket_and_by_another_client_are_streamed(rig: Rig, sv: StreamingVenue) -> None:
    await sv.snapshot([SWAP])
    await sv.rest.check_position_mode()  # asked once before the first order (one REST request): not counted below
    before = sv.stats.rest_requests
    price = far_bid(rig)
    started = time.perf_counter()
    placed = await sv.place(OrderRequest("svws1", SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, price))
    ack = time.perf_counter() - started
    assert placed.status == OrderStatus.OPEN and placed.price == price and sv.stats.ws_orders == 1
    assert sv.stats.rest_requests == before  # placed and confirmed over the socket and the orders stream
    snap = await sv.snapshot([SWAP])
    assert [o.client_order_id for o in snap.open_orders] == ["svws1"]
    assert rig.emu.account(KEY).venue.account.orders["svws1"].price == price
    # Another client on the same account, over REST: a market buy fills, the position and balance follow.
    other = okx(rig.url)
    try:
        await other.create_order(SWAP, "market", "buy", 2, None, {"clOrdId": "other1"})
    finally:
        await other.close()
    await until(lambda: SWAP in sv.state.positions and "other1" in sv.state.orders)
    snap = await sv.snapshot([SWAP])
    contract = OKX_INSTRUMENTS[INST_ID].ct_val
    assert snap.positions[SWAP].qty == 2 * contract
    assert snap.balances["USDT"] != 100_000
    cancelled = await sv.cancel("svws1", SWAP)
    assert cancelled.status == OrderStatus.CANCELED
    assert sv.stats.rest_requests == before
    assert (await sv.snapshot([SWAP])).open_orders == ()
    # A post-only order that would cross is a refusal, as with CcxtVenue.
    ask = rig.emu.quote(OKX_INSTRUMENTS[INST_ID]).ask
    with pytest.raises(OrderRejected):
        await sv.place(OrderRequest("svpo1", SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, ask * 2,
                                    post_only=True))
    # A market order fills at once: its state (filled, closed) comes from the orders stream; cancelling it then
    # is answered with its final state, not an error.
    before = sv.stats.rest_requests
    taken = await sv.place(OrderRequest("svmkt1", SWAP, Side.SELL, Decimal("1"), OrderType.MARKET))
    assert taken.status == OrderStatus.CLOSED and taken.filled == Decimal("1")
    again = await sv.cancel("svmkt1", SWAP)
    assert again.status == OrderStatus.CLOSED and again.filled == Decimal("1")
    assert sv.stats.rest_requests == before
    print(f"ws order ack {ack * 1e3:.1f} ms")


async def test_a_symbol_asked_for_later_joins_the_ticker_subscription(rig: Rig, sv: StreamingVenue) -> None:
    await sv.snapshot([SWAP])
    before = sv.stats.rest_requests
    snap = await sv.snapshot([SWAP, ETH, "SOL/USDT"])  # a perp and a spot market join
    assert snap.quotes[ETH].last == rig.emu.quote(OKX_INSTRUMENTS["ETH-USDT-SWAP"]).last
    assert snap.quotes["SOL/USDT"].last > 0
    assert sv.stats.rest_requests == before  # its first quote came from the stream
    moved = advance_to_new_price(rig, OKX_INSTRUMENTS["ETH-USDT-SWAP"])
    await until(lambda: sv.state.quotes[ETH].last == moved)
    book = await sv.order_book(ETH, 5)
    assert book.bids[0][0] == rig.emu.quote(OKX_INSTRUMENTS["ETH-USDT-SWAP"]).bid and len(book.bids) == 5
    assert sv.stats.rest_requests == before


async def test_a_stream_that_never_comes_up_refuses_after_a_bounded_wait(rig: Rig) -> None:
    creds = ApiCredentials(KEY, SECRET, PASSPHRASE)
    rest = make_client("okx", creds, base_url=rig.url, rate_limit=False)
    # The websockets at a port nobody serves: every session fails to connect.
    v = StreamingVenue(CcxtVenue(rest), lambda: make_pro_client("okx", creds, base_url="http://127.0.0.1:9",
                                                                rate_limit=False), first_trust_wait_s=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(StreamUntrusted, match="stream"):
            await v.snapshot([SWAP])
        assert time.monotonic() - started < 2
        assert not v.trusted and v.untrusted_reason and v.live_snapshot() is None
        with pytest.raises(StreamUntrusted):
            await v.place(OrderRequest("svcold1", SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, far_bid(rig)))
        assert "svcold1" not in rig.emu.account(KEY).venue.account.orders
    finally:
        await v.close()


async def test_close_leaves_no_task_running(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    v = make_venue(rig)
    await v.snapshot([SWAP, ETH])
    await v.order_book(SWAP, 5)
    ours = {t for t in asyncio.all_tasks() if t.get_name().startswith("stream")}
    assert len(ours) >= 6  # the supervisor, balance, positions, orders, two tickers, a book
    await until(lambda: len(rig.app.streams.conns) == 2)  # public and private
    await v.close()
    assert not [t for t in ours if not t.done()]
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("stream")]
    await until(lambda: not rig.app.streams.conns)  # every socket closed
    del v
    gc.collect()
    await asyncio.sleep(0.05)
    text = caplog.text
    assert "Task was destroyed" not in text and "Unclosed" not in text and "unclosed" not in text


async def test_stop_streams_closes_every_socket_for_good_and_leaves_rest_usable(rig: Rig) -> None:
    v = make_venue(rig)
    try:
        await v.snapshot([SWAP])
        placed = await v.place(OrderRequest("svstop1", SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, far_bid(rig)))
        assert placed.status == OrderStatus.OPEN
        await until(lambda: len(rig.app.streams.conns) == 2)
        sessions = v.supervisor.sessions
        await v.stop_streams()
        assert not v.trusted and v.untrusted_reason == "streams stopped" and v.live_snapshot() is None
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("stream")]
        await until(lambda: not rig.app.streams.conns)  # every socket closed
        with pytest.raises(StreamUntrusted):
            await v.snapshot([SWAP])
        with pytest.raises(StreamUntrusted):
            await v.place(OrderRequest("svstop2", SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, far_bid(rig)))
        assert "svstop2" not in rig.emu.account(KEY).venue.account.orders
        # REST still answers: a lookup, quotes, a cancel.
        found = await v.order("svstop1", SWAP)
        assert found is not None and found.status == OrderStatus.OPEN
        assert (await v.quotes([SWAP]))[SWAP].last == rig.emu.quote(OKX_INSTRUMENTS[INST_ID]).last
        assert (await v.cancel("svstop1", SWAP)).status == OrderStatus.CANCELED
        await asyncio.sleep(0.5)  # and nothing reconnects
        assert not rig.app.streams.conns and v.supervisor.sessions == sessions
        await v.stop_streams()  # twice is harmless
    finally:
        await v.close()

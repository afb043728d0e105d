"""The StreamingVenue through the emulator's stream faults, with real ccxt.pro: a dropped connection makes it
untrusted at once (no snapshot, no order sent) until it has reconnected and reconciled over REST by itself; an
order whose reply is lost is looked up, never doubled; a missed `books` update is a seq gap the book is
resynchronised from."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS
from hedgeops.exchange.stream import StreamingVenue
from hedgeops.exchange.venue import StreamUntrusted
from hedgeops.model.orders import OrderRequest, OrderStatus, OrderType, Side

from .emulator_controls import control
from .emulator_fixtures import KEY, Rig
from .emulator_ws import INST_ID, SWAP, advance_to_new_price, until


def resting_buy_price(rig: Rig) -> Decimal:
    """A buy price below the bid that the next two hours of bars trade through."""
    inst = OKX_INSTRUMENTS[INST_ID]
    bid = rig.emu.quote(inst).bid
    bars = rig.emu.replay.series(SWAP).bars_between(rig.clock(), rig.clock() + timedelta(hours=2))
    low = min(b.low for b in bars)
    assert low < bid - inst.tick_sz * 2
    return ((low + bid) / 2 / inst.tick_sz).to_integral_value(ROUND_DOWN) * inst.tick_sz


async def test_a_dropped_connection_untrusts_at_once_and_recovers_by_itself(rig: Rig, sv: StreamingVenue) -> None:
    await sv.snapshot([SWAP])
    assert sv.trusted
    price = resting_buy_price(rig)
    resting = await sv.place(OrderRequest("svrest1", SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, price))
    assert resting.status == OrderStatus.OPEN
    placed_before = rig.emu.orders_placed()
    reconciles = sv.stats.reconciles
    # The REST reconcile after the reconnect fails a few times (503s): the venue stays untrusted meanwhile.
    rig.emu.faults.maintenance = 3
    rig.emu.faults.ws_drop_code = 4000  # every connection closed at the next tick (as POST /emulator/ws/drop)
    await until(lambda: not sv.trusted, timeout=2)
    assert "orders stream" in sv.untrusted_reason or "stream:" in sv.untrusted_reason, sv.untrusted_reason
    assert sv.live_snapshot() is None
    print("untrusted:", sv.untrusted_reason)
    with pytest.raises(StreamUntrusted):
        await sv.snapshot([SWAP])
    with pytest.raises(StreamUntrusted):
        await sv.place(OrderRequest("svnever1", SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, price))
    assert rig.emu.orders_placed() == placed_before  # nothing was sent
    # While disconnected the replay trades through the resting buy.
    for _ in range(24):
        rig.clock.advance(300)
        if rig.emu.quote(OKX_INSTRUMENTS[INST_ID]).last < price:
            break
    rig.clock.advance(300)
    await until(lambda: sv.trusted, timeout=15)
    assert sv.stats.reconnects >= 1 and sv.stats.reconciles > reconciles
    assert rig.emu.faults.maintenance == 0
    snap = await sv.snapshot([SWAP])
    assert "svrest1" not in {o.client_order_id for o in snap.open_orders}
    filled = await sv.order("svrest1", SWAP)
    assert filled is not None and filled.status == OrderStatus.CLOSED
    assert sv.state.orders["svrest1"].status == OrderStatus.CLOSED  # learnt by the reconcile's lookup
    assert snap.positions[SWAP].qty > 0
    assert rig.emu.orders_placed() == placed_before
    assert "svnever1" not in rig.emu.account(KEY).venue.account.orders


def swallow_replies(client: Any, then: Any = None) -> None:
    """The op's reply never reaches ccxt (it was sent and executed): a lost answer."""
    def lost(conn: Any, message: Any) -> None:
        if then is not None:
            then()

    client.handle_place_orders = lost


@pytest.mark.parametrize("how", ["timeout", "drop"])
async def test_a_place_whose_reply_is_lost_is_never_doubled(rig: Rig, sv: StreamingVenue, how: str) -> None:
    await sv.snapshot([SWAP])
    await sv.rest.check_position_mode()  # asked once before the first order (one REST request): not counted below
    sv._op_timeout = 0.5
    inst = OKX_INSTRUMENTS[INST_ID]
    price = (rig.emu.quote(inst).bid * Decimal("0.8")).quantize(inst.tick_sz, ROUND_DOWN)

    def drop() -> None:
        rig.emu.faults.ws_drop_code = 4000

    swallow_replies(sv.supervisor.client, drop if how == "drop" else None)
    before, requests = rig.emu.orders_placed(), sv.stats.rest_requests
    state = await sv.place(OrderRequest(f"svlost{how}", SWAP, Side.BUY, Decimal("1"), OrderType.LIMIT, price))
    assert state.client_order_id == f"svlost{how}" and state.status == OrderStatus.OPEN
    assert rig.emu.orders_placed() == before + 1  # exactly one order with that id
    if how == "timeout":
        assert sv.stats.rest_requests == requests + 1  # the lookup by client id found it: not sent again
    if how == "drop":
        await until(lambda: sv.stats.reconnects >= 1 and sv.trusted, timeout=10)
    assert rig.emu.orders_placed() == before + 1


async def test_a_missed_books_update_is_resynchronised_never_served_wrong(rig: Rig, sv: StreamingVenue) -> None:
    await sv.snapshot([SWAP])
    inst = OKX_INSTRUMENTS[INST_ID]
    book = await sv.order_book(SWAP, 20)
    assert book.bids[0][0] == rig.emu.quote(inst).bid and len(book.bids) == 20
    requests = sv.stats.rest_requests
    await control(rig.url, "/emulator/ws/skip", {"channel": "books", "count": 1})
    advance_to_new_price(rig)  # this update is lost
    await asyncio.sleep(0.2)
    advance_to_new_price(rig)  # the next one's prevSeqId shows the gap
    await until(lambda: sv.stats.book_resyncs >= 1, timeout=5)
    book = await sv.order_book(SWAP, 20)
    assert book.bids[0][0] == rig.emu.quote(inst).bid and book.asks[0][0] == rig.emu.quote(inst).ask
    assert sv.trusted  # a book's gap is the book's: the account stream stays trusted
    assert sv.stats.rest_requests - requests <= 1  # the control's signed call is not ours; at most a REST book

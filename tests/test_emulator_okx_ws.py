"""Real ccxt.pro okx against the emulator's websockets (issue 21, item 3): market channels follow the replay
clock; a logged-in client sees its orders, positions and balance move with orders placed over REST and over the
websocket, a resting order's fill as the replay trades through it, a cancel, and a funding settlement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS

from .emulator_controls import control
from .emulator_fixtures import KEY, START, Rig, start
from .emulator_ws import (
    INST_ID,
    SWAP,
    advance_to_new_price,
    okx_pro,
    rig_with_controls,
    until,
    warm,
    while_doing,
)

ETH = "ETH/USDT:USDT"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        await warm(r)
        yield r


@pytest.fixture
async def pro(rig: Rig) -> AsyncIterator[Any]:
    ex = okx_pro(rig.url)
    try:
        yield ex
    finally:
        await ex.close()


async def test_ccxt_pro_watches_tickers_and_books_moving_with_the_replay_clock(rig: Rig, pro: Any) -> None:
    inst = OKX_INSTRUMENTS[INST_ID]
    ticker = await asyncio.wait_for(pro.watch_ticker(SWAP), 5)
    rest = rig.emu.quote(inst)
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (float(rest.last), float(rest.bid), float(rest.ask))
    five = await asyncio.wait_for(pro.watch_order_book(SWAP, 5), 5)
    assert len(five["bids"]) == len(five["asks"]) == 5 and five["bids"][0][0] == float(rest.bid)
    # ccxt keeps one book per symbol: the 400-level channel is watched on another market.
    eth = OKX_INSTRUMENTS["ETH-USDT-SWAP"]
    full = await asyncio.wait_for(pro.watch_order_book_for_symbols([ETH], params={"depth": "books"}), 5)
    assert len(full["bids"]) == 400 and full["asks"][0][0] == float(rig.emu.quote(eth).ask)
    snapshot_seq = full["nonce"]

    moved = await while_doing(asyncio.gather(pro.watch_ticker(SWAP), pro.watch_order_book(SWAP, 5)),
                              lambda: advance_to_new_price(rig))
    now = rig.emu.quote(inst)
    assert moved[0]["last"] == float(now.last) != ticker["last"]
    assert moved[1]["bids"][0][0] == float(now.bid) and moved[1]["asks"][0][0] == float(now.ask)
    assert moved[0]["timestamp"] == rig.emu.now_ms()  # stamped on the replay clock, as REST answers
    # The 400-level book moved by incremental updates (seqId chained, levels gone sent at size 0).
    updated = await while_doing(pro.watch_order_book_for_symbols([ETH], params={"depth": "books"}),
                                lambda: advance_to_new_price(rig, eth))
    after = rig.emu.quote(eth)
    assert updated["bids"][0][0] == float(after.bid) and updated["asks"][0][0] == float(after.ask)
    assert len(updated["bids"]) == 400 and updated["nonce"] > snapshot_seq


def _resting_buy_price(rig: Rig) -> Decimal:
    """A buy price below the bid that the next two hours of real bars trade through (strictly), mid-way."""
    inst = OKX_INSTRUMENTS[INST_ID]
    bid = rig.emu.quote(inst).bid
    bars = rig.emu.replay.series(SWAP).bars_between(rig.clock(), rig.clock() + timedelta(hours=2))
    low = min(b.low for b in bars)
    assert low < bid - inst.tick_sz * 2
    return ((low + bid) / 2 / inst.tick_sz).to_integral_value(ROUND_DOWN) * inst.tick_sz


async def test_ccxt_pro_sees_orders_fills_positions_and_balance(rig: Rig, pro: Any) -> None:
    balance = await asyncio.wait_for(pro.watch_balance(), 5)
    assert balance["USDT"]["total"] == 100_000
    assert await asyncio.wait_for(pro.watch_positions(), 5) == []
    assert rig.clock() == START
    inst = OKX_INSTRUMENTS[INST_ID]
    far = float((rig.emu.quote(inst).bid * Decimal("0.8")).quantize(inst.tick_sz, ROUND_DOWN))
    resting = float(_resting_buy_price(rig))
    # An order placed over REST is pushed to the orders channel.
    orders_watch = pro.watch_orders(SWAP)
    rest_order: dict[str, Any] = {}

    async def place_rest() -> None:
        rest_order.update(await pro.create_order(SWAP, "limit", "buy", 1, far))

    seen = await while_doing(orders_watch, place_rest)
    assert [(o["id"], o["status"], o["price"]) for o in seen] == [(rest_order["id"], "open", far)]
    # One placed with create_order_ws (ccxt's default op, batch-orders), one with the plain order op.
    ws_order = await asyncio.wait_for(pro.create_order_ws(SWAP, "limit", "buy", 1, resting), 5)
    assert ws_order["id"] and ws_order["clientOrderId"]
    single = await asyncio.wait_for(pro.create_order_ws(SWAP, "limit", "buy", 1, far, {"op": "order"}), 5)
    await until(lambda: {ws_order["id"], single["id"]} <= {o["id"] for o in pro.orders})
    by_id = {o["id"]: o for o in pro.orders}
    assert by_id[ws_order["id"]]["status"] == "open" and by_id[ws_order["id"]]["price"] == resting
    assert rig.emu.account("test-key").venue.account.orders[ws_order["clientOrderId"]].price == Decimal(str(resting))

    # The replay trades through the resting buy: its fill, the position and the balance are pushed.
    def filled() -> bool:
        return any(o["id"] == ws_order["id"] and o["status"] == "closed" for o in pro.orders)

    positions_watch = asyncio.ensure_future(pro.watch_positions())
    balance_watch = asyncio.ensure_future(pro.watch_balance())
    trades_watch = asyncio.ensure_future(pro.watch_my_trades(SWAP))  # ccxt reads them off the orders pushes
    await asyncio.sleep(0.1)
    for _ in range(24):
        rig.clock.advance(300)
        await asyncio.sleep(0.06)
        if filled():
            break
    assert filled(), "the resting order never filled"
    fill = next(o for o in pro.orders if o["id"] == ws_order["id"])
    assert fill["filled"] == 1 and fill["average"] == resting and fill["fee"]["cost"] > 0
    positions = await asyncio.wait_for(positions_watch, 5)
    long = next(p for p in positions if p["side"] == "long" and p["contracts"])
    assert long["symbol"] == SWAP and long["contracts"] == 1 and long["entryPrice"] == resting
    balance = await asyncio.wait_for(balance_watch, 5)
    assert balance["USDT"]["used"] > 0  # the position's margin
    (trade,) = await asyncio.wait_for(trades_watch, 5)
    assert (trade["order"], trade["price"], trade["amount"], trade["takerOrMaker"]) == (ws_order["id"], resting, 1,
                                                                                         "maker")

    # cancel_order_ws: its answer, then the orders channel says canceled (REST agrees).
    cancelled = await while_doing(pro.watch_orders(SWAP),
                                  lambda: pro.cancel_order_ws(single["id"], SWAP))
    assert any(o["id"] == single["id"] and o["status"] == "canceled" for o in cancelled)
    assert (await pro.fetch_order(single["id"], SWAP))["status"] == "canceled"
    # A REST cancel is pushed too.
    gone = await while_doing(pro.watch_orders(SWAP), lambda: pro.cancel_order(rest_order["id"], SWAP))
    assert any(o["id"] == rest_order["id"] and o["status"] == "canceled" for o in gone)


async def test_a_funding_settlement_is_pushed_to_positions_and_balance() -> None:
    async for rig in rig_with_controls():
        pro = okx_pro(rig.url)
        try:
            await pro.create_order(SWAP, "market", "sell", 10)  # short: a positive rate is received
            await asyncio.wait_for(pro.watch_balance(), 5)
            (short,) = [p for p in await asyncio.wait_for(pro.watch_positions(), 5) if p["contracts"]]
            assert short["side"] == "short" and short["info"]["fundingFee"] == "0"
            status, body = await control(rig.url, "/emulator/funding", {"instId": INST_ID, "rate": "0.001"})
            assert status == 200
            settles = datetime.fromtimestamp(int(body["data"][0]["fundingTime"]) / 1000, UTC)
            cash = rig.emu.account(KEY).venue.account.quote_balance
            positions_watch = asyncio.ensure_future(pro.watch_positions())
            balance_watch = asyncio.ensure_future(pro.watch_balance())
            await asyncio.sleep(0.05)
            rig.clock.t = settles + timedelta(minutes=1)  # the replay passes the settlement: nothing else happens
            positions = await asyncio.wait_for(positions_watch, 5)
            paid = Decimal(next(p for p in positions if p["contracts"])["info"]["fundingFee"])
            assert paid > 0
            balance = await asyncio.wait_for(balance_watch, 5)
            assert Decimal(balance["info"]["data"][0]["details"][0]["cashBal"]) == cash + paid
        finally:
            await pro.close()

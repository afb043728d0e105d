"""The emulator's market behaviour through the ccxt venue: funding every 8 hours at the real rate, spot,
slippage, partial fills, margin. Real ccxt over loopback; nothing patched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.marketdata.funding_history import FundingHistory
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL
from hedgeops.exchange.venue import OrderRejected
from hedgeops.model.orders import OrderRequest

from .emulator_fixtures import KEY, Clock, Rig, start, venue

D = Decimal
SOL, ETH, SOL_SPOT, ETH_SPOT = "SOL/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT", "ETH/USDT"


async def _rig(at: datetime) -> AsyncIterator[tuple[Rig, CcxtVenue]]:
    async for r in start(Clock(at)):
        v = venue(r, max_age_s=0)
        try:
            yield r, v
        finally:
            await v.close()


@pytest.fixture
async def rv() -> AsyncIterator[tuple[Rig, CcxtVenue]]:
    async for pair in _rig(datetime(2025, 6, 1, 12, 0, tzinfo=UTC)):
        yield pair


@pytest.mark.parametrize(("at", "source"), [(datetime(2025, 3, 3, 10, 0, tzinfo=UTC), "okx"),
                                            (datetime(2025, 6, 1, 10, 0, tzinfo=UTC), "binance")])
async def test_funding_is_paid_every_8_hours_at_the_real_rate(at: datetime, source: str) -> None:
    async for rig, v in _rig(at):
        rate, when = await v.funding_rate(SOL)
        assert when == at.replace(hour=16)  # the next settlement on the 00/08/16 UTC grid
        real = FundingHistory().next_after(SOL, at)
        assert real is not None and (real.rate, real.source) == (rate, source)
        await v.place(OrderRequest("hofund1", SOL, "sell", D(10), "market"))
        rig.clock.advance(5 * 3600)  # 15:00: no settlement yet
        assert await v.funding_payments(SOL) == []
        rig.clock.advance(2 * 3600)  # 17:00: the 16:00 settlement
        pays = await v.funding_payments(SOL)
        mark = rig.emu.replay.series(SOL).last_closed(when)
        assert mark is not None and len(pays) == 1
        assert pays[0].at == when and abs(pays[0].amount - 10 * mark.close * rate) < D("1e-9")  # a short receives
        rig.clock.advance(16 * 3600)  # two more settlements
        assert len(await v.funding_payments(SOL)) == 3


async def test_spot_buys_and_sells_move_balances(rv: tuple[Rig, CcxtVenue]) -> None:
    _, v = rv
    rules = await v.markets([SOL_SPOT])
    assert rules[SOL_SPOT].amount_step == D("0.000001") and rules[SOL_SPOT].min_amount == D("0.001")
    bought = await v.place(OrderRequest("hospot1", SOL_SPOT, "buy", D("2.5"), "market"))
    assert bought.status == "closed" and bought.filled == D("2.5")
    snap = await v.snapshot([SOL_SPOT])
    assert snap.balances["SOL"] == D("2.5") and SOL_SPOT not in snap.positions
    with pytest.raises(OrderRejected, match="InsufficientFunds"):
        await v.place(OrderRequest("hospot2", SOL_SPOT, "sell", D(3), "market"))
    await v.place(OrderRequest("hospot3", SOL_SPOT, "sell", D("2.5"), "market"))
    assert "SOL" not in (await v.snapshot([SOL_SPOT])).balances


async def test_a_large_taker_walks_the_book(rv: tuple[Rig, CcxtVenue]) -> None:
    _, v = rv
    q = (await v.snapshot([SOL])).quotes[SOL]
    small = await v.place(OrderRequest("hoslip1", SOL, "buy", D(1), "market"))
    assert small.average == q.ask
    big = await v.place(OrderRequest("hoslip2", SOL, "buy", D(500), "market"))  # ~$75k over $20k levels
    assert big.filled == D(500) and big.average is not None and big.average > q.ask
    assert big.average - q.ask <= 4 * BY_SYMBOL[SOL].tick_sz


async def test_partial_fills(rv: tuple[Rig, CcxtVenue]) -> None:
    rig, v = rv
    rig.emu.faults.partial_fills = 1
    taker = await v.place(OrderRequest("hopart1", ETH, "sell", D("0.2"), "market"))
    assert taker.status == "canceled" and taker.filled == D("0.1")  # the rest is cancelled
    q = (await v.snapshot([ETH])).quotes[ETH]
    await v.place(OrderRequest("hopart2", ETH, "buy", D("0.2"), "limit", q.bid, post_only=True))
    rig.emu.faults.partial_fills = 1
    series = rig.emu.replay.series(ETH)
    start_at = rig.clock()
    through = [b for b in series.bars_between(start_at, start_at + timedelta(days=3)) if b.low < q.bid]
    rig.clock.t = through[0].end
    state = await v.order("hopart2", ETH)
    assert state is not None and state.status == "open" and state.filled == D("0.1")
    rig.clock.t = through[1].end
    state = await v.order("hopart2", ETH)
    assert state is not None and state.status == "closed" and state.filled == D("0.2")
    trades = await v.fills(ETH)
    assert [(f.client_order_id, f.qty, f.maker) for f in trades] == [
        ("hopart1", D("0.1"), False), ("hopart2", D("0.1"), True), ("hopart2", D("0.1"), True)]


async def test_margin_is_checked_at_the_leverage_set(rv: tuple[Rig, CcxtVenue]) -> None:
    rig, v = rv
    await v.set_leverage(SOL, 1)
    assert rig.emu.account(KEY).leverage[SOL] == D(1)
    q = (await v.snapshot([SOL])).quotes[SOL]
    too_big = (D(120_000) / q.bid).quantize(D(1))  # 1.2× the 100k equity at 1x
    with pytest.raises(OrderRejected, match="InsufficientFunds"):
        await v.place(OrderRequest("homar1", SOL, "sell", too_big, "market"))
    await v.set_leverage(SOL, 3)
    assert (await v.place(OrderRequest("homar2", SOL, "sell", too_big, "market"))).status == "closed"


async def test_transfers_move_cash_between_wallets(rv: tuple[Rig, CcxtVenue]) -> None:
    rig, v = rv
    rig.emu.account(KEY).funding_wallet["USDT"] = D(1000)
    before = (await v.snapshot([SOL])).balances["USDT"]
    await v.transfer("USDT", D(250), "funding", "trading")
    assert (await v.snapshot([SOL])).balances["USDT"] == before + 250
    assert rig.emu.account(KEY).funding_wallet["USDT"] == D(750)

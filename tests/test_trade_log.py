"""Guards TradeLog (local/trades.py): slippage, turnover, hourly trade marks and funding read off a PaperVenue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.local.trades import TradeLog
from hedgeops.model.orders import OrderRequest, OrderType, Side
from hedgeops.runtime.clock import SimClock

D = Decimal
ETH, SOL = "ETH/USDT:USDT", "SOL/USDT:USDT"
START = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)  # an hour before the 08:00 funding settlement
SETTLEMENT = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


@dataclass
class Session:
    venue: PaperVenue
    log: TradeLog
    clock: SimClock
    tick: Decimal
    buys: list[Decimal]  # the ETH buy fill prices (2.000 then 0.500)
    sell: Decimal  # the ETH sell fill price (0.500)


async def trade() -> Session:
    """ETH: buy 2 at 07:00 and 0.5 at 07:30, sell 0.5 at 08:10 (past the settlement, 2.5 long); SOL: buy 5 at
    07:00 (not the log's symbol). The log polls after every step."""
    clock = SimClock(START)
    venue = PaperVenue(MarketReplay(), clock.now)
    log = TradeLog(venue, frozenset({ETH}))
    tick = venue.account.markets[ETH].price_step

    async def taker(cid: str, symbol: str, side: Side, qty: str) -> Decimal:
        bar = venue.replay.series(symbol).last_closed(clock.now())
        assert bar is not None and bar.close % tick == 0  # on the tick grid: the quote is close ± one tick
        touch = bar.close + (tick if side is Side.BUY else -tick)  # the ask / the bid
        assert (await venue.place(OrderRequest(cid, symbol, side, D(qty), OrderType.MARKET))).average == touch
        log.poll(clock.now())
        return touch

    first = await taker("b1", ETH, Side.BUY, "2.000")
    await taker("x1", SOL, Side.BUY, "5.00")
    clock.advance(1800)
    second = await taker("b2", ETH, Side.BUY, "0.500")
    clock.set(SETTLEMENT + timedelta(minutes=10))
    sell = await taker("s1", ETH, Side.SELL, "0.500")
    return Session(venue, log, clock, tick, [first, second], sell)


async def test_taker_fills_cost_a_tick_each_and_other_symbols_are_ignored() -> None:
    s = await trade()
    assert s.log.fills == 3 and len(s.venue.account.fills) == 4  # the SOL fill is not this object's
    assert s.log.slippage == s.tick * D("3.0")  # +tick x qty for the buys (2 + 0.5) and the sell (0.5)
    assert s.log.turnover == s.buys[0] * 2 + s.buys[1] * D("0.5") + s.sell * D("0.5")
    assert s.log.trade_marks() == [["2025-03-03T07:00:00+00:00", 2, 0], ["2025-03-03T08:00:00+00:00", 0, 1]]
    assert s.log.as_json() == {"fills": 3, "turnoverQuote": round(float(s.log.turnover), 4),
                               "slippageQuote": round(float(s.log.slippage), 4)}
    s.log.poll(s.clock.now())  # nothing new: nothing counted twice
    assert (s.log.fills, s.log.slippage, s.log.slippage_path[-1][1]) == (3, s.tick * 3, float(s.tick * 3))


async def test_funding_bills_on_the_objects_perp_are_summed() -> None:
    s = await trade()
    eth = [b for b in s.venue.account.bills if b.symbol == ETH]
    assert len(eth) == 1 and eth[0].at == SETTLEMENT
    assert any(b.symbol == SOL for b in s.venue.account.bills)  # settled too, but not this object's
    rate = s.venue.funding.between(ETH, START, SETTLEMENT)[0].rate
    mark = s.venue.replay.series(ETH).last_closed(SETTLEMENT)
    assert rate != 0 and mark is not None
    assert s.log.funding == -D("2.5") * mark.close * rate == eth[0].amount  # a long pays a positive rate
    assert s.log.funding_path[0] == (START, 0.0) and s.log.funding_path[-1] == (s.clock.now(), float(s.log.funding))

"""Paper execution on real replayed candles: taker at the far touch, post-only never crosses, resting orders
fill only when a later bar trades through them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderRejected, UnknownSymbol
from hedgeops.model.orders import OrderRequest
from hedgeops.runtime.clock import SimClock

D = Decimal
SOL = "SOL/USDT:USDT"
START = datetime(2025, 1, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START)


@pytest.fixture
def venue(clock: SimClock) -> PaperVenue:
    return PaperVenue(MarketReplay(), clock.now)


def test_replay_serves_the_real_file(venue: PaperVenue) -> None:
    series = venue.replay.series(SOL)
    bar = series.last_closed(START)
    assert bar is not None and bar.end == START  # the bar 23:55-00:00 closed at START
    # The first row of the bundled file is the real Binance SOLUSDT 5m candle of 2024-12-31 00:00.
    first = next(series.bars_between(series.first, series.first + timedelta(minutes=5)))
    assert (first.open, first.high, first.low, first.close) == (D("191.26"), D("191.61"), D("191.02"), D("191.42"))


async def test_taker_fills_at_far_touch_with_fee(venue: PaperVenue) -> None:
    snap = await venue.snapshot([SOL])
    q = snap.quotes[SOL]
    state = await venue.place(OrderRequest("t1", SOL, "buy", D("2.00"), "market"))
    assert state.status == "closed" and state.average == q.ask
    assert state.fee_quote == D("2.00") * q.ask * D("0.0005")
    snap = await venue.snapshot([SOL])
    assert snap.positions[SOL].qty == D("2.00")


async def test_post_only_that_would_cross_is_rejected(venue: PaperVenue) -> None:
    q = (await venue.snapshot([SOL])).quotes[SOL]
    with pytest.raises(OrderRejected, match="would cross"):
        await venue.place(OrderRequest("p1", SOL, "buy", D("1.00"), "limit", q.ask, post_only=True))


async def test_resting_order_fills_only_when_a_later_bar_trades_through(venue: PaperVenue, clock: SimClock) -> None:
    q = (await venue.snapshot([SOL])).quotes[SOL]
    series = venue.replay.series(SOL)
    state = await venue.place(OrderRequest("m1", SOL, "buy", D("1.00"), "limit", q.bid, post_only=True))
    assert state.status == "open"
    # Walk forward bar by bar; it must fill exactly when the first bar with low < bid has closed.
    expected = next(b for b in series.bars_between(START, START + timedelta(days=5)) if b.low < q.bid)
    clock.set(expected.end - timedelta(seconds=1))
    assert (await venue.order("m1", SOL)).status == "open"  # type: ignore[union-attr]
    clock.set(expected.end)
    filled = await venue.order("m1", SOL)
    assert filled is not None and filled.status == "closed" and filled.average == q.bid
    assert filled.fee_quote == q.bid * D("0.0002")


async def test_duplicate_client_id_is_refused_and_amounts_checked(venue: PaperVenue) -> None:
    await venue.place(OrderRequest("d1", SOL, "sell", D("1.00"), "market"))
    with pytest.raises(DuplicateClientOrderId):
        await venue.place(OrderRequest("d1", SOL, "sell", D("1.00"), "market"))
    with pytest.raises(OrderRejected, match="multiple"):
        await venue.place(OrderRequest("d2", SOL, "sell", D("1.005"), "market"))


async def test_cancel_is_idempotent_and_reduce_only_guards(venue: PaperVenue) -> None:
    q = (await venue.snapshot([SOL])).quotes[SOL]
    await venue.place(OrderRequest("c1", SOL, "sell", D("1.00"), "limit", q.ask + 5, post_only=True))
    assert (await venue.cancel("c1", SOL)).status == "canceled"
    assert (await venue.cancel("c1", SOL)).status == "canceled"
    with pytest.raises(OrderRejected, match="reduce"):
        await venue.place(OrderRequest("r1", SOL, "sell", D("1.00"), "market", reduce_only=True))


async def test_unknown_symbol(venue: PaperVenue) -> None:
    with pytest.raises(UnknownSymbol):
        await venue.markets(["DOGE/USDT:USDT"])


async def test_realised_pnl_on_close(venue: PaperVenue, clock: SimClock) -> None:
    await venue.place(OrderRequest("o1", SOL, "sell", D("10.00"), "market"))
    entry = (await venue.snapshot([SOL])).positions[SOL].entry_price
    clock.advance(3600)
    q = (await venue.snapshot([SOL])).quotes[SOL]
    balance = venue.account.quote_balance
    await venue.place(OrderRequest("o2", SOL, "buy", D("10.00"), "market", reduce_only=True))
    assert SOL not in (await venue.snapshot([SOL])).positions
    fee = D("10.00") * q.ask * D("0.0005")
    assert venue.account.quote_balance == balance + (entry - q.ask) * 10 - fee


def test_a_crossing_limit_order_never_trades_beyond_its_price() -> None:
    # A limit buy of 2 at 100.1 against asks of 1 at 100.0, 1 at 100.1, 5 at 100.5: it takes the first two levels
    # only (average 100.05), never the 100.5 one. What its price cannot reach is cancelled (an IOC: the paper account
    # does not rest the remainder of a taker limit as an exchange rests a GTC one).
    from hedgeops.exchange.paper.account import PaperAccount
    from hedgeops.model.book import OrderBook
    from hedgeops.model.market import MarketRules, Quote

    D = Decimal
    rules = MarketRules("X/USDT:USDT", "X", "USDT", D("0.01"), D("0.1"), D("0.01"), linear_swap=True)
    account = PaperAccount({"X/USDT:USDT": rules})
    now = datetime(2025, 1, 1, tzinfo=UTC)
    quote = Quote("X/USDT:USDT", D("99.9"), D("100.0"), D("100.0"), now)
    book = OrderBook(((D("99.9"), D(5)),), ((D("100.0"), D(1)), (D("100.1"), D(1)), (D("100.5"), D(5))))
    buy = account.submit(OrderRequest("b1", "X/USDT:USDT", "buy", D(3), "limit", D("100.1")), quote, now, book=book)
    assert (buy.filled, buy.average) == (D(2), D("100.05"))
    market = account.submit(OrderRequest("m1", "X/USDT:USDT", "buy", D(3), "market"), quote, now, book=book)
    assert market.filled == D(3) and market.average is not None and market.average > D("100.1")  # a market order walks


async def test_a_resting_fill_before_a_settlement_pays_it_even_when_nothing_is_asked_in_between() -> None:
    # A maker buy fills at 06:25; the next call is at 08:30. The 08:00 settlement is on the position it opened,
    # booked after the fill (it was lost when settlements were booked before resting orders were advanced).
    clock = SimClock(datetime(2025, 6, 1, 5, 0, tzinfo=UTC))
    venue = PaperVenue(MarketReplay(), clock.now)
    await venue.snapshot([SOL])
    settlement = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    bars = list(venue.replay.series(SOL).bars_between(clock.now(), settlement))
    price = min(b.low for b in bars) + D("0.05")  # traded through before 08:00, and not at once
    fill = next(b for b in bars if b.low < price)
    assert fill.end < settlement and fill.start > clock.now()
    assert (await venue.place(OrderRequest("m1", SOL, "buy", D(2), "limit", price, post_only=True))).status == "open"
    clock.set(datetime(2025, 6, 1, 8, 30, tzinfo=UTC))
    snap = await venue.snapshot([SOL])
    assert snap.positions[SOL].qty == 2
    assert [(b.symbol, b.at) for b in venue.account.bills] == [(SOL, settlement)]
    assert venue.account.bills[0].amount == -2 * venue.account.bills[0].mark * venue.account.bills[0].rate


def test_closing_orders_hold_no_margin_and_no_order_takes_free_funds_below_zero() -> None:
    # One-way (net) mode, as OKX and Binance margin it: what would close the position holds no margin (reduce-only
    # orders first, then the closing side's orders in fill order), what would open holds its notional at its own
    # price over the leverage; an order that would take the free quote below zero is refused, one that frees margin
    # is taken even when a price move has already taken the free quote below zero.
    from hedgeops.exchange.paper.account import InsufficientFunds, MarginCheck, PaperAccount
    from hedgeops.model.market import MarketRules, Quote

    x = "X/USDT:USDT"
    account = PaperAccount({x: MarketRules(x, "X", "USDT", D("0.01"), D("0.1"), D("0.01"), linear_swap=True)},
                           quote_balance=D(1000))
    now = datetime(2025, 1, 1, tzinfo=UTC)
    check = MarginCheck({x: D(2)}, {x: D(100)})

    def place(cl: str, side: str, amount: str, price: str | None = None, *, reduce: bool = False,
              margin: MarginCheck = check) -> bool:
        req = OrderRequest(cl, x, side, D(amount), "limit" if price else "market", D(price) if price else None,
                           reduce_only=reduce)
        mark = margin.marks[x]
        try:
            account.submit(req, Quote(x, mark - D("0.1"), mark, mark, now), now, margin=margin)
        except InsufficientFunds:
            return False
        finally:
            assert account.free_quote("USDT", margin) >= 0 or margin is not check
        return True

    assert place("long", "buy", "4")  # 4 at 100.0: 200 of margin at 2x
    free = account.free_quote("USDT", check)
    assert free == D(1000) - 4 * D(100) * D("0.0005") - 200
    assert place("ro", "sell", "4", "101", reduce=True)
    assert account.order_margins(check.leverage) == {"ro": 0} and account.free_quote("USDT", check) == free
    assert not place("far", "sell", "4", "1E11")  # the reduce-only sell closes the position: this one would open
    account.cancel("ro")
    assert place("far2", "sell", "4", "1E11")  # alone it closes: no margin
    assert account.free_quote("USDT", check) == free
    assert not place("ro2", "sell", "2", "101", reduce=True)  # it would push half the far sell into opening
    assert not place("near", "sell", "6", "102")  # it fills first: 4 close, and the far sell would open
    assert not place("close", "sell", "4")  # closing at once would leave the far sell opening a short at 1e11
    assert place("bid", "buy", "2", "99")  # an opening buy holds 2 × 99 / 2
    assert account.order_margins(check.leverage) == {"far2": 0, "bid": 99}
    account.cancel("far2")
    assert place("flip", "sell", "10")  # closes 4, opens 6
    assert account.positions({x: D(100)})[x].qty == -6
    account.cancel("bid")
    assert place("b90", "buy", "2", "90") and account.order_margins(check.leverage) == {"b90": 0}
    assert place("b99", "buy", "6", "99")  # fills first, closes all 6: the bid at 90 would now open
    assert account.order_margins(check.leverage) == {"b99": 0, "b90": 90}
    account.cancel("b90")
    account.cancel("b99")
    # A price move takes the free quote below zero: closing still goes through, opening does not.
    assert place("more", "sell", "8.5")
    crashed = MarginCheck({x: D(2)}, {x: D(115)})
    assert account.free_quote("USDT", crashed) < 0 and account.transferable("USDT", crashed) == 0
    assert not place("add", "sell", "0.01", margin=crashed)
    assert not place("add2", "buy", "40", margin=crashed)  # flips: the new long's margin is more than it frees
    assert place("cut", "buy", "5", reduce=True, margin=crashed)
    assert 0 < account.transferable("USDT", crashed) == account.free_quote("USDT", crashed)  # a loss counts in full
    assert account.transferable("USDT", MarginCheck(check.leverage, {x: D(90)})) < account.free_quote(
        "USDT", MarginCheck(check.leverage, {x: D(90)}))  # a profit not at all


async def test_paper_mode_refuses_what_a_venue_would(venue: PaperVenue) -> None:
    """Paper mode (local runs, the operator's Paper books, backtests on the paper venue) checks funds and ticks as
    an exchange does. It used to accept a spot sell of a coin never held, perps at about 94x the account, and a
    price off the tick, and paper results showed trades no venue would take."""
    with pytest.raises(OrderRejected, match="insufficient ETH"):
        await venue.place(OrderRequest("s1", "ETH/USDT", "sell", D("1.0000"), "market"))
    price = (await venue.snapshot([SOL])).quotes[SOL].ask
    too_big = (D(100_000) * 94 / price).quantize(D("0.01"))  # 94x the 100,000 USDT the account starts with
    with pytest.raises(OrderRejected, match="insufficient margin"):
        await venue.place(OrderRequest("p1", SOL, "sell", too_big, "market"))
    with pytest.raises(OrderRejected, match="not a multiple of the tick"):
        await venue.place(OrderRequest("l1", SOL, "buy", D("1.00"), "limit", D("150.005")))
    assert not venue.account.positions({}) and not venue.account.open_orders()
    # Within the account's 3x default leverage a short goes in, and the set leverage is what counts.
    await venue.place(OrderRequest("p2", SOL, "sell", (D(100_000) * 2 / price).quantize(D("0.01")), "market"))
    await venue.set_leverage(SOL, D(1))
    with pytest.raises(OrderRejected, match="insufficient margin"):
        await venue.place(OrderRequest("p3", SOL, "sell", D("10.00"), "market"))


async def test_an_order_is_found_under_its_own_symbol_only(venue: PaperVenue) -> None:
    """As OKX looks an order up by instId and clOrdId: a lookup or cancel naming another symbol finds nothing
    (the paper venue used to ignore the symbol, so a caller passing the wrong one passed every test)."""
    from hedgeops.exchange.venue import OrderNotFound

    await venue.place(OrderRequest("r1", SOL, "buy", D("1.00"), "limit", D("100.00")))
    assert await venue.order("r1", "ETH/USDT:USDT") is None
    with pytest.raises(OrderNotFound):
        await venue.cancel("r1", "ETH/USDT:USDT")
    assert (await venue.order("r1", SOL)) is not None and (await venue.cancel("r1", SOL)).status == "canceled"


async def test_an_account_at_its_maintenance_margin_is_liquidated_at_the_bar_that_took_it_down(
        clock: SimClock) -> None:
    """20 SOL short on 100 USDT at 50x: SOL's real rise on 2025-01-02 takes its equity under 0.4% of the notional
    at the 02:30 close, between two of our calls an hour apart. The position is closed there at that close (a
    taker), resting perp orders are cancelled first, and the account is never left below zero. Before, it ran on
    with the position open and a balance that could go to -988 USDT."""
    venue = PaperVenue(MarketReplay(), clock.now, quote_balance=D(100))
    await venue.set_leverage(SOL, D(50))
    await venue.place(OrderRequest("o1", SOL, "sell", D("20"), "market"))
    await venue.place(OrderRequest("o2", SOL, "sell", D("1"), "limit", D("300"), post_only=True))
    clock.advance(2 * 3600)
    assert (await venue.snapshot([SOL])).positions[SOL].qty == D(-20)  # 197.64 at 02:00: still above it
    clock.advance(3600)
    snap = await venue.snapshot([SOL])
    assert SOL not in snap.positions and not snap.open_orders
    [liquidation] = [f for f in venue.account.fills if f.client_order_id.startswith("liquidation")]
    assert (liquidation.side, liquidation.qty, liquidation.price) == ("buy", D(20), D("198.6"))
    assert liquidation.at == datetime(2025, 1, 2, 2, 30, tzinfo=UTC) and not liquidation.maker
    assert venue.account.orders["o2"].status == "canceled"
    assert D(0) <= venue.account.quote_balance < D(10)


def test_a_gap_past_the_margin_leaves_the_balance_at_zero_not_below() -> None:
    from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
    from hedgeops.exchange.paper.account import PaperAccount
    from hedgeops.model.market import Fees, Quote

    account = PaperAccount(dict(PAPER_MARKETS), Fees(), D(100))
    account.submit(OrderRequest("o1", SOL, "sell", D("20"), "market"), Quote(SOL, D("199.99"), D("200.01"),
                                                                               D(200), START), START)
    assert account.liquidate({SOL: D(204)}, START) == []  # equity 19.8 above its 16.3 maintenance margin
    [closed] = account.liquidate({SOL: D(260)}, START + timedelta(hours=1))  # a gap: 1,200 lost on 98 of equity
    assert closed.status == "closed" and account.quote_balance == 0 and not account.held()


async def test_the_funding_rate_shown_is_the_last_settled_never_the_coming_one(clock: SimClock) -> None:
    """A backtest's carry decides on what it could have seen: the rate settled last, not the one the coming
    settlement will charge (that returned the future, up to 8 hours early)."""
    venue = PaperVenue(MarketReplay(), clock.now)
    clock.advance(3 * 3600)  # 03:00, between the 00:00 and 08:00 settlements
    rate, at = await venue.funding_rate(SOL)
    [settled] = venue.funding.last_before(SOL, clock.now(), 1)
    coming = venue.funding.next_after(SOL, clock.now())
    assert coming is not None and settled.at <= clock.now() < coming.at
    assert (rate, at) == (settled.rate, coming.at) and rate != coming.rate

"""The paper venue: replayed real prices on a clock, simulated private state (PaperAccount)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from hedgeops.exchange.marketdata.funding_history import FundingHistory
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.marketdata.replay_candles import closed_candles
from hedgeops.exchange.paper.account import MarginCheck, PaperAccount, is_option, is_spot
from hedgeops.exchange.paper.synthetic_book import synthetic_book
from hedgeops.exchange.venue import FinalVenueError, OrderNotFound, RetryableVenueError, UnknownSymbol
from hedgeops.model.book import OrderBook
from hedgeops.model.candles import Candle, TimeframeError
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import AccountSnapshot, CarryCandidate, Fill, FundingPayment, OrderRequest, OrderState


class PaperVenue:
    """A Venue whose prices are replayed candles. The quote is the last closed bar's close ± one tick;
    taker orders fill there, post-only orders fill when a later bar trades through them."""

    def __init__(self, replay: MarketReplay, clock: Callable[[], datetime], fees: Fees | None = None,
                 markets: Mapping[str, MarketRules] | None = None, quote_balance: Decimal = Decimal(100_000), *,
                 depth: Callable[[Quote], OrderBook] | None = None,
                 margin: Callable[[], MarginCheck] | None = None, open_quotes: bool = False) -> None:
        self.replay = replay
        self.clock = clock
        self.account = PaperAccount(dict(markets or PAPER_MARKETS), fees or Fees(), quote_balance)
        self.depth = depth  # takers walk this book when given (the emulator's); else they fill at the touch
        # Funds are checked on every order, as a venue checks them: with the emulator's marks and leverage when
        # given, else with this venue's leverage (set_leverage) and its replayed prices. Paper mode used to skip
        # the check: spot sells of coins never held and perps at about 94x notional were accepted, and paper runs
        # and backtests showed trades a venue would refuse.
        self.margin = margin
        # The emulator quotes from the first instant: before a symbol's first bar closes (or after a gap in the
        # data) the open of the bar under way is the latest price known. Local mode and backtests keep the last
        # close only (their figures do not move).
        self.open_quotes = open_quotes
        self.requests = 0  # calls made, for "requests per cycle" figures
        self.leverage: dict[str, Decimal] = {}  # by perp symbol, as set_leverage left it
        self.funding = FundingHistory(replay.directory)
        self.funded_until: datetime | None = None  # settlements up to here are booked
        self.next_settlement: datetime | None = None  # the first settlement after funded_until (None: look)
        self.margin_checked_until: datetime | None = None  # the maintenance margin is checked up to here

    @property
    def fees(self) -> Fees:
        return self.account.fees

    def _rules(self, symbol: str) -> MarketRules:
        rules = self.account.markets.get(symbol)
        if rules is None and is_option(symbol):
            raise UnknownSymbol(f"{symbol}: the paper venue lists no options: it has no venue greeks to report, and "
                                "an option's delta is never guessed (run the book against an exchange, or the "
                                "emulator, that reports them)")
        if rules is None:
            raise UnknownSymbol(f"{symbol} is not listed (paper markets: {', '.join(sorted(self.account.markets))})")
        self.replay.series(symbol)  # raises UnknownSymbol when there is no data to replay
        return rules

    def _quote(self, symbol: str, now: datetime) -> Quote:
        rules = self._rules(symbol)
        series = self.replay.series(symbol)
        bar = series.last_closed(now)
        price, at = (bar.close, bar.end) if bar is not None else (None, None)
        if self.open_quotes:
            current = series.current(now)
            if current is not None and (bar is None or current.start > bar.end):
                price, at = current.open, current.start  # known since the bar opened: no look at its close
        if price is None or at is None:
            raise RetryableVenueError(f"no {symbol} price before {now.isoformat()}")
        tick = rules.price_step
        last = (price / tick).to_integral_value(ROUND_HALF_EVEN) * tick
        return Quote(symbol, last - tick, last + tick, last, at)

    def data_interval_s(self, symbol: str) -> float:
        """A quote here is the last closed bar's: up to one bar old by design (runtime/freshness.py), and a bar is
        an hour long where a backtest replays hourly mark prices."""
        return float(self.replay.series(symbol).step_at(self.clock()))

    def quote(self, symbol: str) -> Quote:
        """The current quote (no request counted: the emulator serves it to everyone)."""
        return self._quote(symbol, self.clock())

    def _advance(self, symbols: Sequence[str], now: datetime) -> None:
        for symbol in symbols:
            since = self.account.resting_since(symbol)
            if since is not None:
                self.account.on_bars(symbol, list(self.replay.series(symbol).bars_between(since, now)))

    def settle_funding(self) -> None:
        """What time did to the account since the last call, before anything is read or sent: funding settled
        (`_settle`), then the margin checked at each bar close in between (`_liquidations`)."""
        self._settle()
        self._liquidations(self.clock())

    def _liquidations(self, now: datetime) -> None:
        """Liquidate the account (PaperAccount.liquidate) at the first bar close since the last check where its
        equity is at or below its maintenance margin, at that bar's closes: a drop and recovery between two of
        our calls liquidates as it would on the venue, which does not wait to be asked."""
        since, self.margin_checked_until = self.margin_checked_until, now
        held = [s for s in self.account.held() if not is_spot(s) and not is_option(s)]
        if since is None or not held or now <= since:
            return
        marks: dict[str, Decimal] = {}
        closes: dict[datetime, dict[str, Decimal]] = {}
        for symbol in held:
            series = self.replay.series(symbol)
            before = series.last_closed(since)
            if before is not None:
                marks[symbol] = before.close
            for bar in series.bars_between(since - timedelta(seconds=series.step_at(since)), now):
                if since < bar.end <= now:
                    closes.setdefault(bar.end, {})[symbol] = bar.close
        for at in sorted(closes):
            marks.update(closes[at])
            if self.account.liquidate(marks, at):
                return

    def _settle(self) -> None:
        """Book every 8-hourly settlement the clock has passed since the last call, at the real rate (OKX's own
        where the bundled file has it, Binance's otherwise) on the position held at that moment, at the replayed
        mark. Lazy but exact: every call settles first, and resting orders a bar filled before a settlement are
        booked before it (a maker's fill at 06:25 pays the 08:00 funding even when the next call is at 08:30)."""
        now = self.clock()
        if self.funded_until is None or now <= self.funded_until:
            self.funded_until = self.funded_until or now
            return
        if self.next_settlement is not None and now < self.next_settlement:
            self.funded_until = now  # nothing settled in between (every call comes through here: a backtest's hot path)
            return
        resting = sorted({o.symbol for o in self.account.open_orders()})
        # Only a position held, or one a resting order may open or close, pays or earns (no other market is read).
        settling = [s for s in sorted(set(self.account.held()) | set(resting))
                    if not is_spot(s) and self.funding.has(s)]
        due = sorted((s.at, symbol, s.rate) for symbol in settling
                     for s in self.funding.between(symbol, self.funded_until, now))
        for at, symbol, rate in due:
            if resting:
                self._advance(resting, at)  # fills up to the settlement first: positions in time order
            bar = self.replay.series(symbol).last_closed(at)
            if bar is not None:
                self.account.settle_funding(symbol, rate, bar.close, at)
        self.funded_until = now
        upcoming = [s.at for s in (self.funding.next_after(m, now) for m in self.account.markets
                                   if not is_spot(m) and self.funding.has(m)) if s is not None]
        self.next_settlement = min(upcoming, default=None)

    async def markets(self, symbols: Sequence[str]) -> Mapping[str, MarketRules]:
        self.requests += 1
        return {s: self._rules(s) for s in symbols}

    async def snapshot(self, symbols: Sequence[str]) -> AccountSnapshot:
        self.requests += 1
        self.settle_funding()
        now = self.clock()
        symbols = sorted(set(symbols) | {o.symbol for o in self.account.open_orders()})
        self._advance(symbols, now)
        quotes = {s: self._quote(s, now) for s in symbols}
        return AccountSnapshot(
            at=now,
            quotes=quotes,
            positions=self.account.positions({s: q.last for s, q in quotes.items()}),
            balances=self.account.balances(),
            open_orders=tuple(self.account.open_orders()),
        )

    async def place(self, order: OrderRequest) -> OrderState:
        self.requests += 1
        self.settle_funding()
        now = self.clock()
        self._advance([order.symbol], now)
        quote = self._quote(order.symbol, now)
        return self.account.submit(order, quote, now, book=None if self.depth is None else self.depth(quote),
                                   margin=self.margin() if self.margin is not None else self._margin(now))

    def _margin(self, now: datetime) -> MarginCheck:
        """This venue's leverage and the replayed price of every perp it holds or has resting orders on."""
        held = {s for s, p in self.account.positions({}).items() if p.qty != 0}
        symbols = {s for s in held | {o.symbol for o in self.account.open_orders()} if not is_spot(s)}
        return MarginCheck(dict(self.leverage), {s: self._quote(s, now).last for s in sorted(symbols)})

    async def cancel(self, client_order_id: str, symbol: str) -> OrderState:
        self.requests += 1
        self.settle_funding()  # time's doings first (funding, a liquidation), as on every call that trades or reads
        self._advance([symbol], self.clock())
        if self._of(client_order_id, symbol) is None:  # as a venue looks it up: by instrument and client id
            raise OrderNotFound(f"{client_order_id} on {symbol}")
        return self.account.cancel(client_order_id)

    async def order(self, client_order_id: str, symbol: str) -> OrderState | None:
        self.requests += 1
        self.settle_funding()  # before fills are advanced: the margin is checked on the positions of its time
        self._advance([symbol], self.clock())
        return self._of(client_order_id, symbol)

    def _of(self, client_order_id: str, symbol: str) -> OrderState | None:
        """The order under this client id on this symbol: an exchange finds none under another instrument (OKX
        looks orders up by instId and clOrdId), so a lookup naming the wrong symbol must not succeed here."""
        state = self.account.orders.get(client_order_id)
        return state if state is not None and state.symbol == symbol else None

    # ---- what cash and carry needs besides orders -----------------------------------------------------------

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """The book takers walk when one is given (the emulator's); otherwise the synthetic book around the
        replayed price (its prices are real, its sizes made up)."""
        self.requests += 1
        quote = self._quote(symbol, self.clock())
        return self.depth(quote) if self.depth is not None else synthetic_book(quote, self._rules(symbol), depth)

    async def carry_universe(self, quote: str) -> list[CarryCandidate]:
        """The listed perps with a spot market on the same base and replay data for both, with the real 24 h
        volume the data holds (the thinner market's)."""
        self.requests += 1
        now, out = self.clock(), []
        markets = self.account.markets
        for perp, rules in sorted(markets.items()):
            spot = f"{rules.base}/{quote}"
            if is_spot(perp) or not perp.endswith(f"/{quote}:{quote}") or spot not in markets:
                continue
            try:
                series = [self.replay.series(s) for s in (spot, perp)]
            except UnknownSymbol:
                continue
            known = all(s.has_volume(now) for s in series)  # a mark-priced period traded no recorded volume
            out.append(CarryCandidate(spot, perp, min(s.volume_24h(now)[1] for s in series) if known else None))
        return out

    async def funding_rate(self, symbol: str) -> tuple[Decimal, datetime]:
        """The current rate and the time of the coming settlement. The rate is the last one settled: what the
        history knows at the clock's time. The coming settlement's own rate (what this returned before) is the
        future: every carry entry and exit in local mode and in backtests was decided on a rate up to 8 hours
        before anyone could see it. A venue's live estimate converges to it during the period; the last settled
        rate is the forecast a backtest can make without looking ahead."""
        self.requests += 1
        self._rules(symbol)
        now = self.clock()
        nxt = self.funding.next_after(symbol, now)
        last = self.funding.last_before(symbol, now, 1)
        if nxt is None or not last:
            raise RetryableVenueError(f"no {symbol} funding rate known at {now.isoformat()}")
        return last[0].rate, nxt.at

    async def funding_payments(self, symbol: str, since: datetime | None = None) -> list[FundingPayment]:
        self.requests += 1
        self.settle_funding()
        quote = self._rules(symbol).quote
        return [FundingPayment(b.symbol, b.at, b.amount, quote, str(b.bill_id)) for b in self.account.bills
                if b.symbol == symbol and (since is None or b.at > since)]

    async def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        self.requests += 1
        return [f for f in self.account.fills if f.symbol == symbol and (since is None or f.at > since)]

    async def set_leverage(self, symbol: str, leverage: Decimal, margin_mode: str = "cross") -> None:
        self.requests += 1
        self._rules(symbol)
        self.leverage[symbol] = Decimal(leverage)

    async def candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        """The replayed candles of `timeframe` closed by the clock's time (the bar under way never among them)."""
        self.requests += 1
        self._rules(symbol)
        try:
            return closed_candles(self.replay.series(symbol), timeframe, limit, self.clock())
        except TimeframeError as exc:
            raise FinalVenueError(str(exc)) from exc

    async def close(self) -> None:
        return None

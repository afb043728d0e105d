"""The paper venue: replayed real prices on a clock, simulated private state (PaperAccount)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from hedgeops.engine.book import OrderBook
from hedgeops.engine.market import Fees, MarketRules, Quote
from hedgeops.exchange.instruments import PAPER_MARKETS
from hedgeops.exchange.paper_account import MarginCheck, PaperAccount
from hedgeops.exchange.replay import MarketReplay
from hedgeops.exchange.venue import (
    AccountSnapshot,
    OrderRequest,
    OrderState,
    RetryableVenueError,
    UnknownSymbol,
)


class PaperVenue:
    """A Venue whose prices are replayed candles. The quote is the last closed bar's close ± one tick;
    taker orders fill there, post-only orders fill when a later bar trades through them."""

    def __init__(self, replay: MarketReplay, clock: Callable[[], datetime], fees: Fees | None = None,
                 markets: Mapping[str, MarketRules] | None = None, quote_balance: Decimal = Decimal(100_000), *,
                 depth: Callable[[Quote], OrderBook] | None = None,
                 margin: Callable[[], MarginCheck] | None = None) -> None:
        self.replay = replay
        self.clock = clock
        self.account = PaperAccount(dict(markets or PAPER_MARKETS), fees or Fees(), quote_balance)
        self.depth = depth  # takers walk this book when given (the emulator's); else they fill at the touch
        self.margin = margin  # funds are checked when given (the emulator); local mode trusts the policy
        self.requests = 0  # calls made, for "requests per cycle" figures

    @property
    def fees(self) -> Fees:
        return self.account.fees

    def _rules(self, symbol: str) -> MarketRules:
        rules = self.account.markets.get(symbol)
        if rules is None:
            raise UnknownSymbol(f"{symbol} is not listed (paper markets: {', '.join(sorted(self.account.markets))})")
        self.replay.series(symbol)  # raises UnknownSymbol when there is no data to replay
        return rules

    def _quote(self, symbol: str, now: datetime) -> Quote:
        rules = self._rules(symbol)
        bar = self.replay.series(symbol).last_closed(now)
        if bar is None:
            raise RetryableVenueError(f"no {symbol} price before {now.isoformat()}")
        tick = rules.price_step
        last = (bar.close / tick).to_integral_value() * tick
        return Quote(symbol, last - tick, last + tick, last, bar.end)

    def quote(self, symbol: str) -> Quote:
        """The current quote (no request counted: the emulator serves it to everyone)."""
        return self._quote(symbol, self.clock())

    def _advance(self, symbols: Sequence[str], now: datetime) -> None:
        for symbol in symbols:
            since = self.account.resting_since(symbol)
            if since is not None:
                self.account.on_bars(symbol, list(self.replay.series(symbol).bars_between(since, now)))

    async def markets(self, symbols: Sequence[str]) -> Mapping[str, MarketRules]:
        self.requests += 1
        return {s: self._rules(s) for s in symbols}

    async def snapshot(self, symbols: Sequence[str]) -> AccountSnapshot:
        self.requests += 1
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
        now = self.clock()
        self._advance([order.symbol], now)
        quote = self._quote(order.symbol, now)
        return self.account.submit(order, quote, now, book=None if self.depth is None else self.depth(quote),
                                   margin=None if self.margin is None else self.margin())

    async def cancel(self, client_order_id: str, symbol: str) -> OrderState:
        self.requests += 1
        self._advance([symbol], self.clock())
        return self.account.cancel(client_order_id)

    async def order(self, client_order_id: str, symbol: str) -> OrderState | None:
        self.requests += 1
        self._advance([symbol], self.clock())
        return self.account.orders.get(client_order_id)

    async def close(self) -> None:
        return None

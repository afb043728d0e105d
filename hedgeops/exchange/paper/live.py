"""Paper trading on a real exchange's prices: public market data through ccxt (no credentials), private state
simulated by the same matching code as the emulator. Takers walk the live book; a resting order fills when a
later observed trade price goes through it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.marketdata.replay import Bar
from hedgeops.exchange.paper.account import PaperAccount
from hedgeops.model.book import OrderBook
from hedgeops.model.candles import Candle
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import AccountSnapshot, CarryCandidate, Fill, FundingPayment, OrderRequest, OrderState


class LivePaperVenue:
    """A Venue whose prices and books are live (read through `public`), whose account is simulated."""

    def __init__(self, public: CcxtVenue, fees: Fees | None = None, quote_balance: Decimal = Decimal(100_000)) -> None:
        self.public = public
        self.account = PaperAccount({}, fees or Fees(), quote_balance)
        self._last: dict[str, Quote] = {}
        self._coming: dict[str, tuple[Decimal, datetime]] = {}  # perp → (rate, settlement time) last announced
        self.leverage: dict[str, Decimal] = {}

    @property
    def fees(self) -> Fees:
        return self.account.fees

    async def markets(self, symbols: Sequence[str]) -> Mapping[str, MarketRules]:
        rules = await self.public.markets(symbols)
        self.account.markets = {**self.account.markets, **rules}
        return rules

    async def _observe(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Fresh quotes; each one a trade print resting orders are matched against (only prices seen)."""
        await self.markets(symbols)
        quotes = await self.public.quotes(symbols)
        for s, q in quotes.items():
            prev = self._last.get(s)
            if prev is not None and q.at > prev.at:
                self.account.on_bars(s, [Bar(q.at, q.at, q.last, q.last, q.last, q.last)])
            self._last[s] = q
            coming = self._coming.get(s)
            if coming is not None and q.at >= coming[1]:  # a settlement passed: book it at the announced rate
                self.account.settle_funding(s, coming[0], q.last, coming[1])
                del self._coming[s]
        return quotes

    async def snapshot(self, symbols: Sequence[str]) -> AccountSnapshot:
        wanted = sorted(set(symbols) | {o.symbol for o in self.account.open_orders()})
        quotes = await self._observe(wanted)
        return AccountSnapshot(at=max(q.at for q in quotes.values()), quotes=quotes,
                               positions=self.account.positions({s: q.last for s, q in quotes.items()}),
                               balances=self.account.balances(), open_orders=tuple(self.account.open_orders()))

    async def place(self, order: OrderRequest) -> OrderState:
        quote = (await self._observe([order.symbol]))[order.symbol]
        book = await self.public.order_book(order.symbol) if not order.post_only else None
        return self.account.submit(order, quote, quote.at, book=book)

    async def cancel(self, client_order_id: str, symbol: str) -> OrderState:
        await self._observe([symbol])
        return self.account.cancel(client_order_id)

    async def order(self, client_order_id: str, symbol: str) -> OrderState | None:
        await self._observe([symbol])
        return self.account.orders.get(client_order_id)

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        return await self.public.order_book(symbol, depth)

    async def carry_universe(self, quote: str) -> list[CarryCandidate]:
        return await self.public.carry_universe(quote)

    async def funding_rate(self, symbol: str) -> tuple[Decimal, datetime]:
        """The live rate; the settlement it announces is booked on the simulated position once a later
        observation shows its time has passed."""
        rate, at = await self.public.funding_rate(symbol)
        self._coming[symbol] = (rate, at)
        return rate, at

    async def funding_payments(self, symbol: str, since: datetime | None = None) -> list[FundingPayment]:
        quote = self.account.markets[symbol].quote if symbol in self.account.markets else "USDT"
        return [FundingPayment(b.symbol, b.at, b.amount, quote, str(b.bill_id)) for b in self.account.bills
                if b.symbol == symbol and (since is None or b.at > since)]

    async def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        return [f for f in self.account.fills if f.symbol == symbol and (since is None or f.at > since)]

    async def set_leverage(self, symbol: str, leverage: Decimal, margin_mode: str = "cross") -> None:
        self.leverage[symbol] = Decimal(leverage)

    async def candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        return await self.public.candles(symbol, timeframe, limit)  # public data: the live exchange's own

    async def close(self) -> None:
        await self.public.close()

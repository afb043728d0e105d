"""The exchange emulator's state: one paper account per API key on replayed real prices (the same matching
code as the paper venue), funding wallets, leverage, synthetic books around the real price, and faults
that tests switch on. The HTTP dialect lives in emulator_http."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hedgeops.engine.book import OrderBook
from hedgeops.engine.market import Fees, Quote
from hedgeops.exchange.funding_history import FundingHistory
from hedgeops.exchange.instruments import PAPER_MARKETS
from hedgeops.exchange.okx_instruments import OKX_SWAPS, OkxInstrument
from hedgeops.exchange.paper import PaperVenue
from hedgeops.exchange.paper_account import MarginCheck
from hedgeops.exchange.replay import MarketReplay
from hedgeops.exchange.synthetic_book import BOOK_LEVELS, synthetic_book

ZERO = Decimal(0)
HALF = Decimal("0.5")


@dataclass(frozen=True)
class Credentials:
    """One API key's secret and passphrase."""

    secret: str
    passphrase: str


@dataclass
class Faults:
    """What the next requests should suffer. Counters count down one per request affected."""

    rate_limited: int = 0  # 429 with OKX code 50011
    maintenance: int = 0  # 503 with a text body, as a load balancer answers
    timeouts: int = 0  # requests answered only after `timeout_seconds` (the order still goes in)
    timeout_seconds: float = 30.0
    rejects: int = 0  # new orders refused with 51008 (insufficient margin)
    show_delay_seconds: float = 0.0  # an accepted order is not visible to queries for this long (wall time)
    stall_after_orders: int | None = None  # orders after the first N go in but are answered after timeout_seconds
    partial_fills: int = 0  # the next fills execute only half (a taker's rest is cancelled, a maker's rests on)


@dataclass
class Account:
    """An API key's private state."""

    venue: PaperVenue
    funding_wallet: dict[str, Decimal] = field(default_factory=dict)
    leverage: dict[str, Decimal] = field(default_factory=dict)  # by ccxt symbol
    ord_ids: dict[str, str] = field(default_factory=dict)  # clOrdId -> ordId
    by_ord_id: dict[str, str] = field(default_factory=dict)  # ordId -> clOrdId
    created_ms: dict[str, int] = field(default_factory=dict)  # clOrdId -> creation (wall ms) for show delay
    transfers: int = 0


class Emulator:
    """Accounts by API key over one replay and one clock."""

    def __init__(self, replay: MarketReplay, clock: Callable[[], datetime], keys: dict[str, Credentials], *,
                 trading_usdt: Decimal = Decimal(100_000), funding_usdt: Decimal = ZERO,
                 fees: Fees | None = None) -> None:
        self.replay = replay
        self.clock = clock
        self.keys = keys
        self.fees = fees or Fees()
        self.faults = Faults()
        self.funding = FundingHistory(replay.directory)
        self._trading_usdt = trading_usdt
        self._funding_usdt = funding_usdt
        self._accounts: dict[str, Account] = {}
        self._next_ord = 1

    def account(self, api_key: str) -> Account:
        """State is per API key, created on first use with the configured starting balances."""
        acct = self._accounts.get(api_key)
        if acct is None:
            leverage: dict[str, Decimal] = {}
            venue = PaperVenue(self.replay, self.clock, self.fees, PAPER_MARKETS, self._trading_usdt,
                               depth=self._depth, margin=lambda: MarginCheck(leverage, self._marks()))
            venue.account.fill_ratio = self._fill_ratio
            venue.funded_until = self.clock()
            acct = Account(venue, funding_wallet={"USDT": self._funding_usdt}, leverage=leverage)
            self._accounts[api_key] = acct
        return acct

    def orders_placed(self) -> int:
        """Orders accepted so far, over every key."""
        return sum(len(a.ord_ids) for a in self._accounts.values())

    def _fill_ratio(self) -> Decimal:
        if self.faults.partial_fills > 0:
            self.faults.partial_fills -= 1
            return HALF
        return Decimal(1)

    def _marks(self) -> dict[str, Decimal]:
        return {i.symbol: self.quote(i).last for i in OKX_SWAPS.values()}

    def _depth(self, quote: Quote) -> OrderBook:
        return synthetic_book(quote, PAPER_MARKETS[quote.symbol])

    def settle_funding(self, acct: Account) -> None:
        """Every 8-hour settlement the replay clock has passed since the account's last request."""
        acct.venue.settle_funding()

    def next_ord_id(self) -> str:
        self._next_ord += 1
        return str(700_000_000_000 + self._next_ord)

    def quote(self, inst: OkxInstrument) -> Quote:
        """Top of book: the replayed close ± one tick (the paper venue's own quote)."""
        return self.account("__public__").venue.quote(inst.symbol)

    def volume_24h(self, inst: OkxInstrument) -> tuple[Decimal, Decimal]:
        """The replayed market's real 24 h volume: base units and quote."""
        venue = self.account("__public__").venue
        return venue.replay.series(inst.symbol).volume_24h(venue.clock())

    def book(self, inst: OkxInstrument, depth: int = BOOK_LEVELS) -> tuple[list[tuple[Decimal, Decimal]],
                                                                          list[tuple[Decimal, Decimal]]]:
        """The synthetic book around the real price, in contracts (spot: base units)."""
        b = synthetic_book(self.quote(inst), inst.rules(), depth)
        return ([(p, inst.to_contracts(q)) for p, q in b.bids], [(p, inst.to_contracts(q)) for p, q in b.asks])

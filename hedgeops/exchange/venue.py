"""The Venue protocol: what the runtime may ask of an exchange account, in domain types only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from hedgeops.engine.book import OrderBook
from hedgeops.engine.market import Fees, MarketRules, Quote


class VenueError(Exception):
    """Base of everything a venue raises."""


class RetryableVenueError(VenueError):
    """Network, timeout, 5xx, rate limit: the same call may succeed later."""


class FinalVenueError(VenueError):
    """Insufficient funds, invalid order, bad symbol, authentication: retrying will not help."""


class VenueAuthError(FinalVenueError):
    """The venue refused the credentials (bad key, signature, passphrase or permissions)."""


class UnknownSymbol(FinalVenueError):
    """The venue does not list this symbol."""


class OrderRejected(FinalVenueError):
    """The venue refused the order (post-only would cross, below minimum, ...)."""


class DuplicateClientOrderId(FinalVenueError):
    """An order with this client order id already exists: look it up instead of resubmitting."""


class OrderNotFound(FinalVenueError):
    """No order with this id."""


@dataclass(frozen=True)
class Position:
    """A signed perp position in base units."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True)
class OrderRequest:
    """An order to place. `price` None with type market."""

    client_order_id: str
    symbol: str
    side: str
    amount: Decimal
    type: str  # "limit" | "market"
    price: Decimal | None = None
    post_only: bool = False
    reduce_only: bool = False


@dataclass(frozen=True)
class OrderState:
    """An order as the venue reports it."""

    client_order_id: str
    symbol: str
    side: str
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    average: Decimal | None
    status: str  # "open" | "closed" | "canceled" | "rejected"
    fee_quote: Decimal
    type: str
    post_only: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def done(self) -> bool:
        return self.status in ("closed", "canceled", "rejected")


@dataclass(frozen=True)
class Fill:
    """One execution against an order, in base units; the fee in quote."""

    trade_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee_quote: Decimal
    maker: bool
    at: datetime


@dataclass(frozen=True)
class FundingPayment:
    """One funding settlement on a perp position: received when positive, paid when negative."""

    symbol: str
    at: datetime
    amount: Decimal
    currency: str
    id: str


@dataclass(frozen=True)
class AccountSnapshot:
    """One batched observation of an account: quotes, positions, balances, open orders."""

    at: datetime
    quotes: Mapping[str, Quote]
    positions: Mapping[str, Position]
    balances: Mapping[str, Decimal]
    open_orders: Sequence[OrderState]


class Venue(Protocol):
    """An exchange account. Amounts are in base units; venues convert to contracts themselves."""

    @property
    def fees(self) -> Fees: ...

    async def markets(self, symbols: Sequence[str]) -> Mapping[str, MarketRules]: ...

    async def snapshot(self, symbols: Sequence[str]) -> AccountSnapshot: ...

    async def place(self, order: OrderRequest) -> OrderState: ...

    async def cancel(self, client_order_id: str, symbol: str) -> OrderState: ...

    async def order(self, client_order_id: str, symbol: str) -> OrderState | None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class CarryCandidate:
    """A spot market and the linear perpetual on the same base: a pair cash and carry could trade."""

    spot: str
    perp: str
    volume_quote: Decimal  # the 24 h volume of the thinner of the two markets, in the quote currency


class CarryVenue(Venue, Protocol):
    """A venue that can carry: books for the liquidity guard, funding rates and payments, leverage."""

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    async def funding_rate(self, symbol: str) -> tuple[Decimal, datetime]: ...

    async def funding_payments(self, symbol: str, since: datetime | None = None) -> list[FundingPayment]: ...

    async def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]: ...

    async def set_leverage(self, symbol: str, leverage: Decimal, margin_mode: str = "cross") -> None: ...

    async def carry_universe(self, quote: str) -> list[CarryCandidate]: ...

"""The Venue protocol: what the runtime may ask of an exchange account, in domain types only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from hedgeops.model.book import OrderBook
from hedgeops.model.candles import Candle
from hedgeops.model.market import Fees, MarketRules
from hedgeops.model.orders import AccountSnapshot, CarryCandidate, Fill, FundingPayment, OrderRequest, OrderState


class VenueError(Exception):
    """Base of everything a venue raises."""


class RetryableVenueError(VenueError):
    """Network, timeout, 5xx, rate limit: the same call may succeed later. `refused`: the venue answered that it
    did not act on the request (a rate limit, a stale timestamp), so nothing of it can still execute."""

    refused: bool = False


class StreamUntrusted(RetryableVenueError):
    """The stream had a gap and is not yet reconciled; nothing may be decided or sent on it."""


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


class CarryVenue(Venue, Protocol):
    """A venue that can carry: books for the liquidity guard, funding rates and payments, leverage."""

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    async def funding_rate(self, symbol: str) -> tuple[Decimal, datetime]: ...

    async def funding_payments(self, symbol: str, since: datetime | None = None) -> list[FundingPayment]: ...

    async def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]: ...

    async def set_leverage(self, symbol: str, leverage: Decimal, margin_mode: str = "cross") -> None: ...

    async def carry_universe(self, quote: str) -> list[CarryCandidate]: ...

    async def candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        """The last `limit` (at most MAX_CANDLES) closed candles of `timeframe` ("5m", "1h", "4h", "1d"), oldest
        first; fewer where the market's history is shorter. The bar under way is never among them: indicators
        read only what is settled."""
        ...

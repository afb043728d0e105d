"""What an exchange account holds and reports, in domain types: positions, orders, fills, funding, one batched
snapshot. The bottom of the house: the engine, the venues and the runtime all speak these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hedgeops.model.market import Quote
from hedgeops.model.vocabulary import DONE, Liquidity, OrderStatus, OrderType, Side, parse_enum

__all__ = ["DONE", "AccountSnapshot", "CarryCandidate", "Fill", "FundingPayment", "Liquidity", "OrderRequest",
           "OrderState", "OrderStatus", "OrderType", "Position", "Side", "parse_enum"]

@dataclass(frozen=True)
class Position:
    """A signed derivative position in base units."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    # Options: the whole position's delta in units of the underlying as the venue reports it (OKX's deltaBS); None
    # where the venue reports none (and for every other instrument, whose delta is its quantity).
    delta: Decimal | None = None


@dataclass(frozen=True)
class OrderRequest:
    """An order to place. `price` None with type market."""

    client_order_id: str
    symbol: str
    side: Side
    amount: Decimal
    type: OrderType
    price: Decimal | None = None
    post_only: bool = False
    reduce_only: bool = False


@dataclass(frozen=True)
class OrderState:
    """An order as the venue reports it."""

    client_order_id: str
    symbol: str
    side: Side
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    average: Decimal | None
    status: OrderStatus
    fee_quote: Decimal
    type: OrderType
    post_only: bool = False
    # The order's last fill as the exchange stamps it (OKX: fillTime, tradeId), where it says: what the account's
    # rows must cover before the fill is decided on (exchange/stream/settling.py). Not part of the state's identity.
    last_fill_ms: int | None = field(default=None, compare=False)
    last_trade_id: str | None = field(default=None, compare=False)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def done(self) -> bool:
        return self.status in DONE


@dataclass(frozen=True)
class Fill:
    """One execution against an order, in base units; the fee in quote."""

    trade_id: str
    client_order_id: str
    symbol: str
    side: Side
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


@dataclass(frozen=True)
class CarryCandidate:
    """A spot market and the linear perpetual on the same base: a pair cash and carry could trade."""

    spot: str
    perp: str
    # The 24 h volume of the thinner of the two markets, in the quote currency; None where the venue has no figure
    # (a backtest's mark-priced years: no traded volume was recorded with them).
    volume_quote: Decimal | None

"""The order vocabulary as enums: side, status, order type, liquidity. StrEnums, so each member equals its text
and is written as it (JSON, the journal, status), while the code names a member instead of spelling a string.
Re-exported by model/orders.py; apart so that model/market.py and model/book.py can take a `Side` too."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


class Side(StrEnum):
    """An order's direction. A StrEnum: equal to its text and written as it (JSON, journal, status)."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self == Side.BUY else Side.BUY

    def signed(self, qty: Decimal) -> Decimal:
        """`qty` as a change of position: positive bought, negative sold."""
        return qty if self == Side.BUY else -qty

    @staticmethod
    def towards(delta: Decimal) -> Side:
        """The side that moves a position by `delta` (buy when positive, sell otherwise)."""
        return Side.BUY if delta > 0 else Side.SELL


class OrderStatus(StrEnum):
    """An order's state at the venue (ccxt's vocabulary; "cancelled"/"expired" are read as canceled)."""

    OPEN = "open"
    CLOSED = "closed"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def done(self) -> bool:
        return self is not OrderStatus.OPEN


DONE = frozenset({OrderStatus.CLOSED, OrderStatus.CANCELED, OrderStatus.REJECTED})  # text compares equal too


class OrderType(StrEnum):
    """How an order is priced at the venue: a limit price, or at market."""

    LIMIT = "limit"
    MARKET = "market"


class Liquidity(StrEnum):
    """Which side of the book an order or fill takes: maker (a resting post-only limit) or taker (crossing)."""

    MAKER = "maker"
    TAKER = "taker"


def parse_enum(cls: type[E], value: object, what: str) -> E:
    """External text (an exchange's answer, a wire request) as one of our enums; anything else is a ValueError
    naming the field and the values allowed."""
    try:
        return cls(value.lower() if isinstance(value, str) else str(value))
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not one of {', '.join(m.value for m in cls)}") from None

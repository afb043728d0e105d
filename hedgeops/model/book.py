"""Order-book arithmetic: walking a side for an average fill price, and depth near the touch (seed 004's
liquidity guard, seed 002's slippage forecast)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hedgeops.model.vocabulary import Side

ZERO = Decimal(0)

Level = tuple[Decimal, Decimal]  # (price, amount in base units)


@dataclass(frozen=True)
class OrderBook:
    """Bids best first (descending), asks best first (ascending)."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    def side_for(self, side: Side) -> tuple[Level, ...]:
        """The levels an order of `side` takes from: a buy lifts asks, a sell hits bids."""
        return self.asks if side == Side.BUY else self.bids


@dataclass(frozen=True)
class Walk:
    """What a taker order of some size would get."""

    filled: Decimal
    average_price: Decimal | None
    slippage_ratio: Decimal | None  # |average − touch| ÷ touch

    @property
    def complete(self) -> bool:
        return self.average_price is not None


def walk(book: OrderBook, side: Side, qty: Decimal) -> Walk:
    """Average price of taking `qty` from the book; `complete` is False when the book is too thin."""
    levels = book.side_for(side)
    if not levels or qty <= 0:
        return Walk(ZERO, None, None)
    left, cost = qty, ZERO
    for price, amount in levels:
        take = min(left, amount)
        cost += take * price
        left -= take
        if left == 0:
            average = cost / qty
            touch = levels[0][0]
            return Walk(qty, average, abs(average - touch) / touch)
    return Walk(qty - left, None, None)


def depth_within(book: OrderBook, side: Side, ratio: Decimal) -> Decimal:
    """Quote notional resting within `ratio` of the touch on the side an order of `side` takes from."""
    levels = book.side_for(side)
    if not levels:
        return ZERO
    touch = levels[0][0]
    buy = side == Side.BUY
    limit = touch * (1 + ratio) if buy else touch * (1 - ratio)
    inside = (lvl for lvl in levels if (lvl[0] <= limit if buy else lvl[0] >= limit))
    return sum((p * a for p, a in inside), ZERO)

"""Market rules (precision, minimums) and quotes, and rounding money to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from hedgeops.model.vocabulary import Side


@dataclass(frozen=True)
class MarketRules:
    """What the market accepts, in units of the base asset (contracts already converted)."""

    symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_step: Decimal
    min_amount: Decimal
    linear_swap: bool = False
    """A perpetual swap settled in its quote currency: what a hedge leg must be. False for spot, futures, inverse."""

    def round_amount(self, amount: Decimal) -> Decimal:
        """Round a (signed) amount toward zero onto the amount grid: never trade more than asked."""
        steps = (abs(amount) / self.amount_step).to_integral_value(rounding=ROUND_DOWN)
        return (steps * self.amount_step).copy_sign(amount) if steps else Decimal(0)

    def round_amount_up(self, amount: Decimal) -> Decimal:
        """Round a (signed) amount away from zero onto the amount grid."""
        steps = (abs(amount) / self.amount_step).to_integral_value(rounding=ROUND_CEILING)
        return (steps * self.amount_step).copy_sign(amount) if steps else Decimal(0)

    def passive_price(self, price: Decimal, side: Side) -> Decimal:
        """Round a limit price onto the tick grid away from the spread (buy down, sell up)."""
        rounding = ROUND_FLOOR if side == Side.BUY else ROUND_CEILING
        return (price / self.price_step).to_integral_value(rounding=rounding) * self.price_step


@dataclass(frozen=True)
class Quote:
    """Top of book and last trade for one symbol at one moment."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    at: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True)
class Fees:
    """Fee rates as fractions of notional."""

    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0005")

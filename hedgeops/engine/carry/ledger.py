"""Cash-and-carry accounting (seed 004's non-directional PnL) and the loss circuit breaker.

PnL = funding earned − fees + basis, where basis is the two legs' price PnL together. With equal legs the
price PnL of the spot and the perp cancel, so a move of the market in either direction leaves it
unchanged: only the spread between spot and perp (the basis) and its change show up."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from hedgeops.api.funding import CircuitBreaker
from hedgeops.engine.common.pnl import LegBook

ZERO = Decimal(0)


@dataclass(frozen=True)
class CarryLedger:
    """Everything a position has earned and paid since it was opened."""

    spot: LegBook = field(default_factory=LegBook)
    perp: LegBook = field(default_factory=LegBook)
    funding_quote: Decimal = ZERO
    fees_quote: Decimal = ZERO
    capital_quote: Decimal = ZERO  # spot cost + perp initial margin at entry (the base of PnL ratios)

    def apply_fill(self, leg: str, signed_qty: Decimal, price: Decimal, fee_quote: Decimal) -> CarryLedger:
        if leg not in ("spot", "perp"):
            raise ValueError(f"leg must be spot or perp, not {leg!r}")
        book = self.spot if leg == "spot" else self.perp
        moved = book.fill(signed_qty, price)
        changed = replace(self, spot=moved) if leg == "spot" else replace(self, perp=moved)
        return replace(changed, fees_quote=self.fees_quote + fee_quote)

    def apply_funding(self, perp_qty: Decimal, mark: Decimal, rate: Decimal) -> CarryLedger:
        """A settlement: positive rates make longs pay shorts, so a short of q units at mark m receives
        |q| × m × rate (and pays when the rate is negative)."""
        return replace(self, funding_quote=self.funding_quote - perp_qty * mark * rate)

    def basis_pnl(self, spot_mark: Decimal, perp_mark: Decimal) -> Decimal:
        """Both legs' realised and unrealised price PnL."""
        return (self.spot.realized + self.perp.realized
                + self.spot.unrealized(spot_mark) + self.perp.unrealized(perp_mark))

    def total_pnl(self, spot_mark: Decimal, perp_mark: Decimal) -> Decimal:
        return self.funding_quote - self.fees_quote + self.basis_pnl(spot_mark, perp_mark)

    def pnl_ratio(self, spot_mark: Decimal, perp_mark: Decimal) -> Decimal:
        """PnL ÷ the capital the position committed (what take-profit and stop-loss compare against)."""
        if self.capital_quote <= 0:
            return ZERO
        return self.total_pnl(spot_mark, perp_mark) / self.capital_quote


@dataclass(frozen=True)
class Breaker:
    """Seed 004's circuit breaker: trips after maxConsecutiveLosses losing closes in a row or when the UTC day's
    realised loss reaches dailyLossLimitQuote, both counted over EVERY pair of one FundingArbitrage (a round trip
    closed on any pair is one close). A trip refuses new positions on all of the object's pairs and closes the
    open ones (seed 004: 熔断 → close_all → STOPPED). Several objects on one exchange account each keep their own
    breaker over their own pairs: one object's losses never trip another's, so a limit meant for the whole
    account is the limit per object times the objects on it."""

    tripped: bool = False
    reason: str | None = None  # ConsecutiveLosses | DailyLoss
    consecutive_losses: int = 0
    day: str = ""
    daily_loss_quote: Decimal = ZERO

    def roll(self, day: str) -> Breaker:
        """A new UTC day clears the daily loss, and a trip that only the daily loss caused."""
        if day == self.day:
            return self
        tripped = self.tripped and self.reason != "DailyLoss"
        return replace(self, day=day, daily_loss_quote=ZERO, tripped=tripped,
                       reason=self.reason if tripped else None)

    def record_close(self, pnl_quote: Decimal, day: str, limits: CircuitBreaker) -> Breaker:
        """Account a finished round trip and trip if a limit is reached."""
        b = self.roll(day)
        losses = b.consecutive_losses + 1 if pnl_quote < 0 else 0
        daily = b.daily_loss_quote + (-pnl_quote if pnl_quote < 0 else ZERO)
        b = replace(b, consecutive_losses=losses, daily_loss_quote=daily)
        if losses >= limits.maxConsecutiveLosses:
            return replace(b, tripped=True, reason="ConsecutiveLosses")
        if daily >= limits.dailyLossLimitQuote:
            return replace(b, tripped=True, reason="DailyLoss")
        return b

    def combine(self, other: Breaker) -> Breaker:
        """Two pairs' breakers as one (statuses written while each pair kept its own): tripped if either is, the
        longer loss streak, and the later day's losses (summed when both count the same day)."""
        if other.day > self.day:
            return other.combine(self)
        daily = self.daily_loss_quote + (other.daily_loss_quote if other.day == self.day else ZERO)
        first = self if self.tripped or not other.tripped else other
        return Breaker(self.tripped or other.tripped, first.reason, max(self.consecutive_losses,
                                                                          other.consecutive_losses), self.day, daily)

    def reset(self) -> Breaker:
        """A person cleared it (hedgeops.io/reset-breaker): the loss streak starts again."""
        return replace(self, tripped=False, reason=None, consecutive_losses=0)

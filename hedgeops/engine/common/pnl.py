"""Average-cost position accounting, shared by the carry legs and the market maker's inventory."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class LegBook:
    """One leg at average cost: signed units, average entry price, PnL already realised."""

    qty: Decimal = ZERO
    entry: Decimal = ZERO
    realized: Decimal = ZERO

    def fill(self, signed_qty: Decimal, price: Decimal) -> LegBook:
        """Apply a fill: adding keeps a volume-weighted entry; reducing realises PnL at the entry."""
        if signed_qty == 0:
            return self
        q = self.qty
        if q == 0 or (q > 0) == (signed_qty > 0):
            new_qty = q + signed_qty
            entry = (q * self.entry + signed_qty * price) / new_qty
            return LegBook(new_qty, entry, self.realized)
        closed = min(abs(signed_qty), abs(q)).copy_sign(q)
        realized = self.realized + closed * (price - self.entry)
        new_qty = q + signed_qty
        if new_qty == 0:
            return LegBook(ZERO, ZERO, realized)
        if (new_qty > 0) != (q > 0):  # flipped through zero: the rest opens at this price
            return LegBook(new_qty, price, realized)
        return LegBook(new_qty, self.entry, realized)

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.qty * (mark - self.entry)

"""A MarketMaker's own orders as it last saw them, and the ledger their fills feed. Fills are booked from the
orders' own filled amounts (what was filled and paid since last seen), so a fill is booked exactly once however
often the order is observed. Pure: the runtime feeds it the venue's order states."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgeops.engine.maker.decide import MakerLedger
from hedgeops.engine.maker.quotes import Resting
from hedgeops.model.orders import OrderState, OrderType, Side, parse_enum

ZERO = Decimal(0)


def known_of(state: OrderState) -> dict[str, Any]:
    """A newly placed order as the status keeps it (amounts exact, as strings; nothing filled yet)."""
    return {"clientOrderId": state.client_order_id, "side": state.side, "price": str(state.price or ZERO),
            "amount": str(state.amount), "filled": "0", "feeQuote": "0"}


def intended(client_order_id: str, side: Side, price: Decimal, amount: Decimal) -> dict[str, Any]:
    """An order a killed process sent (from its write-ahead intent): ours, with nothing booked of it yet."""
    return {"clientOrderId": client_order_id, "side": side, "price": str(price), "amount": str(amount),
            "filled": "0", "feeQuote": "0"}


@dataclass
class Book:
    """Our orders as last seen (what was filled and paid then) and the ledger they have fed."""

    ledger: MakerLedger
    known: dict[str, dict[str, Any]]  # clientOrderId → {side, price, amount, filled, feeQuote}
    quotes_filled: int = 0  # quotes (limit orders) whose first fill this book has seen: the fill rate's numerator

    def account(self, state: OrderState) -> None:
        """Book what `state` filled since we last saw it."""
        seen = self.known.get(state.client_order_id)
        if seen is None:
            return
        delta = state.filled - Decimal(str(seen["filled"]))
        fee = state.fee_quote - Decimal(str(seen["feeQuote"]))
        if delta > 0:
            if state.type == OrderType.LIMIT and Decimal(str(seen["filled"])) == 0:
                self.quotes_filled += 1
            price = state.average if state.average is not None else Decimal(str(seen["price"]))
            self.ledger = self.ledger.apply_fill(state.side, delta, price, fee)
        seen.update(filled=str(state.filled), feeQuote=str(state.fee_quote))
        if state.done:
            del self.known[state.client_order_id]

    def resting(self, open_ids: Container[str]) -> list[Resting]:
        """Our orders still open on the venue, with what remains of each."""
        return [Resting(cid, parse_enum(Side, k["side"], f"status order {cid} side"), Decimal(str(k["price"])),
                        Decimal(str(k["amount"])) - Decimal(str(k["filled"])))
                for cid, k in self.known.items() if cid in open_ids]

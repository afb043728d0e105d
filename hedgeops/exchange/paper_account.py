"""Simulated private state of one account: orders, fills, positions, fees. No I/O and no clock: prices
and time come in from the caller, so the paper venue and the exchange emulator share this matching."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from hedgeops.engine.market import Fees, MarketRules, Quote
from hedgeops.exchange.replay import Bar
from hedgeops.exchange.venue import (
    DuplicateClientOrderId,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderState,
    Position,
)

ZERO = Decimal(0)


@dataclass
class _Resting:
    state: OrderState
    placed_at: datetime
    seen_until: datetime


@dataclass
class _PositionBook:
    qty: Decimal = ZERO
    entry: Decimal = ZERO
    realized: Decimal = ZERO


@dataclass
class PaperAccount:
    """Orders are filled by the rules every backtester agrees on: taker at the far touch now, post-only
    rejected if it would cross, resting limits filled only when a later bar trades through them."""

    markets: Mapping[str, MarketRules]
    fees: Fees = field(default_factory=Fees)
    quote_balance: Decimal = Decimal(100_000)
    orders: dict[str, OrderState] = field(default_factory=dict)
    fees_paid: Decimal = ZERO
    _resting: dict[str, _Resting] = field(default_factory=dict)
    _positions: dict[str, _PositionBook] = field(default_factory=dict)

    def rules(self, symbol: str) -> MarketRules:
        try:
            return self.markets[symbol]
        except KeyError:
            raise OrderRejected(f"unknown symbol {symbol}") from None

    def submit(self, req: OrderRequest, quote: Quote, now: datetime) -> OrderState:
        """Accept, fill or reject one order at the current quote."""
        if req.client_order_id in self.orders:
            raise DuplicateClientOrderId(req.client_order_id)
        rules = self.rules(req.symbol)
        problem = self._check(req, rules)
        if problem:
            self.orders[req.client_order_id] = self._state(req, "rejected")
            raise OrderRejected(problem)
        far = quote.ask if req.side == "buy" else quote.bid
        crosses = req.type == "market" or (req.price is not None and (
            req.price >= quote.ask if req.side == "buy" else req.price <= quote.bid))
        if crosses and req.post_only:
            self.orders[req.client_order_id] = self._state(req, "rejected")
            raise OrderRejected(f"post-only {req.side} at {req.price} would cross {far}")
        if crosses:
            return self._fill(self._state(req, "open"), far, self.fees.taker)
        state = self._state(req, "open")
        self.orders[req.client_order_id] = state
        self._resting[req.client_order_id] = _Resting(state, now, now)
        return state

    def _check(self, req: OrderRequest, rules: MarketRules) -> str | None:
        if req.side not in ("buy", "sell"):
            return f"bad side {req.side!r}"
        if req.amount <= 0 or rules.round_amount(req.amount) != req.amount:
            return f"amount {req.amount} is not a positive multiple of {rules.amount_step}"
        if req.amount < rules.min_amount:
            return f"amount {req.amount} below minimum {rules.min_amount}"
        if req.type == "limit" and (req.price is None or req.price <= 0):
            return "limit order needs a positive price"
        if req.reduce_only:
            pos = self._positions.get(req.symbol, _PositionBook()).qty
            if pos == 0 or (pos > 0) == (req.side == "buy") or req.amount > abs(pos):
                return "reduce-only order would not reduce the position"
        return None

    @staticmethod
    def _state(req: OrderRequest, status: str) -> OrderState:
        return OrderState(req.client_order_id, req.symbol, req.side, req.amount, ZERO, req.price, None,
                          status, ZERO, req.type, req.post_only)

    def _fill(self, state: OrderState, price: Decimal, rate: Decimal) -> OrderState:
        qty = state.remaining
        fee = qty * price * rate
        self._apply(state.symbol, qty if state.side == "buy" else -qty, price)
        self.fees_paid += fee
        self.quote_balance -= fee
        done = replace(state, filled=state.amount, average=price, status="closed", fee_quote=state.fee_quote + fee)
        self.orders[state.client_order_id] = done
        self._resting.pop(state.client_order_id, None)
        return done

    def _apply(self, symbol: str, signed_qty: Decimal, price: Decimal) -> None:
        pos = self._positions.setdefault(symbol, _PositionBook())
        if pos.qty == 0 or (pos.qty > 0) == (signed_qty > 0):
            new_qty = pos.qty + signed_qty
            pos.entry = (pos.entry * abs(pos.qty) + price * abs(signed_qty)) / abs(new_qty)
            pos.qty = new_qty
            return
        closing = min(abs(signed_qty), abs(pos.qty))
        pnl = closing * (price - pos.entry) * (1 if pos.qty > 0 else -1)
        pos.realized += pnl
        self.quote_balance += pnl
        new_qty = pos.qty + signed_qty
        if new_qty == 0:
            pos.entry = ZERO
        elif (new_qty > 0) != (pos.qty > 0):
            pos.entry = price  # flipped through zero: the remainder opened at this price
        pos.qty = new_qty

    def on_bars(self, symbol: str, bars: list[Bar]) -> None:
        """Fill resting orders that a later bar traded through (strictly: touching is not enough)."""
        for rest in list(self._resting.values()):
            if rest.state.symbol != symbol:
                continue
            price = rest.state.price
            assert price is not None
            for bar in bars:
                if bar.start < rest.seen_until:
                    continue
                rest.seen_until = bar.end
                if (bar.low < price) if rest.state.side == "buy" else (bar.high > price):
                    self._fill(rest.state, price, self.fees.maker)
                    break

    def resting_since(self, symbol: str) -> datetime | None:
        """Earliest time a resting order on `symbol` still needs bars from."""
        times = [r.seen_until for r in self._resting.values() if r.state.symbol == symbol]
        return min(times) if times else None

    def cancel(self, client_order_id: str) -> OrderState:
        state = self.orders.get(client_order_id)
        if state is None:
            raise OrderNotFound(client_order_id)
        if state.done:
            return state
        self._resting.pop(client_order_id, None)
        state = replace(state, status="canceled")
        self.orders[client_order_id] = state
        return state

    def positions(self, marks: Mapping[str, Decimal]) -> dict[str, Position]:
        out = {}
        for symbol, pos in self._positions.items():
            if pos.qty != 0:
                mark = marks.get(symbol, pos.entry)
                out[symbol] = Position(symbol, pos.qty, pos.entry, (mark - pos.entry) * pos.qty)
        return out

    def open_orders(self) -> list[OrderState]:
        return [r.state for r in self._resting.values()]

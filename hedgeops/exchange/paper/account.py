"""Simulated private state of one account: orders, fills, perp positions, spot balances, fees, funding. No I/O
and no clock: prices, books and time come in from the caller, so the paper venue and the exchange emulator
share this matching."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from hedgeops.exchange.marketdata.replay import Bar
from hedgeops.exchange.venue import DuplicateClientOrderId, OrderNotFound, OrderRejected
from hedgeops.model.book import OrderBook, walk
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import Fill, OrderRequest, OrderState, OrderStatus, OrderType, Position, Side, parse_enum

ZERO = Decimal(0)
ONE = Decimal(1)
DEFAULT_LEVERAGE = Decimal(3)
# Maintenance margin: 0.4% of a perp's notional at the mark (OKX's first tier for the swaps replayed here). An
# account whose equity falls to it is liquidated (OKX: at a margin ratio of 100%).
MAINTENANCE_MARGIN_RATE = Decimal("0.004")
LIQUIDATION_ID = "liquidation"  # the client id prefix of a liquidation's orders: none of ours can have it


class InsufficientFunds(OrderRejected):
    """Not enough margin (perps) or balance (spot) for the order."""


def is_spot(symbol: str) -> bool:
    """ccxt's unified symbols: a derivative carries its settle currency after a colon."""
    return ":" not in symbol


def is_option(symbol: str) -> bool:
    """ccxt's option symbols end in the strike and C or P: BTC/USD:BTC-260327-100000-C."""
    return not is_spot(symbol) and symbol.endswith(("-C", "-P"))


def settle_currency(symbol: str) -> str:
    """A derivative's settlement currency (BTC of BTC/USD:BTC-260327-100000-C, USDT of BTC/USDT:USDT)."""
    return symbol.split(":", 1)[1].split("-", 1)[0]


@dataclass(frozen=True)
class FundingBill:
    """One funding settlement on a perp position: received when positive, paid when negative."""

    bill_id: int
    symbol: str
    at: datetime
    rate: Decimal
    mark: Decimal
    amount: Decimal
    balance: Decimal = ZERO  # the quote balance just after it


@dataclass(frozen=True)
class MarginCheck:
    """What checking funds needs: leverage per perp symbol and marks for unrealised PnL."""

    leverage: Mapping[str, Decimal]
    marks: Mapping[str, Decimal]


@dataclass
class _Resting:
    state: OrderState
    placed_at: datetime
    seen_until: datetime
    reduce_only: bool = False


@dataclass
class PositionBook:
    """A perp position's running figures. Since it last opened from flat: `pnl` from closing trades, `fee` paid
    (positive) and `funding` received (negative when paid); `generation` counts those openings."""

    qty: Decimal = ZERO
    entry: Decimal = ZERO
    realized: Decimal = ZERO
    pnl: Decimal = ZERO
    fee: Decimal = ZERO
    funding: Decimal = ZERO
    generation: int = 0
    opened_at: datetime | None = None
    updated_at: datetime | None = None


_PositionBook = PositionBook


def _full() -> Decimal:
    return ONE


def _order_margins(pos: Decimal, orders: list[tuple[OrderState, bool]], lever: Decimal) -> dict[str, Decimal]:
    """The margin each resting order on one perp holds, in one-way (net) mode, as OKX and Binance hold it: what
    would close the position `pos` holds none, what would open one holds its notional at its own price over the
    leverage. The closing side's orders share the position: reduce-only ones first (they can never open), then
    the rest in the order they would fill (best price first, then the oldest), so what lies beyond the position
    (further from the market) is the part that opens. Opening at the order's own price is the margin the position
    needs the moment the order fills there (a resting buy sits below the market and a sell above it: a price that
    would cross fills at once instead), so an order far from the market reserves in full: a sell that would open a
    short at 1e11 reserves its 1e11 notional and is refused unless the account can carry it."""
    closing = Side.SELL if pos > 0 else Side.BUY if pos < 0 else None
    left = abs(pos)
    out: dict[str, Decimal] = {}
    sign = ONE if closing == Side.SELL else -ONE  # sells fill lowest first, buys highest first
    ranked = sorted((o for o in orders if o[0].side == closing), key=lambda o: (not o[1], sign * (o[0].price or ZERO)))
    for state, reduce_only in ranked:
        closes = state.remaining if reduce_only else min(state.remaining, left)
        left = max(ZERO, left - closes)
        out[state.client_order_id] = (state.remaining - closes) * (state.price or ZERO) / lever
    for state, _ in orders:
        if state.side != closing:
            out[state.client_order_id] = state.remaining * (state.price or ZERO) / lever
    return out


def _within(book: OrderBook, side: Side, limit: Decimal) -> OrderBook:
    """The levels an order of `side` limited at `limit` may take (the rest of the book is out of its reach)."""
    if side == Side.BUY:
        return OrderBook(book.bids, tuple(lv for lv in book.asks if lv[0] <= limit))
    return OrderBook(tuple(lv for lv in book.bids if lv[0] >= limit), book.asks)


@dataclass
class PaperAccount:
    """Orders are filled by the rules every backtester agrees on: taker at the far touch (or walking a given
    book), post-only rejected if it would cross, resting limits filled only when a later bar trades through."""

    markets: Mapping[str, MarketRules]
    fees: Fees = field(default_factory=Fees)
    quote_balance: Decimal = Decimal(100_000)
    orders: dict[str, OrderState] = field(default_factory=dict)
    fees_paid: Decimal = ZERO
    assets: dict[str, Decimal] = field(default_factory=dict)  # spot holdings other than the quote currency
    fills: list[Fill] = field(default_factory=list)
    # The same fills by client order id: an exchange looks an order's fills up by its id, and a scan of every fill
    # on each lookup made the emulator slower with every trade it had booked.
    fills_by_order: dict[str, list[Fill]] = field(default_factory=dict)
    bills: list[FundingBill] = field(default_factory=list)
    fill_ratio: Callable[[], Decimal] = _full  # a fault hook: the share of the next fill that executes
    fill_book: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # trade id -> (pnl, balance after)
    _resting: dict[str, _Resting] = field(default_factory=dict)
    _positions: dict[str, _PositionBook] = field(default_factory=dict)

    def rules(self, symbol: str) -> MarketRules:
        try:
            return self.markets[symbol]
        except KeyError:
            raise OrderRejected(f"unknown symbol {symbol}") from None

    def submit(self, req: OrderRequest, quote: Quote, now: datetime, *, book: OrderBook | None = None,
               margin: MarginCheck | None = None) -> OrderState:
        """Accept, fill or reject one order at the current quote. With `book`, takers walk it (slippage; what
        the book cannot fill is cancelled); with `margin`, funds are checked first."""
        if req.client_order_id in self.orders:
            raise DuplicateClientOrderId(req.client_order_id)
        rules = self.rules(req.symbol)
        try:  # the boundary: a request's side and type as our enums (a caller's text is parsed here)
            req = replace(req, side=parse_enum(Side, req.side, "side"), type=parse_enum(OrderType, req.type, "type"))
        except ValueError as exc:
            problem: str | None = f"bad order: {exc}"
        else:
            problem = self._check(req, rules)
        if problem:
            self.orders[req.client_order_id] = self._state(req, OrderStatus.REJECTED)
            raise OrderRejected(problem)
        buy = req.side == Side.BUY
        far = quote.ask if buy else quote.bid
        crosses = req.type == OrderType.MARKET or (req.price is not None and (
            req.price >= quote.ask if buy else req.price <= quote.bid))
        if crosses and req.post_only:
            self.orders[req.client_order_id] = self._state(req, OrderStatus.REJECTED)
            raise OrderRejected(f"post-only {req.side} at {req.price} would cross {far}")
        if margin is not None:
            short = self._funds_problem(req, far if crosses else req.price or far, margin, crosses)
            if short:
                self.orders[req.client_order_id] = self._state(req, OrderStatus.REJECTED)
                raise InsufficientFunds(short)
        state = self._state(req, OrderStatus.OPEN)
        if not crosses:
            self.orders[req.client_order_id] = state
            self._resting[req.client_order_id] = _Resting(state, now, now, req.reduce_only)
            return state
        qty, price = req.amount, far
        if book is not None:
            if req.type == OrderType.LIMIT and req.price is not None:
                book = _within(book, req.side, req.price)  # a limit order never trades beyond its price
            w = walk(book, req.side, qty)
            qty = rules.round_amount(w.filled)
            w = walk(book, req.side, qty)
            price = w.average_price if w.average_price is not None else far
        qty = rules.round_amount(qty * self.fill_ratio())
        if qty <= 0:
            state = replace(state, status=OrderStatus.CANCELED)
            self.orders[req.client_order_id] = state
            return state
        done = self._fill(state, price, self.fees.taker, qty, now, maker=False)
        if done.filled < done.amount:  # a taker's unfilled rest is cancelled, as an exchange's IOC/market does
            done = replace(done, status=OrderStatus.CANCELED)
            self.orders[req.client_order_id] = done
        return done

    def _check(self, req: OrderRequest, rules: MarketRules) -> str | None:
        if req.amount <= 0 or rules.round_amount(req.amount) != req.amount:
            return f"amount {req.amount} is not a positive multiple of {rules.amount_step}"
        if req.amount < rules.min_amount:
            return f"amount {req.amount} below minimum {rules.min_amount}"
        if req.type == OrderType.LIMIT and (req.price is None or req.price <= 0):
            return "limit order needs a positive price"
        if req.type == OrderType.LIMIT and req.price is not None and req.price % rules.price_step != 0:
            # As OKX (51006-class parameter error) and Binance (-1013 PRICE_FILTER) refuse it.
            return f"price {req.price} is not a multiple of the tick {rules.price_step}"
        if req.reduce_only:
            pos = self._positions.get(req.symbol, _PositionBook()).qty
            if pos == 0 or (pos > 0) == (req.side == Side.BUY) or req.amount > abs(pos):
                return "reduce-only order would not reduce the position"
        return None

    def _funds_problem(self, req: OrderRequest, price: Decimal, margin: MarginCheck, crosses: bool) -> str | None:
        rules = self.rules(req.symbol)
        if is_option(req.symbol):
            return self._option_funds_problem(req, price)
        if is_spot(req.symbol):
            if req.side == Side.SELL:  # resting sells hold their base
                have = self.assets.get(rules.base, ZERO) - self.reserved().get(rules.base, ZERO)
                return None if have >= req.amount else f"insufficient {rules.base} balance: {have} < {req.amount}"
            need = req.amount * price * (ONE + self.fees.taker)
            free = self.free_quote(rules.quote, margin)
            return None if free >= need else f"insufficient {rules.quote}: {need:.2f} needed, {free:.2f} free"
        short = self._perp_need(req, price, margin, crosses) - self.free_quote(rules.quote, margin)
        return None if short <= 0 else f"insufficient margin: {short:.2f} more needed"

    def _option_funds_problem(self, req: OrderRequest, price: Decimal) -> str | None:
        """An option is bought with its premium (and fee) in the settlement currency, and sold only out of a long
        position: this account writes no options (it holds no option margin)."""
        ccy = settle_currency(req.symbol)
        if req.side == Side.SELL:
            held = self._positions.get(req.symbol, _PositionBook()).qty
            resting = sum((r.state.remaining for r in self._resting.values()
                           if r.state.symbol == req.symbol and r.state.side == Side.SELL), ZERO)
            return None if held - resting >= req.amount else (
                f"options are sold only out of a long position here (no option writing): {held - resting} held")
        need = req.amount * price * (ONE + self.fees.taker)
        free = self.assets.get(ccy, ZERO) - self.reserved().get(ccy, ZERO)
        return None if free >= need else f"insufficient {ccy} for the premium: {need} needed, {free} free"

    def _perp_need(self, req: OrderRequest, price: Decimal, margin: MarginCheck, crosses: bool) -> Decimal:
        """What accepting a perp order takes from the free quote: the margin the symbol holds afterwards (its
        position and resting orders, the resting ones re-sorted into closing and opening parts) less what it holds
        now, and for a taker also its fee and the gap between its price and the mark (the loss it books at once).
        Zero or less for an order that frees margin (closing): such an order is accepted even when an adverse move
        has already taken the free quote below zero; any other must leave it at zero or above."""
        symbol = req.symbol
        lever = margin.leverage.get(symbol, DEFAULT_LEVERAGE)
        book = self._positions.get(symbol)
        pos = book.qty if book is not None else ZERO
        mark = margin.marks.get(symbol, price)
        resting = [(r.state, r.reduce_only) for r in self._resting.values() if r.state.symbol == symbol]
        before = abs(pos) * mark / lever + sum(_order_margins(pos, resting, lever).values(), ZERO)
        if crosses:
            signed = req.side.signed(req.amount)
            after = abs(pos + signed) * mark / lever + sum(_order_margins(pos + signed, resting, lever).values(), ZERO)
            return after - before + req.amount * price * self.fees.taker + signed * (price - mark)
        order = OrderState(req.client_order_id, symbol, req.side, req.amount, ZERO, req.price, None, OrderStatus.OPEN,
                           ZERO, req.type, req.post_only)
        after = abs(pos) * mark / lever + sum(_order_margins(pos, [*resting, (order, req.reduce_only)],
                                                              lever).values(), ZERO)
        return after - before

    def order_margins(self, leverage: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """The margin each resting perp order holds, by client order id (see _order_margins)."""
        by_symbol: dict[str, list[tuple[OrderState, bool]]] = {}
        for r in self._resting.values():
            if not is_spot(r.state.symbol) and not is_option(r.state.symbol):  # an option's premium is held instead
                by_symbol.setdefault(r.state.symbol, []).append((r.state, r.reduce_only))
        out: dict[str, Decimal] = {}
        for symbol, orders in by_symbol.items():
            book = self._positions.get(symbol)
            out.update(_order_margins(book.qty if book is not None else ZERO, orders,
                                      leverage.get(symbol, DEFAULT_LEVERAGE)))
        return out

    def free_quote(self, quote: str, margin: MarginCheck) -> Decimal:
        """The quote an order may still commit (one cross account, as OKX's): cash and unrealised PnL, less the
        margin of perp positions (at the mark) and of resting perp orders (their opening parts only) and what
        resting spot buys hold."""
        linear = {s: p for s, p in self._positions.items() if not is_option(s)}  # options: paid in full, no margin
        used = sum((abs(p.qty) * margin.marks.get(s, p.entry) / margin.leverage.get(s, DEFAULT_LEVERAGE)
                    for s, p in linear.items()), ZERO)
        used += sum(self.order_margins(margin.leverage).values(), ZERO)
        upl = sum((p.qty * (margin.marks.get(s, p.entry) - p.entry) for s, p in linear.items()), ZERO)
        return self.quote_balance + upl - used - self.reserved().get(quote, ZERO)

    def transferable(self, quote: str, margin: MarginCheck) -> Decimal:
        """What may leave the account: the free quote, less any unrealised profit in it (an exchange pays out
        no profit it has not realised; an unrealised loss does reduce it). Never below zero."""
        upl = sum((p.qty * (margin.marks.get(s, p.entry) - p.entry) for s, p in self._positions.items()
                   if not is_option(s)), ZERO)
        return max(ZERO, self.free_quote(quote, margin) - max(upl, ZERO))

    def reserved(self) -> dict[str, Decimal]:
        """What resting spot orders hold: a buy its quote (with the taker fee), a sell its base."""
        out: dict[str, Decimal] = {}
        for r in self._resting.values():
            s = r.state
            if is_option(s.symbol) and s.side == Side.BUY:  # a resting option buy holds its premium
                ccy = settle_currency(s.symbol)
                out[ccy] = out.get(ccy, ZERO) + s.remaining * (s.price or ZERO) * (ONE + self.fees.taker)
                continue
            if not is_spot(s.symbol):
                continue
            rules = self.rules(s.symbol)
            if s.side == Side.BUY:
                cost = s.remaining * (s.price or ZERO) * (ONE + self.fees.taker)
                out[rules.quote] = out.get(rules.quote, ZERO) + cost
            else:
                out[rules.base] = out.get(rules.base, ZERO) + s.remaining
        return out

    def position_book(self, symbol: str) -> PositionBook | None:
        """A perp's running figures (None if it never traded)."""
        return self._positions.get(symbol)

    @staticmethod
    def _state(req: OrderRequest, status: OrderStatus) -> OrderState:
        return OrderState(req.client_order_id, req.symbol, req.side, req.amount, ZERO, req.price, None,
                          status, ZERO, req.type, req.post_only)

    def _fill(self, state: OrderState, price: Decimal, rate: Decimal, qty: Decimal, at: datetime, *,
              maker: bool) -> OrderState:
        fee = qty * price * rate
        pnl = self._apply(state.symbol, state.side.signed(qty), price, at)
        if is_option(state.symbol):  # premium and fee in the settlement currency (BTC for OKX's BTC options)
            ccy = settle_currency(state.symbol)
            self.assets[ccy] = self.assets.get(ccy, ZERO) - fee
        else:
            self.fees_paid += fee
            self.quote_balance -= fee
        book = self._positions.get(state.symbol)
        if book is not None:
            book.fee += fee
        filled = state.filled + qty
        average = ((state.average or ZERO) * state.filled + price * qty) / filled
        done = replace(state, filled=filled, average=average, fee_quote=state.fee_quote + fee,
                       status=OrderStatus.CLOSED if filled == state.amount else OrderStatus.OPEN)
        self.fills.append(Fill(str(len(self.fills) + 1), state.client_order_id, state.symbol, state.side, qty, price,
                               fee, maker, at))
        self.fills_by_order.setdefault(state.client_order_id, []).append(self.fills[-1])
        self.fill_book[self.fills[-1].trade_id] = (pnl, self.quote_balance)
        self.orders[state.client_order_id] = done
        if done.status == OrderStatus.CLOSED:
            self._resting.pop(state.client_order_id, None)
        elif state.client_order_id in self._resting:
            self._resting[state.client_order_id].state = done
        return done

    def _apply(self, symbol: str, signed_qty: Decimal, price: Decimal, at: datetime | None = None) -> Decimal:
        """Book a trade; returns the PnL it realised (0 for spot and for opening trades)."""
        if is_spot(symbol):  # spot: the base asset moves against quote
            base = self.rules(symbol).base
            self.assets[base] = self.assets.get(base, ZERO) + signed_qty
            self.quote_balance -= signed_qty * price
            return ZERO
        if is_option(symbol):  # the premium changes hands in the settlement currency; the position is its units
            ccy = settle_currency(symbol)
            self.assets[ccy] = self.assets.get(ccy, ZERO) - signed_qty * price
        pos = self._positions.setdefault(symbol, _PositionBook())
        pos.updated_at = at
        if pos.qty == 0:  # opened from flat: a new position's running figures
            pos.pnl = pos.fee = pos.funding = ZERO
            pos.generation += 1
            pos.opened_at = at
        if pos.qty == 0 or (pos.qty > 0) == (signed_qty > 0):
            new_qty = pos.qty + signed_qty
            pos.entry = (pos.entry * abs(pos.qty) + price * abs(signed_qty)) / abs(new_qty)
            pos.qty = new_qty
            return ZERO
        closing = min(abs(signed_qty), abs(pos.qty))
        pnl = closing * (price - pos.entry) * (1 if pos.qty > 0 else -1)
        pos.realized += pnl
        pos.pnl += pnl
        if not is_option(symbol):  # an option's closing premium was already booked in its settlement currency
            self.quote_balance += pnl
        new_qty = pos.qty + signed_qty
        if new_qty == 0:
            pos.entry = ZERO
        elif (new_qty > 0) != (pos.qty > 0):
            pos.entry = price  # flipped through zero: the remainder opened at this price
        pos.qty = new_qty
        return pnl

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
                if (bar.low < price) if rest.state.side == Side.BUY else (bar.high > price):
                    rules = self.rules(symbol)
                    qty = rules.round_amount(rest.state.remaining * self.fill_ratio()) or rest.state.remaining
                    done = self._fill(rest.state, price, self.fees.maker, qty, bar.end, maker=True)
                    if done.status == OrderStatus.CLOSED:
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
        state = replace(state, status=OrderStatus.CANCELED)
        self.orders[client_order_id] = state
        return state

    def settle_funding(self, symbol: str, rate: Decimal, mark: Decimal, at: datetime) -> FundingBill | None:
        """Pay or receive one funding settlement on the position held now: longs pay a positive rate."""
        pos = self._positions.get(symbol)
        if pos is None or pos.qty == 0:
            return None
        amount = -pos.qty * mark * rate
        self.quote_balance += amount
        pos.funding += amount
        bill = FundingBill(len(self.bills) + 1, symbol, at, rate, mark, amount, self.quote_balance)
        self.bills.append(bill)
        return bill

    def liquidate(self, marks: Mapping[str, Decimal], at: datetime,
                  rate: Decimal = MAINTENANCE_MARGIN_RATE) -> list[OrderState]:
        """Close every linear perp at `marks` when the account's equity (cash and unrealised PnL, as free_quote
        counts it) is at or below the maintenance margin, after cancelling the resting perp orders, as a cross
        account is liquidated; returns the liquidation's orders (none: the account is above it). A gap the margin
        did not cover leaves a negative balance the exchange's insurance fund takes: the balance starts again at
        zero. Before this, an account ran to -988 USDT with its position open and every later PnL counted."""
        linear = {s: p for s, p in self._positions.items() if p.qty != 0 and not is_spot(s) and not is_option(s)}
        if not linear or any(s not in marks for s in linear):
            return []
        equity = self.quote_balance + sum((p.qty * (marks[s] - p.entry) for s, p in linear.items()), ZERO)
        if equity > sum((abs(p.qty) * marks[s] * rate for s, p in linear.items()), ZERO):
            return []
        for cid, rest in list(self._resting.items()):
            if not is_spot(rest.state.symbol) and not is_option(rest.state.symbol):
                self.cancel(cid)
        closed = []
        for symbol, pos in sorted(linear.items()):
            cid = f"{LIQUIDATION_ID}{len(self.orders) + 1}"
            side = Side.SELL if pos.qty > 0 else Side.BUY
            state = OrderState(cid, symbol, side, abs(pos.qty), ZERO, None, None, OrderStatus.OPEN, ZERO,
                               OrderType.MARKET, False)
            self.orders[cid] = state
            closed.append(self._fill(state, marks[symbol], self.fees.taker, abs(pos.qty), at, maker=False))
        self.quote_balance = max(self.quote_balance, ZERO)
        return closed

    def held(self) -> list[str]:
        """The symbols with a position open, sorted."""
        return sorted(s for s, p in self._positions.items() if p.qty != 0)

    def positions(self, marks: Mapping[str, Decimal]) -> dict[str, Position]:
        out = {}
        for symbol, pos in self._positions.items():
            if pos.qty != 0:
                mark = marks.get(symbol, pos.entry)
                out[symbol] = Position(symbol, pos.qty, pos.entry, (mark - pos.entry) * pos.qty)
        return out

    def balances(self, quote: str = "USDT") -> dict[str, Decimal]:
        """Cash in the quote currency and spot holdings."""
        return {quote: self.quote_balance, **{a: q for a, q in self.assets.items() if q != 0}}

    def open_orders(self) -> list[OrderState]:
        return [r.state for r in self._resting.values()]

"""The orders that bring an allocation book back to its target weights (seed 002): one batch of sells
that funds one batch of buys, large legs sliced, and a cost forecast (fees plus the slippage of walking
the book) before anything trades.

The forecast walks each asset's fetched book once per side: the slices of one order take the levels one after
another, so the second slice starts where the first ended. What the fetched levels cannot fill is priced at the
worst level seen moved a further BEYOND_BOOK_PENALTY against the order (buys higher, sells lower; the mid when
the side is empty): the venue's deeper book is not known, so its cost is assumed to be at least that bad, and such
a plan (`beyond_book`) is never an opportunity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.common.slicing import MAX_PLAN_ORDERS, slice_qty, slices_per_leg
from hedgeops.engine.hedge.gate import GateVerdict
from hedgeops.engine.hedge.planner import PlannedOrder, RebalancePlan, Skipped
from hedgeops.engine.hedge.triggers import Reason, Urgency
from hedgeops.model.book import OrderBook
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import Liquidity, Side

ZERO = Decimal(0)
MAX_ORDERS = MAX_PLAN_ORDERS
BEYOND_BOOK_PENALTY = Decimal("0.01")  # past the fetched levels: 1 % worse than the worst level seen


@dataclass(frozen=True)
class AllocationOrder:
    """One order: batch 0 sells (they fund the buys), batch 1 buys."""

    slot: int
    batch: int
    asset: str
    symbol: str
    side: Side
    amount: Decimal
    type: Liquidity
    est_price: Decimal
    client_order_id: str
    mid: Decimal  # the price the slippage is measured against
    est_fee_quote: Decimal
    est_slippage_quote: Decimal

    @property
    def notional_quote(self) -> Decimal:
        return self.amount * self.mid


@dataclass(frozen=True)
class AllocationPlan:
    """Orders with their forecast: fees, slippage against the mid, and both as a share of the book."""

    plan_id: str
    seq: int
    orders: tuple[AllocationOrder, ...]
    skipped: tuple[Skipped, ...]
    value_quote: Decimal
    est_fees_quote: Decimal
    est_slippage_quote: Decimal
    beyond_book: bool = False  # some order is larger than the fetched book: priced with the penalty

    @property
    def est_cost_quote(self) -> Decimal:
        return self.est_fees_quote + self.est_slippage_quote

    @property
    def cost_ratio(self) -> Decimal:
        """The forecast cost as a share of the book's value (what the cost tolerance reads)."""
        return self.est_cost_quote / self.value_quote if self.value_quote else ZERO

    @property
    def notional_quote(self) -> Decimal:
        return sum((o.notional_quote for o in self.orders), ZERO)

    @property
    def traded_cost_ratio(self) -> Decimal:
        """The forecast cost as a share of the notional traded (what an approver and the opportunity read)."""
        return self.est_cost_quote / self.notional_quote if self.notional_quote else ZERO


@dataclass(frozen=True)
class AllocationInputs:
    """Markets (asset → spot market against the quote), prices (mids), optional books for slippage."""

    quote_asset: str
    markets: Mapping[str, MarketRules]
    prices: Mapping[str, Decimal]
    books: Mapping[str, OrderBook]
    fees: Fees
    order_type: Liquidity
    min_trade_quote: Decimal
    max_order_quote: Decimal | None


def _walk_cost(book: OrderBook | None, side: Side, qty: Decimal, mid: Decimal) -> tuple[Decimal, bool]:
    """The quote cost of taking `qty` from the top of `book`'s side, and whether the levels covered it; the part
    beyond them is priced at the worst level seen (the mid when there is none) moved BEYOND_BOOK_PENALTY against
    the order."""
    levels = book.side_for(side) if book is not None else ()
    left, cost, worst = qty, ZERO, mid
    for price, amount in levels:
        take = min(left, amount)
        cost += take * price
        left -= take
        worst = price
        if left == 0:
            return cost, True
    beyond = worst * (1 + BEYOND_BOOK_PENALTY if side == Side.BUY else 1 - BEYOND_BOOK_PENALTY)
    return cost + left * beyond, False


def _est_price(inp: AllocationInputs, asset: str, side: Side, qty: Decimal,
               taken: Decimal = ZERO) -> tuple[Decimal, bool]:
    """What `qty` is expected to average after `taken` of the same side already walked the book (the slices
    of one order), and whether the fetched book covered it. A maker order (or a taker without a book) is
    forecast at the mid."""
    if inp.order_type is not Liquidity.TAKER or asset not in inp.books:
        return inp.prices[asset], True
    book, mid = inp.books[asset], inp.prices[asset]
    before, _ = _walk_cost(book, side, taken, mid)
    after, complete = _walk_cost(book, side, taken + qty, mid)
    return (after - before) / qty, complete


def plan_allocation(targets: Mapping[str, Decimal], holdings: Mapping[str, Decimal], inp: AllocationInputs, *,
                    uid: str, seq: int, exit_all: bool = False) -> AllocationPlan:
    """Trade each asset towards target weight × book value (or to nothing, for an exit). Buys are scaled
    down together when the cash the sells leave (after fees) cannot pay for all of them."""
    value_of = {a: q * (Decimal(1) if a == inp.quote_asset else inp.prices.get(a, ZERO)) for a, q in holdings.items()}
    total = sum(value_of.values(), ZERO)
    skipped: list[Skipped] = []
    wanted: list[tuple[str, Side, Decimal]] = []
    for asset in sorted(set(targets) | set(holdings)):
        if asset == inp.quote_asset:
            continue
        market, price = inp.markets.get(asset), inp.prices.get(asset)
        if market is None or not price:
            skipped.append(Skipped(asset, "no spot market or price"))
            continue
        goal = ZERO if exit_all else targets.get(asset, ZERO) * total
        delta_value = goal - value_of.get(asset, ZERO)
        qty = market.round_amount(delta_value / price)
        if exit_all:
            qty = -market.round_amount(holdings.get(asset, ZERO))
        if abs(qty) < market.min_amount or (abs(qty) * price < inp.min_trade_quote and not exit_all):
            if qty != 0:
                skipped.append(Skipped(asset, f"{abs(qty) * price:.2f} below the minimum trade"))
            continue
        wanted.append((asset, Side.towards(qty), abs(qty)))
    sells = [w for w in wanted if w[1] == Side.SELL]
    buys = [w for w in wanted if w[1] == Side.BUY]
    rate = inp.fees.maker if inp.order_type is Liquidity.MAKER else inp.fees.taker
    cash = value_of.get(inp.quote_asset, ZERO)
    cash += sum((q * _est_price(inp, a, Side.SELL, q)[0] * (1 - rate) for a, _, q in sells), ZERO)
    need = sum((q * _est_price(inp, a, Side.BUY, q)[0] * (1 + rate) for a, _, q in buys), ZERO)
    if need > cash and need > 0:
        scale = cash / need
        buys = [(a, s, inp.markets[a].round_amount(q * scale)) for a, s, q in buys]
        buys = [b for b in buys if b[2] >= inp.markets[b[0]].min_amount]
    pid = plan_id(uid, seq)
    orders: list[AllocationOrder] = []
    fees = slippage = ZERO
    beyond = False
    for batch, group in enumerate((sells, buys)):
        for asset, side, qty in group:
            market = inp.markets[asset]
            taken = ZERO  # what this order's earlier slices took from the book
            for part in slice_qty(qty, inp.prices[asset], inp.max_order_quote, market, market.min_amount,
                                  slices_per_leg(len(sells) + len(buys))):
                if len(orders) >= MAX_ORDERS:  # client order ids have room for 100 orders a plan
                    skipped.append(Skipped(asset, f"plan full at {MAX_ORDERS} orders: the rest trades next cycle"))
                    break
                est, complete = _est_price(inp, asset, side, part, taken)
                taken += part
                beyond = beyond or not complete
                fee, slip = part * est * rate, part * abs(est - inp.prices[asset])
                fees += fee
                slippage += slip
                slot = len(orders)
                attempt = "m" if inp.order_type is Liquidity.MAKER else "t"
                orders.append(AllocationOrder(slot, batch, asset, market.symbol, side, part, inp.order_type, est,
                                              client_order_id(pid, slot, attempt), inp.prices[asset], fee, slip))
    return AllocationPlan(pid, seq, tuple(orders), tuple(skipped), total, fees, slippage, beyond)


def cost_verdict(plan: AllocationPlan, max_cost_ratio: Decimal, *, exit_all: bool) -> GateVerdict:
    """A plan whose forecast cost is above the tolerance waits; an emergency exit never does."""
    if not plan.orders:
        return GateVerdict(False, "NothingToTrade", "; ".join(f"{s.asset}: {s.reason}" for s in plan.skipped))
    if not exit_all and plan.cost_ratio > max_cost_ratio:
        return GateVerdict(False, "CostTooHigh", f"forecast cost {plan.est_cost_quote:.2f} is "
                           f"{plan.cost_ratio:.3%} of the book (tolerance {max_cost_ratio:.3%})")
    return GateVerdict(True)


def as_rebalance_plan(plan: AllocationPlan, quotes: Mapping[str, Quote], markets: Mapping[str, MarketRules], *,
                      now: datetime, urgency: Urgency, reason: Reason) -> RebalancePlan:
    """The allocation plan in the form execution, the risk gate and manual approval share with hedge plans:
    maker orders priced at the touch on the tick grid (buy at the bid, sell at the ask), as the hedge planner
    prices them. `quotes` and `markets` are keyed by asset."""
    orders = []
    for o in plan.orders:
        price = None
        if o.type is Liquidity.MAKER:
            q = quotes[o.asset]
            price = markets[o.asset].passive_price(q.bid if o.side == Side.BUY else q.ask, o.side)
        orders.append(PlannedOrder(o.slot, o.asset, o.symbol, o.side, o.amount, o.type, price, o.client_order_id,
                                   o.est_price))
    return RebalancePlan(plan.plan_id, plan.seq, now, urgency, (reason,), tuple(orders), plan.skipped,
                         plan.est_cost_quote)


def fit_to_cash(orders: Sequence[PlannedOrder], cash: Decimal, markets: Mapping[str, MarketRules],
                fee_rate: Decimal) -> tuple[PlannedOrder, ...]:
    """The buys of a plan's second batch, scaled down together to the cash the sells actually left (a sell
    may have filled below its forecast); orders that fall below their market's minimum are dropped."""
    need = sum((o.amount * o.est_price * (1 + fee_rate) for o in orders), ZERO)
    if need <= cash or need == 0:
        return tuple(orders)
    scale = max(cash, ZERO) / need
    out = []
    for o in orders:
        amount = markets[o.asset].round_amount(o.amount * scale)
        if amount >= markets[o.asset].min_amount and amount > 0:
            out.append(PlannedOrder(o.slot, o.asset, o.symbol, o.side, amount, o.type, o.price, o.client_order_id,
                                    o.est_price))
    return tuple(out)

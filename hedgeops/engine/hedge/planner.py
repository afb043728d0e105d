"""Turn a trigger decision into orders: rounded to the market, never below the minimum, maker for
normal and taker for emergency."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hedgeops.api.policy import OrderStyle, RebalanceTo
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.common.slicing import slice_qty, slices_per_leg
from hedgeops.engine.hedge.bands import Thresholds
from hedgeops.engine.hedge.exposure import AssetExposure, BookExposure
from hedgeops.engine.hedge.triggers import Reason, TriggerDecision, Urgency
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import Liquidity, Side

ZERO = Decimal(0)




@dataclass(frozen=True)
class PlannedOrder:
    """One order of a plan; `slot` numbers the plan's orders and names its client order id."""

    slot: int
    asset: str
    symbol: str
    side: Side
    amount: Decimal
    type: Liquidity
    price: Decimal | None
    client_order_id: str
    est_price: Decimal

    @property
    def signed_amount(self) -> Decimal:
        return self.side.signed(self.amount)


@dataclass(frozen=True)
class Skipped:
    """An asset left alone, and why."""

    asset: str
    reason: str


@dataclass(frozen=True)
class RebalancePlan:
    """Orders that bring a book back, with their estimated cost."""

    plan_id: str
    seq: int
    created_at: datetime
    urgency: Urgency
    reasons: tuple[Reason, ...]
    orders: tuple[PlannedOrder, ...]
    skipped: tuple[Skipped, ...]
    est_cost_quote: Decimal

    @property
    def reason_code(self) -> str:
        return self.reasons[0].code if self.reasons else "None"


@dataclass(frozen=True)
class PlanInputs:
    """What the planner needs besides the exposure and the decision."""

    legs: Mapping[str, str]  # asset -> symbol
    markets: Mapping[str, MarketRules]
    quotes: Mapping[str, Quote]
    min_order: Mapping[str, Decimal]
    normal_style: OrderStyle
    emergency_style: OrderStyle
    rebalance_to: RebalanceTo
    thresholds: Thresholds
    fees: Fees
    max_order: Mapping[str, Decimal] = field(default_factory=dict)  # largest adjustment per asset per plan
    max_order_quote: Decimal | None = None  # slice orders worth more than this


def _trade_qty(a: AssetExposure, inputs: PlanInputs, market: MarketRules, minimum: Decimal, to_edge: bool,
               shrink: Decimal) -> Decimal:
    """Signed units to trade, on the market's grid.

    Target: all the way back, rounded toward zero (never past the target). BandEdge: just back inside the
    band (shrunk when the total is out of its band, so the total comes back too), rounded away from zero
    and up to the minimum order (rounding toward zero would leave the book a hair outside its band
    forever), but never past the target (measured on the bundled data, letting the minimum order overshoot
    the target costs more than it saves)."""
    full = market.round_amount(-a.net_qty)
    if not to_edge:
        return full
    if not a.price:
        return ZERO
    band = inputs.thresholds.band_for(a.asset).ratio * a.target_notional / a.price
    edge = min(band, abs(a.net_qty) * shrink)
    if abs(a.net_qty) <= edge:
        return ZERO
    qty = market.round_amount_up(-(a.net_qty - edge.copy_sign(a.net_qty)))
    if abs(qty) < minimum:
        qty = minimum.copy_sign(qty)
    return qty if abs(qty) <= abs(full) else full


def _total_shrink(exposure: BookExposure, decision: TriggerDecision, thresholds: Thresholds) -> Decimal:
    """When the total is what broke its band, every asset's edge is scaled by band ÷ total so that the
    total lands back inside; otherwise 1 (each asset just back to its own edge)."""
    total = exposure.total_deviation
    if total > thresholds.total.ratio and any(r.code == "TotalDeviation" for r in decision.reasons):
        return thresholds.total.ratio / total
    return Decimal(1)


def plan_rebalance(
    *, book_uid: str, seq: int, now: datetime, exposure: BookExposure, decision: TriggerDecision,
    inputs: PlanInputs,
) -> RebalancePlan:
    """The plan for one decision. Assets without a leg, a market or a quote are skipped with a reason."""
    pid = plan_id(book_uid, seq)
    style = inputs.emergency_style if decision.urgency is Urgency.EMERGENCY else inputs.normal_style
    order_type = Liquidity.MAKER if style is OrderStyle.MAKER else Liquidity.TAKER
    orders: list[PlannedOrder] = []
    skipped: list[Skipped] = []
    cost = ZERO
    # Emergencies go all the way back: the point is to remove the risk, not to save the last fee.
    to_edge = inputs.rebalance_to is RebalanceTo.BAND_EDGE and decision.urgency is not Urgency.EMERGENCY
    shrink = _total_shrink(exposure, decision, inputs.thresholds) if to_edge else Decimal(1)
    per_leg = slices_per_leg(sum(1 for a in exposure.assets if a.asset in inputs.legs))
    for a in exposure.assets:
        symbol = inputs.legs.get(a.asset)
        if symbol is None:
            skipped.append(Skipped(a.asset, "no leg"))
            continue
        market, quote = inputs.markets.get(symbol), inputs.quotes.get(symbol)
        if market is None or quote is None:
            skipped.append(Skipped(a.asset, f"no market data for {symbol}"))
            continue
        minimum = max(inputs.min_order.get(a.asset, ZERO), market.min_amount)
        qty = _trade_qty(a, inputs, market, minimum, to_edge, shrink)
        if qty == 0 or abs(qty) < minimum:
            if qty != 0 or a.net_qty != 0:
                skipped.append(Skipped(a.asset, f"{abs(qty)} below minimum order {minimum}"))
            continue
        cap = inputs.max_order.get(a.asset)
        if cap is not None and abs(qty) > cap:
            # Seed 001's maximum adjustment: trade the cap now, the rest on later cycles.
            qty = market.round_amount(cap).copy_sign(qty)
            skipped.append(Skipped(a.asset, f"clipped to maxOrder {cap}: the rest trades on later cycles"))
        side = Side.towards(qty)
        touch, far = (quote.bid, quote.ask) if side == Side.BUY else (quote.ask, quote.bid)
        price = market.passive_price(touch, side) if order_type is Liquidity.MAKER else None
        est = price if price is not None else far
        rate = inputs.fees.maker if order_type is Liquidity.MAKER else inputs.fees.taker
        for part in slice_qty(abs(qty), est, inputs.max_order_quote, market, minimum, per_leg):
            cost += part * est * rate
            # Client ids number the plan's orders in order (a slot, not the book's leg): slices need their own.
            slot = len(orders)
            orders.append(PlannedOrder(slot, a.asset, symbol, side, part, order_type, price,
                                       client_order_id(pid, slot, "m" if order_type is Liquidity.MAKER else "t"),
                                       est))
    return RebalancePlan(pid, seq, now, decision.urgency, decision.reasons, tuple(orders), tuple(skipped), cost)

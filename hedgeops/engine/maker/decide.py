"""Seed 003's market-making cycle: position lines (the seed's table), stop-loss and take-profit on
unrealised PnL, duration, and the quotes to rest. Pure: the runtime places what this returns."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from hedgeops.api.marketmaker import MarketMakerSpec
from hedgeops.engine.common.errors import RedLineError
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.common.pnl import LegBook
from hedgeops.engine.common.redlines import check_not_averaging_down, check_stop
from hedgeops.engine.maker.quotes import MakerQuote, ladder
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import Side

ZERO = Decimal(0)
CLOSE_LEG = 99


@dataclass(frozen=True)
class PositionAction:
    """What the position lines ask for: nothing, Reduce (to the threshold line) or RiskClose (to max)."""

    kind: str  # None | Reduce | RiskClose
    qty: Decimal = ZERO  # units to trade, positive
    side: Side | None = None  # None when there is nothing to do


def reduces(position: Decimal, signed_qty: Decimal) -> bool:
    """Whether an order only takes from the position (never through zero): what reduce-only lets through."""
    return position != 0 and (position > 0) != (signed_qty > 0) and abs(signed_qty) <= abs(position)


def position_action(position: Decimal, target: Decimal, threshold: Decimal, max_position: Decimal) -> PositionAction:
    """The seed's table: inside target ± threshold nothing; beyond it reduce only the excess over the
    threshold line; beyond maxPosition risk-close down to maxPosition."""
    if abs(position) > max_position:
        return PositionAction("RiskClose", abs(position) - max_position, Side.towards(-position))
    excess = position - target
    if abs(excess) > threshold:
        return PositionAction("Reduce", abs(excess) - threshold, Side.towards(-excess))
    return PositionAction("None")


@dataclass(frozen=True)
class MakerLedger:
    """Inventory at average cost, fees and volumes since the start."""

    inventory: LegBook = field(default_factory=LegBook)
    fees_quote: Decimal = ZERO
    bought: Decimal = ZERO
    sold: Decimal = ZERO

    def apply_fill(self, side: Side, qty: Decimal, price: Decimal, fee_quote: Decimal) -> MakerLedger:
        buy = side == Side.BUY
        return replace(self, inventory=self.inventory.fill(qty if buy else -qty, price),
                       fees_quote=self.fees_quote + fee_quote, bought=self.bought + (qty if buy else ZERO),
                       sold=self.sold + (ZERO if buy else qty))

    @property
    def realized_pnl(self) -> Decimal:
        """Realised trading PnL net of fees."""
        return self.inventory.realized - self.fees_quote

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return self.inventory.unrealized(mark)


@dataclass(frozen=True)
class MakerOrder:
    """A market order the position lines, the stops or close-all send."""

    side: Side
    amount: Decimal
    client_order_id: str
    # Reduce-only unless it moves the position away from zero: with a target off zero the line's order can add
    # (flat below a 3 target buys 2), which a venue refuses as reduce-only, every cycle.
    reduce_only: bool = True


@dataclass(frozen=True)
class MakerDecision:
    """One cycle: cancel everything first?, an order that reduces the position, the quotes that should rest."""

    reason: str
    message: str
    cancel_all: bool = False
    close: MakerOrder | None = None
    quotes: tuple[MakerQuote, ...] = ()
    finished: bool = False


def decide_maker(spec: MarketMakerSpec, rules: MarketRules, *, uid: str, cycle: int, now: datetime,
                 started_at: datetime, bid: Decimal, ask: Decimal, position: Decimal,
                 unrealized_pnl: Decimal, halted: bool = False) -> MakerDecision:
    """Order of precedence: red line, halt/pause, duration, stop-loss, take-profit, position lines, quotes."""
    check_stop(spec.stopLossQuote, "MarketMaker")
    if halted:
        return MakerDecision("Halted", "hedgeops.io/halt is set: quotes cancelled", cancel_all=True)
    if spec.paused:
        return MakerDecision("Paused", "spec.paused is true: quotes cancelled", cancel_all=True)
    if spec.durationSeconds is not None and (now - started_at).total_seconds() >= spec.durationSeconds:
        return MakerDecision("Finished", f"ran its {spec.durationSeconds}s: quotes cancelled, position "
                             f"{position} left as is", cancel_all=True, finished=True)
    pid = plan_id(uid, cycle)
    close_id = client_order_id(pid, CLOSE_LEG, "t")
    if position != 0:
        flat_side = Side.towards(-position)
        if unrealized_pnl <= spec.stopLossQuote:
            return MakerDecision("StopLoss", f"unrealised {unrealized_pnl:.4f} ≤ {spec.stopLossQuote}: cancel all, "
                                 "close at market, carry on", True,
                                 MakerOrder(flat_side, abs(position), close_id))
        if spec.takeProfitQuote is not None and unrealized_pnl >= spec.takeProfitQuote:
            return MakerDecision("TakeProfit", f"unrealised {unrealized_pnl:.4f} ≥ {spec.takeProfitQuote}: "
                                 "cancel all, close at market, carry on", True,
                                 MakerOrder(flat_side, abs(position), close_id))
    action = position_action(position, spec.targetPosition, spec.positionThreshold, spec.maxPosition)
    close = None
    refused: RedLineError | None = None
    after = position
    if action.kind != "None" and action.side is not None:
        qty = rules.round_amount_up(action.qty)
        qty = min(qty, rules.round_amount(abs(position))) if action.kind == "RiskClose" else qty
        if qty >= rules.min_amount:
            signed = action.side.signed(qty)
            try:
                # With a target off zero, the line's order can add to the position (long 0.1 below a 0.3
                # target buys): never while that position is losing.
                check_not_averaging_down(position, unrealized_pnl, signed, f"MarketMaker {action.kind}")
            except RedLineError as exc:
                refused = exc
            else:
                close = MakerOrder(action.side, qty, close_id, reduce_only=reduces(position, signed))
                after = position + signed
    quotes = ladder(spec, rules, bid, ask, after, unrealized_pnl)
    if refused is not None:
        return MakerDecision(refused.rule, f"{refused}; not sent, quoting only", quotes=quotes)
    reason = action.kind if close is not None else "Quoting"
    message = (f"{action.kind}: {close.side} {close.amount} (position {position}, target {spec.targetPosition}, "
               f"threshold {spec.positionThreshold}, max {spec.maxPosition})" if close is not None
               else f"{len(quotes)} quotes around {(bid + ask) / 2}")
    return MakerDecision(reason, message, close is not None and action.kind == "RiskClose", close, quotes)

"""Seed 003's quotes: layers around the mid, leaning against inventory, never past the position lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from hedgeops.api.marketmaker import MarketMakerSpec
from hedgeops.engine.common.redlines import increases
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import Side

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True)
class MakerQuote:
    """One resting post-only quote: layer 0 is nearest the mid."""

    side: Side
    layer: int
    price: Decimal
    amount: Decimal


def skew_ratio(spec: MarketMakerSpec, position: Decimal) -> Decimal:
    """How far both quotes move, as a ratio of mid: inventorySkew × spread × (position − target) ÷
    maxPosition, clamped to ±1 of that. Positive when long: the quotes move down, so sells fill first."""
    lean = (position - spec.targetPosition) / spec.maxPosition
    lean = max(min(lean, ONE), -ONE)
    return spec.inventorySkew * spec.spreadRatio * lean


def _capacity(spec: MarketMakerSpec, position: Decimal, side: Side) -> Decimal:
    """Units a side may still fill before the position crosses its threshold line (target ± threshold)."""
    if side == Side.BUY:
        return spec.targetPosition + spec.positionThreshold - position
    return position - (spec.targetPosition - spec.positionThreshold)


def ladder(spec: MarketMakerSpec, rules: MarketRules, bid: Decimal, ask: Decimal, position: Decimal,
           unrealized_pnl: Decimal) -> tuple[MakerQuote, ...]:
    """Up to maxOrders quotes a side at mid × (1 ∓ spread × (layer + 1)), shifted by the skew and rounded
    away from the spread. A side is quoted only while its fills keep the position inside the threshold line,
    and not at all when it would add to a losing position (no averaging down)."""
    mid = (bid + ask) / 2
    center = mid * (1 - skew_ratio(spec, position))
    amount = rules.round_amount(spec.quantity)
    if amount < rules.min_amount:
        return ()
    out: list[MakerQuote] = []
    for side in Side:
        signed = side.signed(amount)
        buy = side == Side.BUY
        if unrealized_pnl < 0 and position != 0 and increases(position, signed):
            continue
        room = _capacity(spec, position, side)
        for layer in range(spec.maxOrders):
            if amount * (layer + 1) > room:
                break
            step = spec.spreadRatio * (layer + 1)
            raw = center * (1 - step) if buy else center * (1 + step)
            # Post-only must never cross: a skewed bid stays below the ask, a skewed ask above the bid.
            raw = min(raw, ask - rules.price_step) if buy else max(raw, bid + rules.price_step)
            out.append(MakerQuote(side, layer, rules.passive_price(raw, side), amount))
    return tuple(out)


@dataclass(frozen=True)
class Resting:
    """A quote the venue holds for us."""

    client_order_id: str
    side: Side
    price: Decimal
    amount: Decimal


def diff_quotes(resting: Iterable[Resting], desired: Iterable[MakerQuote]) -> tuple[tuple[str, ...],
                                                                                   tuple[MakerQuote, ...]]:
    """What to cancel and what to place so that exactly `desired` rests: quotes already resting at the same
    side, price and amount are kept (no cancel/replace churn, no lost queue position)."""
    want = list(desired)
    cancel: list[str] = []
    for r in resting:
        match = next((q for q in want if (q.side, q.price, q.amount) == (r.side, r.price, r.amount)), None)
        if match is None:
            cancel.append(r.client_order_id)
        else:
            want.remove(match)
    return tuple(cancel), tuple(want)

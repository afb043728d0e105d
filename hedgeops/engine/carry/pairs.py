"""A FundingArbitrage's pairs between the machine and the status: each pair's memory (machine and wallets) as
fills and settlements change it, the object's one breaker over all its pairs, and the status figures rolled up
from the pairs. Pure: the runtime's cycle observes and executes, this keeps the books.

Wallets: OKX's unified account (and the paper venues) keep spot and perp collateral in one trading wallet, so
the seed's spot/derivatives split is this object's own ledger (`spotWalletQuote`, `collateralQuote` per pair):
a Transfer moves the line between them; no exchange call is needed or made."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from hedgeops.api.funding import BreakerStatus, CarryLegStatus, CarryPair, FundingArbitrageSpec, Phase
from hedgeops.engine.carry.codec import (
    breaker_doc,
    decode,
    decode_breaker,
    encode,
    funding_marks,
    shared_breaker,
    with_funding,
)
from hedgeops.engine.carry.intent import CarryIntent
from hedgeops.engine.carry.ledger import Breaker
from hedgeops.engine.carry.machine import CarryState, Transfer
from hedgeops.engine.carry.rules import carry_capital, margin_ratio, next_funding_time
from hedgeops.model.orders import OrderState, Side

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")
# The object's phase is its most pressing pair's: a halt or a plan in flight before a steady position.
PHASE_ORDER = (Phase.HALTED, Phase.CLOSING, Phase.OPENING, Phase.REBALANCING, Phase.OPEN, Phase.CLOSED, Phase.IDLE)


def q8(x: Decimal) -> Decimal:
    return x.quantize(Q8, rounding=ROUND_HALF_EVEN)


def slots(spec: FundingArbitrageSpec) -> int:
    """How many pairs the capital is split over: the listed pairs, or autoSelect's maximum (so a pair's share
    does not change as the selection does)."""
    return spec.autoSelect.maxSymbols if spec.autoSelect is not None else len(spec.pairs)


@dataclass
class PairMemory:
    """A pair's engine state and its two wallets, changed as actions execute."""

    state: CarryState
    spot_wallet: Decimal
    collateral: Decimal

    @staticmethod
    def of(leg: CarryLegStatus | None, spec: FundingArbitrageSpec) -> PairMemory:
        """The pair as its status left it, or a fresh machine with its share of the capital."""
        if leg is not None and leg.machine:
            return PairMemory(decode(leg.machine), leg.spotWalletQuote, leg.collateralQuote)
        cap, n, amount = spec.capital, slots(spec), carry_capital(spec)
        return PairMemory(CarryState(), amount * cap.spotRatio / n, amount * cap.perpRatio / n)

    @staticmethod
    def recovered(intent: CarryIntent) -> PairMemory:
        """The pair as a cut-short plan decided it, before any of its fills are booked."""
        return PairMemory(intent.state, intent.spotWallet, intent.collateral)

    def apply(self, leg: str, order: OrderState) -> None:
        """Book a fill: the ledger learns it, the spot wallet pays for spot, the collateral takes perp PnL."""
        if order.filled <= 0 or order.average is None:
            return
        signed = order.filled if order.side == Side.BUY else -order.filled
        before = self.state.ledger.perp.realized
        self.state = replace(self.state, ledger=self.state.ledger.apply_fill(leg, signed, order.average,
                                                                             order.fee_quote))
        if leg == "spot":
            self.spot_wallet -= signed * order.average + order.fee_quote
        else:
            self.collateral += self.state.ledger.perp.realized - before - order.fee_quote

    def transfer(self, t: Transfer) -> None:
        """Move the line between the spot wallet and the perp collateral."""
        sign = 1 if t.to == "derivatives" else -1
        self.spot_wallet -= sign * t.amount
        self.collateral += sign * t.amount

    def leg_status(self, pair: CarryPair, *, spot_qty: Decimal, perp_qty: Decimal, reason: str | None,
                   message: str | None, spot_mark: Decimal, mark: Decimal, leverage: Decimal,
                   next_at: datetime | None, booked: datetime | None) -> CarryLegStatus:
        """The pair as the status reports it, its machine and funding marks included."""
        led = self.state.ledger
        basis = (led.perp.entry - led.spot.entry) / led.spot.entry if led.spot.entry and led.perp.entry else None
        ratio = margin_ratio(self.collateral + led.perp.unrealized(mark), perp_qty, mark, leverage)
        return CarryLegStatus(
            spot=pair.spot, perp=pair.perp, spotQty=spot_qty, perpQty=perp_qty,
            entryBasisRatio=None if basis is None else q8(basis), phase=self.state.phase, reason=reason,
            message=message, fundingEarnedQuote=q8(led.funding_quote), feesQuote=q8(led.fees_quote),
            pnlQuote=q8(led.total_pnl(spot_mark, mark)), marginRatio=None if ratio is None else q8(ratio),
            spotWalletQuote=q8(self.spot_wallet), collateralQuote=q8(self.collateral),
            machine=with_funding(encode(self.state), next_at, booked))


def object_breaker(legs: list[CarryLegStatus]) -> Breaker:
    """The object's breaker from its pairs' machines: the shared copy, or (statuses written while each pair kept
    its own) all of them combined once."""
    shared = [decode_breaker(leg.machine) for leg in legs if shared_breaker(leg.machine)]
    if shared:
        return max(shared, key=lambda b: b.day)
    merged = Breaker()
    for leg in legs:
        merged = merged.combine(decode_breaker(leg.machine))
    return merged


def share_breaker(leg: CarryLegStatus, breaker: Breaker) -> CarryLegStatus:
    """The leg with the object's breaker in its machine (its funding marks and the rest kept as written)."""
    if not leg.machine:  # a pair that never ran: a fresh machine carrying the object's breaker
        nxt, booked = funding_marks(leg.machine)
        return leg.model_copy(update={"machine": with_funding(encode(CarryState(breaker=breaker)), nxt, booked)})
    wanted = breaker_doc(breaker)
    if leg.machine.get("breaker") == wanted:
        return leg
    return leg.model_copy(update={"machine": {**leg.machine, "breaker": wanted}})


def totals(legs: list[CarryLegStatus], breaker: Breaker, now: datetime) -> dict[str, Any]:
    """The object's status figures over its pairs."""
    ratios = [leg.marginRatio for leg in legs if leg.marginRatio is not None]
    settlements = [t for t in (funding_marks(leg.machine)[0] for leg in legs) if t is not None]
    return {
        "phase": next((p for p in PHASE_ORDER if any(leg.phase is p for leg in legs)), Phase.IDLE),
        "fundingEarnedQuote": q8(sum((leg.fundingEarnedQuote for leg in legs), ZERO)),
        "feesQuote": q8(sum((leg.feesQuote for leg in legs), ZERO)),
        # total = funding − fees + basis, so the basis is what the total has beyond funding and fees
        "basisPnlQuote": q8(sum((leg.pnlQuote - leg.fundingEarnedQuote + leg.feesQuote for leg in legs), ZERO)),
        "pnlQuote": q8(sum((leg.pnlQuote for leg in legs), ZERO)),
        "marginRatio": min(ratios) if ratios else None,
        # the venue's own next settlement where it told us (its clock may not be ours)
        "nextFundingTime": min(settlements) if settlements else next_funding_time(now),
        "breaker": BreakerStatus(tripped=breaker.tripped, consecutiveLosses=breaker.consecutive_losses,
                                 dailyLossQuote=q8(breaker.daily_loss_quote)),
    }


def trip_message(breaker: Breaker, spec: FundingArbitrageSpec) -> str:
    """Why the breaker just tripped, for the event."""
    limits = spec.circuitBreaker
    why = (f"{breaker.consecutive_losses} losing closes in a row over all pairs (limit "
           f"{limits.maxConsecutiveLosses})" if breaker.reason == "ConsecutiveLosses" else
           f"{breaker.daily_loss_quote:.2f} lost today over all pairs (limit {limits.dailyLossLimitQuote})")
    return f"circuit breaker tripped: {why}; open pairs are closed and none opens until it clears"


def breaker_condition(breaker: Breaker, pairs: int) -> tuple[bool, str, str]:
    """The BreakerTripped condition's status, reason and message."""
    if not breaker.tripped:
        return False, "Armed", ""
    return True, breaker.reason or "Tripped", (f"over all {pairs} pair(s): {breaker.consecutive_losses} losing "
                                               f"close(s) in a row, {breaker.daily_loss_quote:.2f} lost on "
                                               f"{breaker.day}")

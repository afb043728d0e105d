"""Seed 004's state machine for one spot/perp pair: Idle → Opening → Open → Rebalancing → Closing → Closed,
and any phase → Halted. `step` is pure: state, spec and observations in, the next state and the actions out.

Leg risk: both legs are sent as taker orders in one plan, and a plan that left one leg filled and the
other not is never waited on: the next step completes the lagging leg (while entry still holds, at most
MAX_COMPLETE_ATTEMPTS times) or unwinds what was filled."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from hedgeops.api.funding import FundingArbitrageSpec, Phase
from hedgeops.engine.carry.ledger import Breaker, CarryLedger
from hedgeops.engine.carry.rules import (
    CarryAccount,
    CarryMarket,
    Check,
    entry_qty,
    funding_in_range,
    is_flat,
    leg_deviation,
    liquidity_ok,
    margin_ratio,
)
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.common.redlines import check_leverage, check_stop
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import Side

ZERO = Decimal(0)
MAX_COMPLETE_ATTEMPTS = 2
LEGS = {"spot": 0, "perp": 1}


@dataclass(frozen=True)
class LegOrder:
    """A taker order on one leg."""

    leg: str  # spot | perp
    symbol: str
    side: Side
    qty: Decimal
    reduce_only: bool
    client_order_id: str


@dataclass(frozen=True)
class Transfer:
    """Move quote between the spot and the derivatives wallet."""

    to: str  # derivatives | spot
    amount: Decimal


@dataclass(frozen=True)
class CancelAll:
    """Cancel every open order of the pair before anything else."""


Action = LegOrder | Transfer | CancelAll


@dataclass(frozen=True)
class CarryState:
    """What the machine remembers between steps (kept in the object's status)."""

    phase: Phase = Phase.IDLE
    target_qty: Decimal = ZERO  # units per leg the position aims at
    seq: int = 0  # plans made so far: client order ids derive from it
    complete_attempts: int = 0
    negative_funding_streak: int = 0
    ledger: CarryLedger = field(default_factory=CarryLedger)
    breaker: Breaker = field(default_factory=Breaker)


@dataclass(frozen=True)
class Step:
    """The machine's answer: where it goes, why, and what to do."""

    state: CarryState
    reason: str
    message: str
    actions: tuple[Action, ...] = ()

    @property
    def phase(self) -> Phase:
        return self.state.phase


@dataclass(frozen=True)
class Inputs:
    """Everything one step looks at besides the state."""

    spec: FundingArbitrageSpec
    market: CarryMarket
    account: CarryAccount
    uid: str
    now: datetime
    notional: Decimal  # quote per leg for this pair (carry_rules.pair_notional)
    halt: str | None = None  # a reason when halted by the user, the cluster or a system error
    reset_breaker: bool = False
    close: bool = False  # close-all requested: flatten both legs (perp reduce-only) and stay flat


def settle_funding(state: CarryState, perp_qty: Decimal, mark: Decimal, rate: Decimal) -> CarryState:
    """A funding settlement: book the payment and count consecutive negative rates (an exit rule)."""
    streak = state.negative_funding_streak + 1 if rate < 0 else 0
    return replace(state, ledger=state.ledger.apply_funding(perp_qty, mark, rate), negative_funding_streak=streak)


def book_funding(state: CarryState, amount: Decimal) -> CarryState:
    """A settlement as the venue booked it: `amount` received (+) or paid (−). The carry is short the perp, so
    paying means the rate was negative: that counts towards the negative-funding exit."""
    streak = state.negative_funding_streak + 1 if amount < 0 else 0
    return replace(state, ledger=replace(state.ledger, funding_quote=state.ledger.funding_quote + amount),
                   negative_funding_streak=streak)


def _orders(state: CarryState, inp: Inputs, legs: list[tuple[str, Side, Decimal, bool]]) -> tuple[CarryState,
                                                                                               tuple[Action, ...]]:
    """Orders of one plan with deterministic client ids; the plan sequence advances once."""
    pid = plan_id(inp.uid, state.seq + 1)
    out: list[Action] = []
    for leg, side, qty, reduce in legs:
        if qty <= 0:
            continue
        symbol = inp.market.spot.symbol if leg == "spot" else inp.market.perp.symbol
        out.append(LegOrder(leg, symbol, side, qty, reduce, client_order_id(pid, LEGS[leg], "t")))
    return replace(state, seq=state.seq + 1), tuple(out)


def _close(state: CarryState, inp: Inputs, reason: str, message: str) -> Step:
    """Close both legs (reduce-only), cancelling anything still open first."""
    closing = replace(state, phase=Phase.CLOSING, complete_attempts=0)
    if inp.account.open_orders:
        return Step(closing, reason, message, (CancelAll(),))
    a, m = inp.account, inp.market
    closing, orders = _orders(closing, inp, [
        ("spot", Side.SELL, m.spot.round_amount(a.spot_qty), False),
        ("perp", Side.towards(-a.perp_qty), m.perp.round_amount(abs(a.perp_qty)), True),
    ])
    return Step(closing, reason, message, orders)


def _entry_checks(state: CarryState, inp: Inputs, qty: Decimal) -> Check:
    if state.breaker.tripped:
        return Check(False, "BreakerTripped", f"circuit breaker tripped ({state.breaker.reason})")
    if inp.spec.paused:
        return Check(False, "Paused", "spec.paused is true: observing only")
    rate = funding_in_range(inp.spec, inp.market.funding_rate)
    if not rate.ok:
        return rate
    if qty <= 0:
        return Check(False, "TooSmall", f"{inp.notional:.2f} per leg is below the markets' minimum order")
    return liquidity_ok(inp.spec, inp.market, qty)


def _idle(state: CarryState, inp: Inputs) -> Step:
    a, m, spec = inp.account, inp.market, inp.spec
    if not is_flat(a, m):
        return Step(state, "ExistingPosition",
                    f"spot {a.spot_qty} / perp {a.perp_qty} already held: entry needs no existing position")
    qty = entry_qty(m, inp.notional)
    check = _entry_checks(state, inp, qty)
    if not check.ok:
        return Step(state, check.reason, check.message)
    ask, mark = m.spot_book.asks[0][0], m.mark_price
    gap = _margin_gap(inp, qty)
    if a.free_quote < qty * ask * (1 + spec.liquidity.maxSlippageRatio) + gap:
        # The wallet holds less than the capital split gives this pair (an earlier loss, fees): enter with what
        # it can pay for, legs and margin alike, rather than waiting for ever on a size it will never have.
        leg_price = ask * (1 + spec.liquidity.maxSlippageRatio)
        # Either the derivatives wallet already holds the margin (the spot leg is all the wallet pays for), or
        # it does not and the wallet moves the difference first: the largest size either way allows.
        covered = min(a.free_quote / leg_price, a.perp_equity * spec.leverage / mark)
        funded = (a.free_quote + a.perp_equity) / (leg_price + mark / spec.leverage)
        if funded * mark / spec.leverage <= a.perp_equity:
            funded = ZERO  # that size would need no transfer: it is the first case, already counted
        smaller = entry_qty(m, min(qty, max(covered, funded)) * ask)
        check = _entry_checks(state, inp, smaller) if smaller > 0 else check
        smaller_gap = _margin_gap(inp, smaller)
        if smaller <= 0 or not check.ok or \
                a.free_quote < smaller * ask * (1 + spec.liquidity.maxSlippageRatio) + smaller_gap:
            return Step(state, "InsufficientBalance",
                        f"spot wallet {a.free_quote:.2f} cannot buy {qty} at {ask} and fund margin {gap:.2f}, nor "
                        "the markets' minimum order")
        qty, gap = smaller, smaller_gap
    margin_needed = qty * mark / spec.leverage
    opening = replace(state, phase=Phase.OPENING, target_qty=qty, complete_attempts=0,
                      negative_funding_streak=0,
                      ledger=CarryLedger(capital_quote=qty * ask + margin_needed))
    opening, orders = _orders(opening, inp, [("spot", Side.BUY, qty, False), ("perp", Side.SELL, qty, False)])
    transfers: tuple[Action, ...] = (Transfer("derivatives", gap),) if gap > 0 else ()
    return Step(opening, "Entry", f"funding {m.funding_rate:.4%}: long {qty} spot, short {qty} perp",
                transfers + orders)


def _margin_gap(inp: Inputs, qty: Decimal) -> Decimal:
    """What must move to the derivatives wallet before entering `qty`: margin must be sufficient (ratio ≥
    minMarginRatio once open); if it is not, what brings it to 1."""
    margin_needed = qty * inp.market.mark_price / inp.spec.leverage
    short = inp.account.perp_equity < margin_needed * inp.spec.entry.minMarginRatio
    return margin_needed - inp.account.perp_equity if short else ZERO


def _legs_match(spot: Decimal, perp: Decimal, target: Decimal, tolerance: Decimal) -> bool:
    return spot >= target * (1 - tolerance) and perp >= target * (1 - tolerance) and \
        leg_deviation(spot, -perp) <= tolerance


def _opening(state: CarryState, inp: Inputs) -> Step:
    a, m, tol = inp.account, inp.market, inp.spec.rebalance.legDeviationRatio
    if a.open_orders:
        return Step(state, "CancelBeforeCompleting", "orders still open: cancel, then complete or unwind",
                    (CancelAll(),))
    spot, perp = a.spot_qty, -a.perp_qty
    if _legs_match(spot, perp, state.target_qty, tol):
        return Step(replace(state, phase=Phase.OPEN, complete_attempts=0), "Opened",
                    f"both legs open: spot {spot}, perp {a.perp_qty}")
    if is_flat(a, m):
        return Step(replace(state, phase=Phase.IDLE, target_qty=ZERO, ledger=CarryLedger()), "EntryNotFilled",
                    "neither leg filled")
    still_valid = _entry_checks(state, inp, state.target_qty)
    if still_valid.ok and inp.halt is None and state.complete_attempts < MAX_COMPLETE_ATTEMPTS:
        nxt = replace(state, complete_attempts=state.complete_attempts + 1)
        nxt, orders = _orders(nxt, inp, [
            ("spot", Side.BUY, m.spot.round_amount(state.target_qty - spot), False),
            ("perp", Side.SELL, m.perp.round_amount(state.target_qty - perp), False),
        ])
        if orders:
            return Step(nxt, "CompleteLegs", f"legs unequal (spot {spot}, perp {a.perp_qty}): completing", orders)
    why = still_valid.message if not still_valid.ok else "completing failed twice"
    return _close(state, inp, "UnwindLegs", f"legs unequal (spot {spot}, perp {a.perp_qty}) and {why}: unwinding")


def _margin_actions(state: CarryState, inp: Inputs, ratio: Decimal, pnl: Decimal) -> Step | None:
    """Top up when margin runs low; compound when a fall has left excess margin, and only while the pair as
    a whole is in profit: adding to a losing position is averaging down, a red line."""
    a, m, spec = inp.account, inp.market, inp.spec
    im = abs(a.perp_qty) * m.mark_price / spec.leverage
    if ratio < spec.rebalance.topUpMarginRatio:
        need = im - a.perp_equity  # back to a ratio of 1
        amount = min(need, a.free_quote)
        if amount >= need:
            return Step(state, "MarginTopUp", f"margin ratio {ratio:.2f}: moving {amount:.2f} to derivatives",
                        (Transfer("derivatives", amount),))
        # Not enough quote to top up: shrink both legs until the margin left covers them.
        keep = m.perp.round_amount((a.perp_equity + amount) * spec.leverage / m.mark_price)
        cut = m.perp.round_amount(abs(a.perp_qty) - keep)
        transfers: tuple[Action, ...] = (Transfer("derivatives", amount),) if amount > 0 else ()
        nxt = replace(state, target_qty=keep)
        nxt, orders = _orders(nxt, inp, [("spot", Side.SELL, m.spot.round_amount(cut), False),
                                         ("perp", Side.BUY, cut, True)])
        return Step(nxt, "MarginShortfall", f"margin ratio {ratio:.2f} and only {a.free_quote:.2f} free: "
                    f"reducing both legs by {cut}", transfers + orders)
    compound = spec.rebalance.compoundMarginRatio
    if compound is not None and ratio > compound and pnl >= 0:
        excess = a.perp_equity - im
        ask = m.spot_book.asks[0][0] if m.spot_book.asks else ZERO
        if ask <= 0:
            return None
        add = min(m.spot.round_amount(excess / (ask * (1 + 1 / spec.leverage))),
                  m.perp.round_amount(excess / (ask * (1 + 1 / spec.leverage))))
        if add >= max(m.spot.min_amount, m.perp.min_amount):
            nxt = replace(state, target_qty=state.target_qty + add)
            nxt, orders = _orders(nxt, inp, [("spot", Side.BUY, add, False), ("perp", Side.SELL, add, False)])
            return Step(nxt, "Compound", f"margin ratio {ratio:.2f}: moving profit to spot, adding {add} per leg",
                        (Transfer("spot", add * ask), *orders))
    return None


def _open(state: CarryState, inp: Inputs) -> Step:
    a, m, spec = inp.account, inp.market, inp.spec
    ratio = margin_ratio(a.perp_equity, a.perp_qty, m.mark_price, spec.leverage)
    if ratio is not None and ratio < spec.rebalance.emergencyMarginRatio:
        return _close(state, inp, "EmergencyMargin",
                      f"margin ratio {ratio:.2f} < {spec.rebalance.emergencyMarginRatio}: closing everything")
    spot_mark = m.spot_book.bids[0][0] if m.spot_book.bids else m.mark_price
    pnl = state.ledger.pnl_ratio(spot_mark, m.mark_price)
    if pnl <= spec.exit.stopLossRatio:
        return _close(state, inp, "StopLoss", f"PnL {pnl:.2%} ≤ stop-loss {spec.exit.stopLossRatio:.2%}")
    if pnl >= spec.exit.takeProfitRatio:
        return _close(state, inp, "TakeProfit", f"PnL {pnl:.2%} ≥ take-profit {spec.exit.takeProfitRatio:.2%}")
    if state.negative_funding_streak >= spec.exit.negativeFundingPeriods:
        return _close(state, inp, "NegativeFunding",
                      f"{state.negative_funding_streak} negative funding settlement(s) in a row")
    if ratio is not None:
        margin = _margin_actions(state, inp, ratio, pnl)
        if margin is not None:
            return margin
    dev = leg_deviation(a.spot_qty, a.perp_qty)
    if dev > spec.rebalance.legDeviationRatio:
        want = -a.spot_qty  # the perp follows the spot leg: it is the one that can be trimmed either way
        qty = m.perp.round_amount(abs(want - a.perp_qty))
        if qty >= m.perp.min_amount:
            side = Side.towards(want - a.perp_qty)
            nxt = replace(state, phase=Phase.REBALANCING)
            nxt, orders = _orders(nxt, inp, [("perp", side, qty, side == Side.BUY)])
            return Step(nxt, "LegDeviation", f"legs differ by {dev:.2%}: {side} {qty} perp", orders)
    return Step(replace(state, phase=Phase.OPEN), "Holding", "carrying")


def _closing(state: CarryState, inp: Inputs) -> Step:
    a, m = inp.account, inp.market
    if is_flat(a, m) and not a.open_orders:
        day = inp.now.date().isoformat()
        pnl = state.ledger.total_pnl(m.mark_price, m.mark_price)
        breaker = state.breaker.record_close(pnl, day, inp.spec.circuitBreaker)
        return Step(replace(state, phase=Phase.CLOSED, target_qty=ZERO, breaker=breaker), "Closed",
                    f"both legs closed, round trip PnL {pnl:.2f}")
    return _close(state, inp, "Closing", "closing the remaining legs")


def _holds(state: CarryState, inp: Inputs) -> bool:
    """This machine has a position (or orders) of its own in play: opening, open, rebalancing, or halted over one.
    A position found in Idle is not ours to close."""
    in_play = state.phase in (Phase.OPENING, Phase.OPEN, Phase.REBALANCING) or (
        state.phase is Phase.HALTED and state.target_qty > 0)
    return in_play and (not is_flat(inp.account, inp.market) or inp.account.open_orders > 0)


def watch(state: CarryState, spec: FundingArbitrageSpec, account: CarryAccount, perp: MarketRules,
          spot_mark: Decimal, perp_mark: Decimal) -> str | None:
    """Seed 004's real-time guard (实时监控保证金率) on what the account snapshot alone shows, no book or funding
    call: why an open pair must be stepped now (margin below the top-up or emergency ratio, a stop or target
    reached, funding negative long enough, legs apart, the breaker tripped), or None to wait for the cadence."""
    if state.phase not in (Phase.OPEN, Phase.REBALANCING):
        return None
    ratio = margin_ratio(account.perp_equity, account.perp_qty, perp_mark, spec.leverage)
    if ratio is not None and ratio < spec.rebalance.topUpMarginRatio:
        return "MarginLow"
    pnl = state.ledger.pnl_ratio(spot_mark, perp_mark)
    if pnl <= spec.exit.stopLossRatio or pnl >= spec.exit.takeProfitRatio:
        return "PnLLimit"
    if state.negative_funding_streak >= spec.exit.negativeFundingPeriods:
        return "NegativeFunding"
    apart = abs(account.spot_qty - abs(account.perp_qty))
    if leg_deviation(account.spot_qty, account.perp_qty) > spec.rebalance.legDeviationRatio and \
            perp.round_amount(apart) >= perp.min_amount:
        return "LegDeviation"
    if state.breaker.tripped:
        return "BreakerTripped"
    return None


def step(state: CarryState, inp: Inputs) -> Step:
    """One decision. Red lines first (leverage, stop), then halt, then the phase's own rules."""
    check_leverage(inp.spec.leverage)
    check_stop(inp.spec.exit.stopLossRatio, "FundingArbitrage")
    state = replace(state, breaker=state.breaker.roll(inp.now.date().isoformat()))
    if inp.reset_breaker:
        state = replace(state, breaker=state.breaker.reset())
    if inp.close:  # seed 004's close_all: before the halt, so a halted position can still be flattened
        if state.phase is Phase.CLOSING:
            return _closing(state, inp)
        if is_flat(inp.account, inp.market) and not inp.account.open_orders:
            return Step(replace(state, phase=Phase.CLOSED, target_qty=ZERO), "ClosedAll",
                        "flat; close-all keeps it so until the request is withdrawn")
        return _close(state, inp, "CloseAll", "close-all requested: closing both legs, the perp reduce-only")
    if inp.halt is not None:
        cancel: tuple[Action, ...] = (CancelAll(),) if inp.account.open_orders else ()
        return Step(replace(state, phase=Phase.HALTED), "Halted", inp.halt, cancel)
    phase = state.phase
    if state.breaker.tripped and _holds(state, inp):
        # Seed 004: a trip stops everything (熔断 → close_all → STOPPED). The breaker is the whole object's, so a
        # pair that lost nothing is closed too when its siblings' losses tripped it.
        return _close(state, inp, "BreakerTripped",
                      f"circuit breaker tripped ({state.breaker.reason}): closing, no new positions until it clears")
    if phase is Phase.HALTED:
        if state.breaker.tripped:
            return Step(state, "BreakerTripped", f"circuit breaker tripped ({state.breaker.reason})")
        resumed = Phase.IDLE if is_flat(inp.account, inp.market) else Phase.OPEN
        return Step(replace(state, phase=resumed), "Resumed", f"halt cleared: {resumed.value}")
    if phase is Phase.CLOSED:
        if state.breaker.tripped:
            return Step(replace(state, phase=Phase.HALTED), "BreakerTripped",
                        f"circuit breaker tripped ({state.breaker.reason}): no new positions")
        return _idle(replace(state, phase=Phase.IDLE, ledger=CarryLedger()), inp)
    if phase is Phase.IDLE:
        return _idle(state, inp)
    if phase is Phase.OPENING:
        return _opening(state, inp)
    if phase is Phase.REBALANCING:
        if leg_deviation(inp.account.spot_qty, inp.account.perp_qty) <= inp.spec.rebalance.legDeviationRatio:
            return _open(replace(state, phase=Phase.OPEN), inp)
        return _open(state, inp)
    if phase is Phase.CLOSING:
        return _closing(state, inp)
    return _open(state, inp)

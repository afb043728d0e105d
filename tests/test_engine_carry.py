"""Seed 004's cash-and-carry state machine: entry, leg risk, exits, margin, breaker, halt, red lines."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.api.funding import FundingArbitrageSpec, Phase
from hedgeops.engine.carry.ledger import Breaker, CarryLedger
from hedgeops.engine.carry.machine import CancelAll, CarryState, LegOrder, Transfer, settle_funding
from hedgeops.engine.carry.rules import bootstrap_problems, due_tasks, margin_ratio, next_funding_time
from hedgeops.engine.common.errors import RedLineError
from tests.carry_fixtures import NOW, account, fill, market, run, spec

D = Decimal
P = D(3000)


def orders(step_actions: tuple[object, ...]) -> list[LegOrder]:
    return [a for a in step_actions if isinstance(a, LegOrder)]


def opened() -> tuple[CarryState, object]:
    """A position opened from Idle and filled in full."""
    s = run(CarryState(), account())
    acct = fill(account(), s.actions, P)
    return run(s.state, acct).state, acct


# ---- entry -------------------------------------------------------------------------------------------------

def test_entry_opens_both_legs_equal_with_deterministic_ids() -> None:
    s = run(CarryState(), account())
    assert s.phase is Phase.OPENING and s.reason == "Entry"
    spot, perp = orders(s.actions)
    assert (spot.leg, spot.side, perp.leg, perp.side) == ("spot", "buy", "perp", "sell")
    assert spot.qty == perp.qty == D("1.666") and not spot.reduce_only and not perp.reduce_only
    assert run(CarryState(), account()).actions == s.actions  # same inputs, same client order ids
    assert spot.client_order_id != perp.client_order_id and len(spot.client_order_id) <= 32
    assert s.state.target_qty == D("1.666") and s.state.seq == 1


@pytest.mark.parametrize(("rate", "reason"), [("0.00005", "FundingTooLow"), ("-0.0003", "FundingTooLow"),
                                              ("0.015", "FundingTooHigh")])
def test_entry_needs_funding_within_the_seed_range(rate: str, reason: str) -> None:
    s = run(CarryState(), account(), mkt=market(rate=D(rate)))
    assert (s.phase, s.reason, s.actions) == (Phase.IDLE, reason, ())


def test_entry_at_the_range_edges_is_allowed() -> None:
    for rate in ("0.0001", "0.01"):
        assert run(CarryState(), account(), mkt=market(rate=D(rate))).reason == "Entry"


def test_no_entry_over_an_existing_position() -> None:
    s = run(CarryState(), account(spot="0.5"))
    assert (s.phase, s.reason) == (Phase.IDLE, "ExistingPosition")


def test_liquidity_guard_refuses_thin_books() -> None:
    assert run(CarryState(), account(), mkt=market(depth_units=D("2"))).reason == "ThinBook"
    # Deep enough near the touch in total, but 1.666 ETH walks past the 0.2% slippage allowance.
    thin_top = market(depth_units=D("0.3"))
    assert run(CarryState(), account(), mkt=thin_top, notional=D(5000)).reason in {"ThinBook", "Slippage"}


def test_margin_shortfall_is_funded_from_the_spot_wallet_or_refused() -> None:
    s = run(CarryState(), account(free="12000", equity="1000"))
    transfer = next(a for a in s.actions if isinstance(a, Transfer))
    assert transfer.to == "derivatives" and transfer.amount == D("1.666") * P - 1000
    assert isinstance(s.actions[0], Transfer)  # the margin moves before either leg trades
    # A wallet short of the split (an earlier loss) enters smaller, legs and margin paid in full, never more.
    poor = run(CarryState(), account(free="5500", equity="1000"))
    assert (poor.phase, poor.reason) == (Phase.OPENING, "Entry")
    legs = orders(poor.actions)
    qty = legs[0].qty
    assert 0 < qty < D("1.666") and {o.qty for o in legs} == {qty}
    moved = sum((a.amount for a in poor.actions if isinstance(a, Transfer)), D(0))
    assert qty * P * D("1.002") + moved <= D(5500)  # the spot leg at worst slippage and the margin both paid
    # Margin already in the derivatives wallet, the spot wallet a little short after a loss (the fault suite's
    # partial fill): the spot leg alone shrinks to what the wallet buys.
    short = run(CarryState(), account(free="4985", equity="5000"), notional=D("4990"))
    assert short.reason == "Entry" and not any(isinstance(a, Transfer) for a in short.actions)
    assert orders(short.actions)[0].qty * P * D("1.002") <= D(4985) < D("1.663") * P
    broke = run(CarryState(), account(free="5", equity="0"))
    assert (broke.phase, broke.reason, broke.actions) == (Phase.IDLE, "InsufficientBalance", ())


def test_tripped_breaker_and_pause_refuse_entry() -> None:
    tripped = CarryState(breaker=Breaker(tripped=True, reason="ConsecutiveLosses", consecutive_losses=3))
    assert run(tripped, account()).reason == "BreakerTripped"
    assert run(CarryState(), account(), sp=spec(paused=True)).reason == "Paused"


def test_too_small_a_notional_is_refused() -> None:
    assert run(CarryState(), account(), notional=D("1")).reason == "TooSmall"


# ---- leg risk ----------------------------------------------------------------------------------------------

def test_both_legs_filled_means_open() -> None:
    state, _ = opened()
    assert state.phase is Phase.OPEN


def test_second_leg_failure_is_completed_never_waited_on() -> None:
    s = run(CarryState(), account())
    half = fill(account(), s.actions, P, perp_frac=D(0))  # spot bought, perp order failed
    nxt = run(s.state, half)
    assert (nxt.phase, nxt.reason) == (Phase.OPENING, "CompleteLegs")
    (order,) = orders(nxt.actions)
    assert (order.leg, order.side, order.qty) == ("perp", "sell", D("1.666"))
    assert order.client_order_id not in {o.client_order_id for o in orders(s.actions)}
    done = run(nxt.state, fill(half, nxt.actions, P))
    assert done.phase is Phase.OPEN


def test_completing_gives_up_after_two_attempts_and_unwinds() -> None:
    s = run(CarryState(), account())
    half = fill(account(), s.actions, P, perp_frac=D(0))
    state = s.state
    for _ in range(2):
        attempt = run(state, half)
        assert attempt.reason == "CompleteLegs"
        state = attempt.state  # the perp keeps failing: nothing fills
    unwind = run(state, half)
    assert (unwind.phase, unwind.reason) == (Phase.CLOSING, "UnwindLegs")
    (sell,) = orders(unwind.actions)
    assert (sell.leg, sell.side, sell.qty) == ("spot", "sell", D("1.666"))


def test_unwind_at_once_when_entry_no_longer_holds() -> None:
    s = run(CarryState(), account())
    half = fill(account(), s.actions, P, spot_frac=D(0))  # perp sold, spot failed: a naked short
    flipped = run(s.state, half, mkt=market(rate=D("-0.0001")))
    assert (flipped.phase, flipped.reason) == (Phase.CLOSING, "UnwindLegs")
    (buy,) = orders(flipped.actions)
    assert (buy.leg, buy.side, buy.reduce_only) == ("perp", "buy", True)


def test_open_orders_are_cancelled_before_completing() -> None:
    s = run(CarryState(), account())
    half = replace(fill(account(), s.actions, P, perp_frac=D("0.5")), open_orders=1)
    nxt = run(s.state, half)
    assert nxt.actions == (CancelAll(),) and nxt.phase is Phase.OPENING


def test_nothing_filled_goes_back_to_idle() -> None:
    s = run(CarryState(), account())
    assert run(s.state, account()).reason == "EntryNotFilled"


@settings(max_examples=200, deadline=None)
@given(st.decimals("0", "1", places=3), st.decimals("0", "1", places=3))
def test_opening_with_unequal_legs_always_acts(spot_frac: Decimal, perp_frac: Decimal) -> None:
    """Whatever filled, a step in Opening either confirms the position, returns to Idle, or trades: it never
    leaves one leg open and waits."""
    s = run(CarryState(), account())
    acct = fill(account(), s.actions, P, spot_frac, perp_frac)
    nxt = run(s.state, acct)
    assert nxt.reason in {"Opened", "EntryNotFilled"} or orders(nxt.actions)
    for o in orders(nxt.actions):
        assert o.qty > 0


# ---- open: exits, margin, legs -----------------------------------------------------------------------------

def test_emergency_margin_closes_both_legs_reduce_only() -> None:
    state, acct = opened()
    low = replace(acct, perp_equity=D("2000"))  # ratio 0.4 < 0.5
    s = run(state, low)
    assert (s.phase, s.reason) == (Phase.CLOSING, "EmergencyMargin")
    sell, buy = orders(s.actions)
    assert (sell.leg, sell.side, buy.leg, buy.side, buy.reduce_only) == ("spot", "sell", "perp", "buy", True)


def test_low_margin_is_topped_up_back_to_one() -> None:
    state, acct = opened()
    low = replace(acct, perp_equity=D("3500"), free_quote=D("5000"))  # 3500 / 4998 = 0.70
    s = run(state, low)
    assert s.reason == "MarginTopUp" and s.phase is Phase.OPEN
    (t,) = s.actions
    assert isinstance(t, Transfer) and t.to == "derivatives" and t.amount == D("1.666") * P - 3500


def test_margin_without_free_quote_shrinks_both_legs() -> None:
    state, acct = opened()
    s = run(state, replace(acct, perp_equity=D("3500"), free_quote=D("0")))
    assert s.reason == "MarginShortfall"
    sell, buy = orders(s.actions)
    assert sell.qty == buy.qty > 0 and buy.reduce_only
    after = margin_ratio(D("3500"), D("-1.666") + buy.qty, P, D(1))
    assert after is not None and after >= 1


def test_no_compounding_while_the_pair_is_losing() -> None:
    state, acct = opened()
    losing = replace(state, ledger=replace(state.ledger, fees_quote=D("20")))
    assert run(losing, replace(acct, perp_equity=D("8000"))).reason == "Holding"


def test_profit_of_a_fall_is_compounded_into_both_legs() -> None:
    state, acct = opened()
    s = run(state, replace(acct, perp_equity=D("8000")))  # ratio 1.6 > 1.5
    assert s.reason == "Compound"
    transfer, spot, perp = s.actions
    assert isinstance(transfer, Transfer) and transfer.to == "spot"
    assert isinstance(spot, LegOrder) and isinstance(perp, LegOrder) and spot.qty == perp.qty > 0


@pytest.mark.parametrize(("ledger_funding", "reason"), [("-250", "StopLoss"), ("600", "TakeProfit")])
def test_stop_loss_and_take_profit_close(ledger_funding: str, reason: str) -> None:
    state, acct = opened()
    state = replace(state, ledger=replace(state.ledger, funding_quote=D(ledger_funding)))
    s = run(state, acct)
    assert (s.phase, s.reason) == (Phase.CLOSING, reason)


def test_negative_funding_closes_after_the_configured_settlements() -> None:
    state, acct = opened()
    sp = spec(exit={"stopLossRatio": "-0.02", "negativeFundingPeriods": 2})
    state = settle_funding(state, D("-1.666"), P, D("-0.0001"))
    assert run(state, acct, sp=sp).reason == "Holding"
    state = settle_funding(state, D("-1.666"), P, D("-0.0001"))
    assert run(state, acct, sp=sp).reason == "NegativeFunding"
    assert settle_funding(state, D("-1.666"), P, D("0.0001")).negative_funding_streak == 0


def test_leg_deviation_over_one_percent_realigns_the_perp() -> None:
    state, acct = opened()
    drift = replace(acct, perp_qty=D("-1.62"))  # 2.8% short of the spot leg
    s = run(state, drift)
    assert (s.phase, s.reason) == (Phase.REBALANCING, "LegDeviation")
    (o,) = orders(s.actions)
    assert (o.leg, o.side, o.qty) == ("perp", "sell", D("0.046"))
    back = run(s.state, fill(drift, s.actions, P))
    assert back.phase is Phase.OPEN
    assert run(state, replace(acct, perp_qty=D("-1.660"))).reason == "Holding"  # 0.36%: inside the band


# ---- closing, breaker, halt --------------------------------------------------------------------------------

def close_at_a_loss(state: CarryState, acct: object, day_offset: int = 0) -> CarryState:
    losing = replace(state, ledger=replace(state.ledger, funding_quote=D("-210")))
    closing = run(losing, acct)
    flat = fill(acct, closing.actions, P)  # type: ignore[arg-type]
    return run(closing.state, flat, now=NOW + timedelta(days=day_offset)).state


def test_three_losing_closes_trip_the_breaker_until_reset() -> None:
    state = CarryState()
    for i in range(3):
        s = run(state, account())
        acct = fill(account(), s.actions, P)
        state = run(s.state, acct).state
        state = close_at_a_loss(state, acct)
        assert state.phase is Phase.CLOSED
        assert state.breaker.consecutive_losses == i + 1
    assert state.breaker.tripped and state.breaker.reason == "ConsecutiveLosses"
    halted = run(state, account())
    assert (halted.phase, halted.reason) == (Phase.HALTED, "BreakerTripped")
    assert run(halted.state, account(), now=NOW + timedelta(days=2)).reason == "BreakerTripped"
    resumed = run(halted.state, account(), reset_breaker=True)
    assert resumed.phase is Phase.IDLE and not resumed.state.breaker.tripped


def test_daily_loss_trip_clears_the_next_day() -> None:
    b = Breaker().record_close(D("-600"), "2025-06-01", spec().circuitBreaker)
    assert b.tripped and b.reason == "DailyLoss"
    assert not b.roll("2025-06-02").tripped and b.roll("2025-06-02").consecutive_losses == 1
    assert Breaker().record_close(D("10"), "2025-06-01", spec().circuitBreaker).consecutive_losses == 0


def test_a_breaker_tripped_by_other_pairs_closes_this_open_pair_and_refuses_entry() -> None:
    """The breaker is the object's: a pair that lost nothing is closed when its siblings' losses trip it."""
    state, acct = opened()
    tripped = Breaker(tripped=True, reason="DailyLoss", day=NOW.date().isoformat(), daily_loss_quote=D(800))
    s = run(replace(state, breaker=tripped), acct)
    assert (s.phase, s.reason) == (Phase.CLOSING, "BreakerTripped")
    sell, buy = orders(s.actions)
    assert (sell.side, buy.side, buy.reduce_only) == ("sell", "buy", True)
    closed = run(s.state, fill(acct, s.actions, P))
    assert closed.phase is Phase.CLOSED
    assert run(closed.state, account()).reason == "BreakerTripped"  # and nothing new opens
    halted = replace(state, phase=Phase.HALTED, breaker=tripped)  # halted over a position when it tripped
    assert run(halted, acct).reason == "BreakerTripped" and orders(run(halted, acct).actions)
    assert run(replace(CarryState(), breaker=tripped), account(spot="0.5")).actions == ()  # not ours: left alone


def test_two_pairs_losing_400_each_trip_the_shared_daily_limit() -> None:
    limits = spec().circuitBreaker
    day = NOW.date().isoformat()
    one = Breaker().record_close(D(-400), day, limits)
    assert not one.tripped
    both = one.record_close(D(-400), day, limits)
    assert both.tripped and both.reason == "DailyLoss" and both.daily_loss_quote == D(800)


def test_per_pair_breakers_written_before_combine_into_the_objects() -> None:
    a = Breaker(consecutive_losses=2, day="2025-06-01", daily_loss_quote=D(300))
    b = Breaker(consecutive_losses=1, day="2025-06-01", daily_loss_quote=D(250))
    old = Breaker(tripped=True, reason="ConsecutiveLosses", consecutive_losses=3, day="2025-05-30",
                  daily_loss_quote=D(900))
    merged = a.combine(b).combine(old)
    assert (merged.tripped, merged.reason, merged.consecutive_losses) == (True, "ConsecutiveLosses", 3)
    assert (merged.day, merged.daily_loss_quote) == ("2025-06-01", D(550))


@pytest.mark.parametrize("phase", list(Phase))
def test_halt_from_any_phase_stops_trading_and_cancels(phase: Phase) -> None:
    s = run(CarryState(phase=phase, target_qty=D("1.666")), account(spot="1.666", perp="-1.666", open_orders=2),
            halt="hedgeops.io/halt=true")
    assert s.phase is Phase.HALTED and s.actions == (CancelAll(),)


def test_halt_cleared_resumes_where_the_account_stands() -> None:
    assert run(CarryState(phase=Phase.HALTED), account()).state.phase is Phase.IDLE
    held = run(CarryState(phase=Phase.HALTED), account(spot="1.666", perp="-1.666"))
    assert held.state.phase is Phase.OPEN


# ---- red lines ---------------------------------------------------------------------------------------------

def test_leverage_above_three_is_refused_even_around_the_schema() -> None:
    with pytest.raises(ValueError, match="leverage"):
        spec(leverage="4")
    sneaky = spec().model_copy(update={"leverage": D(5)})
    with pytest.raises(RedLineError, match="MaxLeverage"):
        run(CarryState(), account(), sp=sneaky)


def test_a_carry_without_a_stop_is_refused_even_around_the_schema() -> None:
    with pytest.raises(ValueError):
        FundingArbitrageSpec.model_validate({"pairs": [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"}],
                                             "capital": {"amountQuote": "1"}, "exit": {}})
    no_stop = spec().model_copy(update={"exit": spec().exit.model_copy(update={"stopLossRatio": D(0)})})
    with pytest.raises(RedLineError, match="StopRequired"):
        run(CarryState(), account(), sp=no_stop)


# ---- ledger ------------------------------------------------------------------------------------------------

def test_funding_is_earned_by_the_short_when_the_rate_is_positive() -> None:
    assert CarryLedger().apply_funding(D("-2"), P, D("0.0001")).funding_quote == D("0.6")
    assert CarryLedger().apply_funding(D("-2"), P, D("-0.0001")).funding_quote == D("-0.6")


@settings(max_examples=300, deadline=None)
@given(qty=st.decimals("0.01", "100", places=3), entry=st.decimals("10", "100000", places=2),
       move=st.decimals("-0.9", "3", places=4), basis=st.decimals("-0.01", "0.01", places=4),
       rate=st.decimals("-0.01", "0.01", places=5))
def test_pnl_is_direction_neutral(qty: Decimal, entry: Decimal, move: Decimal, basis: Decimal,
                                  rate: Decimal) -> None:
    """Equal legs: however far the market moves, PnL is funding − fees + the change of the basis only."""
    perp_entry = entry * (1 + basis)
    ledger = (CarryLedger().apply_fill("spot", qty, entry, D("1")).apply_fill("perp", -qty, perp_entry, D("1"))
              .apply_funding(-qty, perp_entry, rate))
    spot_mark = entry * (1 + move)
    perp_mark = spot_mark * (1 + basis)  # the basis unchanged
    expected = qty * perp_entry * rate - 2 + qty * (spot_mark - entry) - qty * (perp_mark - perp_entry)
    assert ledger.total_pnl(spot_mark, perp_mark) == expected
    flat_basis = ledger.total_pnl(spot_mark, spot_mark * (1 + basis))
    same_at_entry = ledger.total_pnl(entry, entry * (1 + basis))
    assert abs(flat_basis - same_at_entry) <= abs(qty * entry * basis * move) + D("1e-12")


def test_realised_pnl_survives_closing() -> None:
    ledger = CarryLedger().apply_fill("spot", D(1), D(100), D(0)).apply_fill("spot", D(-1), D(110), D(0))
    assert ledger.spot.qty == 0 and ledger.spot.realized == D(10)
    with pytest.raises(ValueError, match="leg"):
        ledger.apply_fill("swap", D(1), D(1), D(0))


# ---- cadence and bootstrap ---------------------------------------------------------------------------------

def test_funding_settles_at_00_08_16_utc() -> None:
    assert next_funding_time(NOW).hour == 16
    assert next_funding_time(NOW.replace(hour=16)).hour == 0
    assert next_funding_time(NOW.replace(hour=23, minute=59)) == NOW.replace(hour=0, minute=0) + timedelta(days=1)


def test_the_seed_cadence() -> None:
    assert due_tasks(NOW, {}) == ("scan", "risk", "settle")
    last = {"scan": NOW - timedelta(minutes=5), "risk": NOW - timedelta(minutes=59), "settle": NOW}
    assert due_tasks(NOW, last) == ("scan",)  # type: ignore[arg-type]


def test_bootstrap_refuses_leftovers_missing_keys_and_abnormal_exits() -> None:
    ok = bootstrap_problems(has_credentials=True, live=True, leftover_spot=D(0), leftover_perp=D(0),
                            known_position=False, last_exit_abnormal=False)
    assert ok == ()
    bad = bootstrap_problems(has_credentials=False, live=True, leftover_spot=D(1), leftover_perp=D(-1),
                             known_position=False, last_exit_abnormal=True)
    assert [p.reason for p in bad] == ["NoCredentials", "LeftoverPosition", "AbnormalExit"]
    paper = bootstrap_problems(has_credentials=False, live=False, leftover_spot=D(1), leftover_perp=D(-1),
                               known_position=True, last_exit_abnormal=False)
    assert paper == ()


def test_the_default_breaker_is_the_readmes_500_a_day_and_3_losing_closes() -> None:
    """README: "($500 a day, 3 losing closes in a row by default)": the defaults a spec without circuitBreaker
    gets, either side of each line."""
    from hedgeops.api.funding import CircuitBreaker

    limits, day = CircuitBreaker(), "2025-06-01"
    b = Breaker().record_close(D("-499.99"), day, limits)
    assert not b.tripped
    b = b.record_close(D("-0.01"), day, limits)  # the day's realised loss reaches 500.00
    assert (b.tripped, b.reason) == (True, "DailyLoss")
    two = Breaker().record_close(D("-1"), day, limits).record_close(D("-1"), day, limits)
    assert not two.tripped
    three = two.record_close(D("-1"), day, limits)
    assert (three.tripped, three.reason) == (True, "ConsecutiveLosses")

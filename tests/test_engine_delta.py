"""Seed 001's delta management: delta of every kind of position with pending orders, strategy presets,
minimum and maximum adjustment, the cost threshold and the risk controls with typed errors."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.api.policy import Limits, Preset, RebalancePolicySpec
from hedgeops.engine.common.errors import DeltaCalculationError, PositionAdjustmentError, RiskLimitExceededError
from hedgeops.engine.hedge.bands import resolve_thresholds
from hedgeops.engine.hedge.delta import DeltaPosition, InstrumentKind, WorkingOrder, asset_deltas, rounded
from hedgeops.engine.hedge.planner import plan_rebalance
from hedgeops.engine.hedge.risk import DayUsage, check_risk_limits
from hedgeops.engine.hedge.triggers import TriggerDecision, Urgency, decide

from .engine_fixtures import NOW, exposure, inputs

D = Decimal
PRICES = {"SOL": D("150.00"), "ETH": D("3000.00"), "BTC": D("100000.0")}
NORMAL = TriggerDecision(Urgency.NORMAL)
EMERGENCY = TriggerDecision(Urgency.EMERGENCY)


# ---- delta -------------------------------------------------------------------------------------------------

def test_delta_sums_linear_positions_options_and_pending_orders() -> None:
    positions = [
        DeltaPosition("BTC/USDT:USDT", "BTC", InstrumentKind.PERP, D("-1.5")),
        DeltaPosition("BTC/USDT", "BTC", InstrumentKind.SPOT, D("1")),
        DeltaPosition("BTC-250627-100000-C", "BTC", InstrumentKind.OPTION, D("2"), D("0.45")),
        DeltaPosition("ETH/USDT:USDT", "ETH", InstrumentKind.PERP, D("-3")),
    ]
    working = [WorkingOrder("BTC/USDT:USDT", "BTC", "sell", D("0.2")),
               WorkingOrder("ETH/USDT:USDT", "ETH", "buy", D(1))]
    assert asset_deltas(positions, working) == {"BTC": D("0.2"), "ETH": D(-2)}
    assert asset_deltas(positions, working, include_pending=False) == {"BTC": D("0.4"), "ETH": D(-3)}
    assert rounded({"BTC": D("0.123456")}) == {"BTC": D("0.1235")}


def test_an_option_without_a_delta_is_an_error_not_a_guess() -> None:
    with pytest.raises(DeltaCalculationError, match="option delta"):
        asset_deltas([DeltaPosition("BTC-C", "BTC", InstrumentKind.OPTION, D(1))])
    with pytest.raises(PositionAdjustmentError):  # the seed's hierarchy: every engine error is one
        asset_deltas([DeltaPosition("BTC-C", "BTC", InstrumentKind.OPTION, D(1), D("1.7"))])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.decimals("0", "100", places=3)), max_size=6),
       st.decimals("-100", "100", places=3))
def test_pending_orders_move_delta_by_exactly_their_remainder(orders: list[tuple[str, Decimal]],
                                                              perp: Decimal) -> None:
    pos = [DeltaPosition("SOL/USDT:USDT", "SOL", InstrumentKind.PERP, perp)]
    working = [WorkingOrder("SOL/USDT:USDT", "SOL", side, qty) for side, qty in orders]
    expected = perp + sum((q if s == "buy" else -q for s, q in orders), D(0))
    assert asset_deltas(pos, working)["SOL"] == expected


# ---- strategy presets --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("preset", "threshold"), [(Preset.AGGRESSIVE, "0.05"), (Preset.BALANCED, "0.10"),
                                                    (Preset.CONSERVATIVE, "0.15")])
def test_seed_001_strategy_thresholds(preset: Preset, threshold: str) -> None:
    t = resolve_thresholds(RebalancePolicySpec(preset=preset))
    assert t.asset.ratio == D(threshold)
    inside = exposure({"SOL": ("150", "100", str(-100 + float(threshold) * 100 - 1))})
    outside = exposure({"SOL": ("150", "100", str(-100 + float(threshold) * 100 + 1))})
    assert decide(inside, t, NOW, NOW).urgency is Urgency.NONE  # abs(diff) < threshold: action none
    assert decide(outside, t, NOW, NOW).urgency is not Urgency.NONE


# ---- minimum and maximum adjustment ------------------------------------------------------------------------

def test_maximum_adjustment_clips_and_says_so() -> None:
    e = exposure({"SOL": ("150", "100", "-70")})
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=EMERGENCY,
                          inputs=replace(inputs(PRICES), max_order={"SOL": D(10)}))
    (o,) = plan.orders
    assert o.amount == D(10) and "clipped to maxOrder 10" in plan.skipped[0].reason


def test_minimum_adjustment_skips() -> None:
    e = exposure({"SOL": ("150", "100", "-99.97")})
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=NORMAL, inputs=inputs(PRICES))
    assert plan.orders == () and "below minimum order" in plan.skipped[0].reason


# ---- risk controls -----------------------------------------------------------------------------------------

def _plan(net: str = "-97", decision: TriggerDecision = NORMAL):  # type: ignore[no-untyped-def]
    e = exposure({"SOL": ("150", "100", net), "ETH": ("3000", "3", "-3")})
    return e, plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=decision, inputs=inputs(PRICES))


@pytest.mark.parametrize(("limits", "usage", "reason"), [
    (Limits(maxRebalancesPerDay=10), DayUsage(10, D(0)), "DailyRebalanceLimit"),
    (Limits(maxDeltaChangePerTrade=D(2)), DayUsage(0, D(0)), "DeltaChangeLimit"),
    (Limits(maxDailyCostQuote=D(1000)), DayUsage(0, D(1000)), "DailyCostLimit"),
    (Limits(maxCostRatio=D("0.0001")), DayUsage(0, D(0)), "CostThreshold"),
    (Limits(maxConcentrationRatio=D("0.3")), DayUsage(0, D(0)), "ConcentrationLimit"),
])
def test_each_seed_risk_control_raises_its_typed_error(limits: Limits, usage: DayUsage, reason: str) -> None:
    e, plan = _plan()
    with pytest.raises(RiskLimitExceededError) as err:
        check_risk_limits(plan, limits, usage, None, NOW, e)
    assert err.value.reason == reason and isinstance(err.value, PositionAdjustmentError)


def test_min_time_between_adjustments() -> None:
    from datetime import timedelta

    e, plan = _plan()
    with pytest.raises(RiskLimitExceededError, match="minimum 300s"):
        check_risk_limits(plan, Limits(minSecondsBetweenRebalances=300), DayUsage(0, D(0)),
                          NOW - timedelta(seconds=299), NOW, e)
    check_risk_limits(plan, Limits(minSecondsBetweenRebalances=300), DayUsage(0, D(0)),
                      NOW - timedelta(seconds=300), NOW, e)


def test_concentration_never_blocks_an_order_that_reduces_a_position() -> None:
    e, plan = _plan(net="-103")  # over-hedged: the order buys back, shrinking the SOL short
    check_risk_limits(plan, Limits(maxConcentrationRatio=D("0.1")), DayUsage(0, D(0)), None, NOW, e)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 50), st.integers(0, 3600), st.decimals("0.00001", "0.01", places=5))
def test_emergencies_pass_count_spacing_and_cost_ratio_limits(done: int, age: int, ratio: Decimal) -> None:
    from datetime import timedelta

    e, em = _plan(net="-90", decision=EMERGENCY)
    limits = Limits(maxRebalancesPerDay=1, minSecondsBetweenRebalances=3600, maxCostRatio=ratio,
                    maxDeltaChangePerTrade=D("0.5"))
    check_risk_limits(em, limits, DayUsage(done, D(0)), NOW - timedelta(seconds=age), NOW, e)

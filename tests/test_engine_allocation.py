"""Seed 002's allocation rebalancing: drift bands, schedule, hooks, pause, exit, batching, slicing, cost
forecast, and manual approval as a plan state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.api.policy import AllocationRules, RebalancePolicySpec
from hedgeops.engine.allocation.plan import AllocationInputs, cost_verdict, plan_allocation
from hedgeops.engine.allocation.schedule import ScheduleMemory, schedule_of
from hedgeops.engine.allocation.weights import decide_allocation, weights
from hedgeops.engine.common.slicing import MAX_SLICES, slice_qty
from hedgeops.engine.hedge.approval import ApprovalError, PlanState, approve, executed, fingerprint, propose, settle
from hedgeops.model.book import OrderBook
from hedgeops.model.market import Fees, MarketRules
from hedgeops.model.orders import Liquidity

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
RULES = AllocationRules()
MARKETS = {
    "BTC": MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001")),
    "ETH": MarketRules("ETH/USDT", "ETH", "USDT", D("0.0001"), D("0.01"), D("0.0001")),
    "SOL": MarketRules("SOL/USDT", "SOL", "USDT", D("0.001"), D("0.001"), D("0.001")),
}
PRICES = {"BTC": D(100000), "ETH": D(2500), "SOL": D(150)}
TARGETS = {"BTC": D("0.30"), "ETH": D("0.25"), "SOL": D("0.45")}


def inputs(order_type: Liquidity = Liquidity.TAKER, max_order: Decimal | None = None,
           books: dict[str, OrderBook] | None = None) -> AllocationInputs:
    return AllocationInputs("USDT", MARKETS, PRICES, books or {}, Fees(), order_type, D(10), max_order)


def drifted() -> dict[str, Decimal]:
    """The seed's example after six months: BTC 45% | ETH 20% | other 35% of $50,000."""
    return {"BTC": D("0.225"), "ETH": D(4), "SOL": D("116.66666")}


def values(holdings: dict[str, Decimal]) -> dict[str, Decimal]:
    return {a: q * PRICES.get(a, D(1)) for a, q in holdings.items()}


# ---- when ----------------------------------------------------------------------------------------------------

def test_the_seed_drift_example_triggers_a_rebalance() -> None:
    d = decide_allocation(TARGETS, values(drifted()), RULES)
    assert (d.action, d.reason) == ("Rebalance", "WeightDrift") and "BTC" in d.message


def test_within_bands_holds_and_per_asset_bands_apply() -> None:
    near = {"BTC": D("0.16"), "ETH": D("5.6"), "SOL": D("150")}  # 30.5% / 26.7% / 42.9% of 52,500
    assert decide_allocation(TARGETS, values(near), RULES).reason == "WithinBands"
    tight = AllocationRules(assetDrift={"ETH": D("0.01")})
    assert decide_allocation(TARGETS, values(near), tight).reason == "WeightDrift"


def test_schedule_fires_once_per_period() -> None:
    monthly = RebalancePolicySpec.model_validate({"schedule": {"cron": "0 0 1 * *"}})
    began = ScheduleMemory(since=datetime(2025, 5, 1, tzinfo=UTC))
    due = schedule_of(monthly, {}, None, began, datetime(2025, 5, 20, tzinfo=UTC), NOW)
    assert due is not None and due.due == datetime(2025, 6, 1, tzinfo=UTC)  # June 1st 00:00 passed since
    done = schedule_of(monthly, {}, None, began, datetime(2025, 6, 1, 0, 5, tzinfo=UTC), NOW)
    assert done is not None and done.due is None
    near = {"BTC": D("0.15"), "ETH": D(5), "SOL": D(150)}
    d = decide_allocation(TARGETS, values(near), RULES, scheduled="schedule '0 0 1 * *' fired")
    assert d.reason == "Scheduled"


def test_opportunity_hook_pause_and_exit() -> None:
    near = values({"BTC": D("0.15"), "ETH": D(5), "SOL": D(150)})
    hook = decide_allocation(TARGETS, near, RULES, opportunity="yield moved 0.5%")
    assert (hook.action, hook.reason) == ("Rebalance", "Opportunity")
    far = values(drifted())
    assert decide_allocation(TARGETS, far, RULES, paused=True).action == "Hold"
    out = decide_allocation(TARGETS, far, RULES, paused=True, emergency_exit=True)
    assert (out.action, out.reason) == ("Exit", "EmergencyExit")


# ---- how -----------------------------------------------------------------------------------------------------

def test_plan_sells_first_then_buys_back_to_target() -> None:
    plan = plan_allocation(TARGETS, drifted(), inputs(), uid="book", seq=1)
    batches = [(o.batch, o.asset, o.side) for o in plan.orders]
    assert batches == [(0, "BTC", "sell"), (1, "ETH", "buy"), (1, "SOL", "buy")]
    after = dict(drifted())
    for o in plan.orders:
        after[o.asset] += o.amount if o.side == "buy" else -o.amount
    w = weights(values(after))
    for asset, target in TARGETS.items():
        assert abs(w[asset] - target) < D("0.002")
    assert plan.est_fees_quote > 0 and plan.cost_ratio < D("0.001")
    assert len({o.client_order_id for o in plan.orders}) == len(plan.orders)
    assert plan_allocation(TARGETS, drifted(), inputs(), uid="book", seq=1) == plan  # deterministic


def test_buys_are_scaled_to_the_cash_the_sells_leave() -> None:
    plan = plan_allocation({"BTC": D("0.5"), "ETH": D("0.5")}, {"USDT": D(1000)}, inputs(), uid="b", seq=1)
    spent = sum(o.amount * o.est_price * (1 + Fees().taker) for o in plan.orders)
    assert spent <= 1000 and spent > 990


def test_large_legs_are_sliced_and_sum_to_the_leg() -> None:
    plan = plan_allocation(TARGETS, drifted(), inputs(max_order=D(2000)), uid="book", seq=1)
    btc = [o for o in plan.orders if o.asset == "BTC"]
    assert len(btc) == 4 and all(o.amount * PRICES["BTC"] <= 2000 for o in btc[:-1])
    whole = plan_allocation(TARGETS, drifted(), inputs(), uid="book", seq=1)
    assert sum(o.amount for o in btc) == next(o.amount for o in whole.orders if o.asset == "BTC")


@settings(max_examples=300, deadline=None)
@given(qty=st.decimals("0.001", "500", places=3), price=st.decimals("1", "5000", places=2),
       cap=st.decimals("10", "100000", places=0))
def test_slices_sum_exactly_respect_the_grid_and_the_caps(qty: Decimal, price: Decimal, cap: Decimal) -> None:
    rules = MARKETS["SOL"]
    parts = slice_qty(qty, price, cap, rules, rules.min_amount)
    assert sum(parts) == qty and len(parts) <= MAX_SLICES
    assert all(p >= rules.min_amount for p in parts)
    assert all((p / rules.amount_step) == (p / rules.amount_step).to_integral_value() for p in parts)
    if len(parts) > 1 and len(parts) < MAX_SLICES and qty / rules.min_amount > MAX_SLICES:
        assert parts[0] * price <= cap


def test_cost_forecast_walks_the_book_and_the_gate_refuses_expensive_plans() -> None:
    thin = OrderBook(bids=((D(99000), D("0.01")), (D(90000), D(5))), asks=((D(101000), D(5)),))
    plan = plan_allocation(TARGETS, drifted(), inputs(books={"BTC": thin}), uid="b", seq=1)
    assert plan.est_slippage_quote > 500  # selling 0.075 BTC walks down to 90,000
    assert not cost_verdict(plan, RULES.maxCostRatio, exit_all=False).allowed
    assert cost_verdict(plan, RULES.maxCostRatio, exit_all=False).reason == "CostTooHigh"
    assert cost_verdict(plan, RULES.maxCostRatio, exit_all=True).allowed


def test_emergency_exit_sells_everything() -> None:
    plan = plan_allocation(TARGETS, drifted(), inputs(), uid="b", seq=2, exit_all=True)
    assert {(o.asset, o.side) for o in plan.orders} == {("BTC", "sell"), ("ETH", "sell"), ("SOL", "sell")}
    assert {o.asset: o.amount for o in plan.orders} == {"BTC": D("0.225"), "ETH": D(4), "SOL": D("116.666")}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.decimals("0", "1000", places=2), min_size=4, max_size=4))
def test_a_plan_never_spends_more_cash_than_it_has(amounts: list[Decimal]) -> None:
    holdings = {"BTC": amounts[0] / 10000, "ETH": amounts[1] / 100, "SOL": amounts[2], "USDT": amounts[3]}
    plan = plan_allocation(TARGETS, holdings, inputs(), uid="b", seq=1)
    proceeds = sum(o.amount * o.est_price * (1 - Fees().taker) for o in plan.orders if o.side == "sell")
    spent = sum(o.amount * o.est_price * (1 + Fees().taker) for o in plan.orders if o.side == "buy")
    assert spent <= holdings["USDT"] + proceeds + D("1e-9")
    for o in plan.orders:
        if o.side == "sell":
            assert o.amount <= holdings[o.asset]


# ---- approval ------------------------------------------------------------------------------------------------

def test_manual_approval_runs_exactly_the_proposed_plan_once() -> None:
    digest = fingerprint([("BTC/USDT", "sell", D("0.075"))])
    p = propose("plan-a", digest, NOW, 3600, None)
    assert p.state is PlanState.PROPOSED and p.expires_at == NOW + timedelta(hours=1)
    with pytest.raises(ApprovalError, match="not the pending plan"):
        approve(p, "plan-b", NOW)
    ok = approve(p, "plan-a", NOW + timedelta(minutes=5), who="alice")
    assert ok.state is PlanState.APPROVED and ok.approved_by == "alice"
    done = executed(ok)
    with pytest.raises(ApprovalError) as err:
        approve(done, "plan-a", NOW)
    assert err.value.reason == "AlreadyApproved"


def test_expired_and_superseded_plans_are_never_executed() -> None:
    digest = fingerprint([("BTC/USDT", "sell", D("0.075"))])
    p = propose("plan-a", digest, NOW, 600, None)
    with pytest.raises(ApprovalError) as late:
        approve(p, "plan-a", NOW + timedelta(minutes=11))
    assert late.value.reason == "Expired"
    assert settle(p, NOW + timedelta(minutes=11), digest).state is PlanState.EXPIRED
    other = fingerprint([("BTC/USDT", "sell", D("0.080"))])
    superseded = settle(p, NOW + timedelta(minutes=1), other)
    assert superseded.state is PlanState.SUPERSEDED
    with pytest.raises(ApprovalError) as err:
        approve(superseded, "plan-a", NOW + timedelta(minutes=2))
    assert err.value.reason == "Superseded"
    with pytest.raises(ApprovalError):
        executed(p)  # never approved


def test_reproposing_the_same_trades_keeps_the_id() -> None:
    digest = fingerprint([("ETH/USDT", "buy", D("1.5")), ("BTC/USDT", "sell", D("0.075"))])
    p = propose("plan-a", digest, NOW, 600, None)
    same = fingerprint([("BTC/USDT", "sell", D("0.0750")), ("ETH/USDT", "buy", D("1.50"))])
    assert propose("plan-b", same, NOW + timedelta(minutes=1), 600, p) is p
    assert propose("plan-b", "other", NOW + timedelta(minutes=1), 600, p).plan_id == "plan-b"


def test_policy_carries_the_allocation_rules_and_a_valid_cron() -> None:
    spec = RebalancePolicySpec.model_validate({"allocation": {"driftRatio": "0.07"}, "schedule": {"cron": "0 0 * * 1"},
                                               "approval": "Manual", "approvalTtlSeconds": 900})
    assert spec.allocation.driftRatio == D("0.07") and spec.approvalTtlSeconds == 900
    with pytest.raises(ValueError, match="cron"):
        RebalancePolicySpec.model_validate({"schedule": {"cron": "61 * * * *"}})

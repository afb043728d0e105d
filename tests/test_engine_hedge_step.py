"""The Hedge objective's pure step: one decision from an observation, a policy, the memory and the controls."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hedgeops.api.hedgebook import DailyCounters, HedgeBookStatus, Objective, WorkingPlan
from hedgeops.api.policy import Limits, Preset, RebalancePolicySpec
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.hedge.delta import WorkingOrder
from hedgeops.engine.hedge.gate import DayUsage
from hedgeops.engine.hedge.step import HedgeMemory, HedgeObservation, foreign_orders, memory_of, step
from hedgeops.engine.hedge.triggers import Urgency
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.model.market import Fees, Quote
from hedgeops.model.orders import Liquidity, OrderState

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SOL = "SOL/USDT:USDT"
POLICY = RebalancePolicySpec(preset=Preset.COMPACT, minOrder={"SOL": D("0.05")})
MEMORY = HedgeMemory({}, None, None, None, DayUsage(0, D(0)), 0)


def observe(hedge: str, held: str = "100", **kw: object) -> HedgeObservation:
    """One SOL leg at 150 USDT, `held` SOL held, a short swap of `hedge` (negative: short)."""
    obs = HedgeObservation(
        uid="uid-b1", objective=Objective(), signal=None, paused=False, legs={"SOL": SOL},
        markets={SOL: PAPER_MARKETS[SOL]}, quotes={SOL: Quote(SOL, D("149.99"), D("150.01"), D(150), NOW)},
        held={"SOL": D(held)}, positions={SOL: D(hedge)} if D(hedge) else {}, foreign=(), fees=Fees(),
        working=None)
    return replace(obs, **kw)  # type: ignore[arg-type]


def test_within_band_makes_no_plan() -> None:
    out = step(observe("-100"), POLICY, MEMORY, Controls(), NOW)
    assert out.verdict.decision.urgency is Urgency.NONE
    assert out.plan is None and out.gate is None and out.alert is None
    assert out.exposure.assets[0].deviation == 0
    assert out.memory.last_check == NOW and out.memory.high_deviation_since is None


def test_out_of_band_plans_a_maker_order_back_and_the_gate_allows_it() -> None:
    out = step(observe("-97"), POLICY, MEMORY, Controls(), NOW)  # 3% off: over the 2% band, under the 5%
    assert out.verdict.decision.urgency is Urgency.NORMAL
    assert out.plan is not None and out.plan.seq == 1 and out.gate is not None and out.gate.allowed
    (order,) = out.plan.orders
    assert order.side == "sell" and order.type is Liquidity.MAKER and order.symbol == SOL
    assert order.client_order_id.startswith("ho" + out.plan.plan_id)


def test_the_gate_refuses_past_the_daily_limit_and_under_a_halt() -> None:
    limited = POLICY.model_copy(update={"limits": Limits(maxRebalancesPerDay=1)})
    used = replace(MEMORY, today=DayUsage(1, D(0)))
    out = step(observe("-97"), limited, used, Controls(), NOW)
    assert out.plan is not None and out.gate is not None
    assert (out.gate.allowed, out.gate.reason) == (False, "DailyRebalanceLimit")
    halted = step(observe("-97"), POLICY, MEMORY, Controls(halt="hedgeops.io/halt is set"), NOW)
    assert halted.plan is not None and halted.gate is not None and halted.gate.reason == "Halted"


def test_an_unhedged_book_is_an_emergency_taker_plan_the_daily_limit_does_not_hold_back() -> None:
    limited = POLICY.model_copy(update={"limits": Limits(maxRebalancesPerDay=1)})
    out = step(observe("0"), limited, replace(MEMORY, today=DayUsage(1, D(0))), Controls(), NOW)
    assert out.verdict.decision.urgency is Urgency.EMERGENCY
    assert out.plan is not None and out.gate is not None and out.gate.allowed
    assert [(o.side, o.amount, o.type) for o in out.plan.orders] == [("sell", D(100), Liquidity.TAKER)]


def test_close_all_and_a_plan_in_flight_make_no_new_plan() -> None:
    assert step(observe("0"), POLICY, MEMORY, Controls(close_all=True), NOW).plan is None
    working = WorkingPlan(planId="p", seq=1, createdAt=NOW, reason="Band", urgency="Normal")
    out = step(observe("0", working=working), POLICY, MEMORY, Controls(), NOW)
    assert out.plan is None and out.verdict.decision.urgency is Urgency.EMERGENCY  # the runtime forces taker


def test_foreign_orders_count_in_the_delta_ours_do_not() -> None:
    def order(cid: str) -> OrderState:
        return OrderState(cid, SOL, "sell", D(3), D(0), D(151), None, "open", D(0), "limit")

    ours = client_order_id(plan_id("uid-b1", 1), 0, "m")  # the next plan's, left by a crash: adopted, not counted
    found = foreign_orders([order(ours), order("manual-1")], {"SOL": SOL}, "uid-b1", 0, working=False)
    assert found == (WorkingOrder(SOL, "SOL", "sell", D(3)),)
    assert foreign_orders([order("manual-1")], {"SOL": SOL}, "uid-b1", 0, working=True) == ()
    out = step(observe("-97", foreign=found), POLICY, MEMORY, Controls(), NOW)  # 97 short + 3 resting: in band
    assert out.plan is None


def test_a_persisting_deviation_alerts_once() -> None:
    alerts = POLICY.alerts
    since = NOW - timedelta(seconds=alerts.deviationPersistSeconds + 1)
    first = replace(MEMORY, high_deviation_since=since, last_check=NOW - timedelta(seconds=60))
    out = step(observe("-50"), POLICY, first, Controls(halt="x"), NOW)
    assert out.alert is not None and out.alert.code == "HighDeviationPersists"
    assert out.memory.high_deviation_since == since
    again = step(observe("-50"), POLICY, out.memory, Controls(halt="x"), NOW + timedelta(seconds=60))
    assert again.alert is None


def test_memory_of_a_status() -> None:
    status = HedgeBookStatus(rebalanceSeq=4, lastCheck=NOW, highDeviationSince=NOW - timedelta(minutes=5))
    today = DailyCounters(date=NOW.date().isoformat(), rebalances=2, costQuote=D("1.5"))
    assert memory_of(status, today) == HedgeMemory({}, NOW - timedelta(minutes=5), NOW, None, DayUsage(2, D("1.5")), 4)

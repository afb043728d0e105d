"""The Allocation objective's pure step: values, the decision, the plan and its verdict, from one observation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from hedgeops.api.policy import Execution, OrderStyle, Preset, RebalancePolicySpec
from hedgeops.engine.allocation.step import AllocationMemory, AllocationObservation, step
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.hedge.gate import DayUsage
from hedgeops.engine.hedge.triggers import Urgency
from hedgeops.model.book import OrderBook
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import Liquidity

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PRICES = {"BTC": D(50_000), "ETH": D(2_500)}
POLICY = RebalancePolicySpec(preset=Preset.COMPACT)
MEMORY = AllocationMemory(None, DayUsage(0, D(0)), 0)
BOOKS = {a: OrderBook(((p - 1, D(1000)),), ((p + 1, D(1000)),)) for a, p in PRICES.items()}


def observe(units: dict[str, str], **kw: object) -> AllocationObservation:
    """A BTC/ETH/USDT book aiming at 40/30/30 that holds `units`."""
    markets = {a: MarketRules(f"{a}/USDT", a, "USDT", D("0.00001"), D("0.01"), D("0.00001")) for a in PRICES}
    quotes = {a: Quote(f"{a}/USDT", p - D("0.01"), p + D("0.01"), p, NOW) for a, p in PRICES.items()}
    obs = AllocationObservation("uid-a", "USDT", {"BTC": D("0.4"), "ETH": D("0.3"), "USDT": D("0.3")}, False,
                                markets, quotes, {a: D(q) for a, q in units.items()}, Fees(), False)
    return replace(obs, **kw)  # type: ignore[arg-type]


def test_at_target_weights_it_holds_and_plans_nothing() -> None:
    out = step(observe({"BTC": "0.8", "ETH": "12", "USDT": "30000"}), POLICY, MEMORY, Controls(), NOW)
    assert out.decision.action == "Hold" and out.plan is None and out.verdict is None
    assert out.values == {"BTC": D("40000.000"), "ETH": D("30000.000"), "USDT": D(30_000)}


def test_cash_is_invested_with_maker_buys_the_gate_allows() -> None:
    out = step(observe({"USDT": "100000"}), POLICY, MEMORY, Controls(), NOW)
    assert out.decision.action == "Rebalance" and out.plan is not None and out.plan.seq == 1
    assert out.verdict is not None and out.verdict.allowed
    assert {(o.asset, o.side, o.type) for o in out.plan.orders} == {("BTC", "buy", Liquidity.MAKER),
                                                                   ("ETH", "buy", Liquidity.MAKER)}


def test_a_taker_plan_asks_for_the_books_first() -> None:
    taker = POLICY.model_copy(update={"execution": Execution(normal=OrderStyle.TAKER)})
    first = step(observe({"USDT": "100000"}), taker, MEMORY, Controls(), NOW)
    assert first.needs_books and first.plan is None
    second = step(observe({"USDT": "100000"}, books=BOOKS), taker, MEMORY, Controls(), NOW)
    assert not second.needs_books and second.plan is not None
    assert {o.type for o in second.plan.orders} == {Liquidity.TAKER}


def test_close_all_is_an_emergency_exit_a_pause_does_not_hold_back_a_halt_does() -> None:
    held = observe({"BTC": "0.8", "ETH": "12", "USDT": "30000"}, paused=True)
    assert step(held, POLICY, MEMORY, Controls(close_all=True), NOW).needs_books  # the exit goes taker
    held = replace(held, books=BOOKS)
    out = step(held, POLICY, MEMORY, Controls(close_all=True), NOW)
    assert out.exit_all and out.plan is not None and out.plan.urgency is Urgency.EMERGENCY
    assert out.verdict is not None and out.verdict.allowed and {o.side for o in out.plan.orders} == {"sell"}
    halted = step(held, POLICY, MEMORY, Controls(halt="stop", close_all=True), NOW)
    assert halted.verdict is not None and halted.verdict.reason == "Halted"


def test_a_plan_in_flight_is_not_replaced() -> None:
    out = step(observe({"USDT": "100000"}, working=True), POLICY, MEMORY, Controls(), NOW)
    assert out.decision.action == "Rebalance" and out.plan is None and not out.needs_books

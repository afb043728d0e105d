"""Planner and gate: rounding, minimums, maker/taker, deterministic ids; property tests over random books."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.api.hedgebook import Objective
from hedgeops.api.policy import Limits, Preset, RebalancePolicySpec, RebalanceTo
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.hedge.exposure import AssetObservation, BookExposure, compute_exposure
from hedgeops.engine.hedge.gate import DayUsage, gate
from hedgeops.engine.hedge.planner import plan_rebalance
from hedgeops.engine.hedge.triggers import TriggerDecision, Urgency
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.model.market import MarketRules, Quote
from hedgeops.model.orders import Liquidity

from .engine_fixtures import LEGS, NOW, SEED_MIN, exposure, inputs

D = Decimal
PRICES = {"SOL": D("150.00"), "ETH": D("3000.00"), "BTC": D("100000.0")}
EMERGENCY = TriggerDecision(Urgency.EMERGENCY)
NORMAL = TriggerDecision(Urgency.NORMAL)


def test_maker_for_normal_taker_for_emergency() -> None:
    e = exposure({"SOL": ("150", "100", "-97")})  # 3 SOL short of target: sell 3
    normal = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=NORMAL, inputs=inputs(PRICES))
    (o,) = normal.orders
    assert (o.side, o.amount, o.type) == ("sell", D("3.00"), Liquidity.MAKER)
    assert o.price == D("150.01")  # post-only at the ask
    emergency = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=EMERGENCY, inputs=inputs(PRICES))
    (t,) = emergency.orders
    assert (t.type, t.price) == (Liquidity.TAKER, None)
    assert emergency.est_cost_quote > normal.est_cost_quote  # taker fee 0.05% vs maker 0.02%


def test_below_minimum_is_skipped_with_reason() -> None:
    e = exposure({"SOL": ("150", "100", "-99.96")})  # 0.04 SOL < seed minimum 0.05
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=NORMAL, inputs=inputs(PRICES))
    assert plan.orders == ()
    assert plan.skipped[0].asset == "SOL" and "below minimum" in plan.skipped[0].reason


def test_market_minimum_wins_over_a_smaller_policy_minimum() -> None:
    e = exposure({"BTC": ("100000", "1", "-0.99995")})  # 0.00005 BTC < market min 0.0001
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=NORMAL,
                          inputs=inputs(PRICES, min_order={"BTC": D("0.00001")}))
    assert plan.orders == ()


def test_band_edge_trades_only_back_to_the_band() -> None:
    policy = RebalancePolicySpec(preset=Preset.COMPACT, rebalanceTo=RebalanceTo.BAND_EDGE, minOrder=SEED_MIN)
    e = exposure({"SOL": ("150", "100", "-95")})  # 5% short of target; band 2% → trade 3, not 5
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=NORMAL, inputs=inputs(PRICES, policy))
    assert plan.orders[0].amount == D("3.00")


def test_ids_are_deterministic_unique_and_okx_safe() -> None:
    assert plan_id("uid-1", 7) == plan_id("uid-1", 7) != plan_id("uid-1", 8)
    ids = {client_order_id(plan_id("uid-1", 7), leg, a) for leg in range(3) for a in "mt"}
    assert len(ids) == 6
    assert all(i.isalnum() and len(i) <= 32 for i in ids)


assets = st.sampled_from(sorted(LEGS))
qty = st.decimals(min_value=D("0.1"), max_value=D("500"), places=3)
drift = st.decimals(min_value=D("-0.2"), max_value=D("0.2"), places=4)


@st.composite
def books(draw: st.DrawFn) -> BookExposure:
    chosen = draw(st.lists(assets, min_size=1, max_size=3, unique=True))
    ratio = draw(st.decimals(min_value=D("0.3"), max_value=D("1"), places=2))
    obs = []
    for a in chosen:
        held = draw(qty) * (D(1) if a == "SOL" else D("0.05") if a == "ETH" else D("0.002"))
        hedge = -ratio * held * (1 + draw(drift))
        obs.append(AssetObservation(a, PRICES[a], held, hedge))
    return compute_exposure(obs, Objective(hedgeRatio=ratio))


def _after(e: BookExposure, plan_orders: dict[str, Decimal]) -> BookExposure:
    return BookExposure(tuple(
        type(a)(a.asset, a.price, a.holding_qty, a.hedge_qty + plan_orders.get(a.asset, D(0)), a.target_hedge_qty)
        for a in e.assets))


@settings(max_examples=300, deadline=None)
@given(books(), st.sampled_from([Urgency.NORMAL, Urgency.EMERGENCY]))
def test_plan_orders_are_valid(e: BookExposure, urgency: Urgency) -> None:
    plan = plan_rebalance(book_uid="b", seq=3, now=NOW, exposure=e, decision=TriggerDecision(urgency),
                          inputs=inputs(PRICES))
    for o in plan.orders:
        rules = PAPER_MARKETS[o.symbol]
        assert o.amount >= max(SEED_MIN[o.asset], rules.min_amount), "order below the minimum"
        assert rules.round_amount(o.amount) == o.amount, "amount off the market's grid"
        # Never trade past the target: the order reduces |net| and does not overshoot it.
        net = e.get(o.asset).net_qty
        assert abs(net + o.signed_amount) <= abs(net)
    assert len({o.client_order_id for o in plan.orders}) == len(plan.orders)


@settings(max_examples=300, deadline=None)
@given(books(), st.sampled_from([RebalanceTo.TARGET, RebalanceTo.BAND_EDGE]))
def test_executing_a_plan_at_snapshot_prices_leaves_every_asset_in_its_band(e: BookExposure, to: RebalanceTo) -> None:
    policy = RebalancePolicySpec(preset=Preset.COMPACT, rebalanceTo=to, minOrder=SEED_MIN)
    plan = plan_rebalance(book_uid="b", seq=1, now=NOW, exposure=e, decision=EMERGENCY,
                          inputs=inputs(PRICES, policy))
    after = _after(e, {o.asset: o.signed_amount for o in plan.orders})
    for a in after.assets:
        rules = PAPER_MARKETS[LEGS[a.asset]]
        smallest = max(SEED_MIN[a.asset], rules.min_amount)
        band_units = D("0.02") * abs(a.target_hedge_qty)
        if band_units >= smallest + rules.amount_step:  # the band is wider than what can be traded at all
            assert abs(a.deviation) <= D("0.02"), (a, plan)


def test_gate_limits() -> None:
    e = exposure({"SOL": ("150", "100", "-97")})
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=NORMAL, inputs=inputs(PRICES))
    em = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=e, decision=EMERGENCY, inputs=inputs(PRICES))
    limits = Limits(maxRebalancesPerDay=2, minSecondsBetweenRebalances=300, maxDailyCostQuote=D("1"))
    fresh = DayUsage(0, D(0))
    assert gate(plan, limits, fresh, None, NOW, paused=False, halted=False).allowed
    assert gate(plan, limits, DayUsage(2, D(0)), None, NOW, paused=False, halted=False).reason == "DailyRebalanceLimit"
    recent = NOW - timedelta(seconds=100)
    assert gate(plan, limits, fresh, recent, NOW, paused=False, halted=False).reason == "TooSoon"
    assert gate(em, limits, DayUsage(2, D(0)), recent, NOW, paused=False, halted=False).allowed  # emergency
    assert gate(em, limits, DayUsage(0, D("0.9")), None, NOW, paused=False, halted=False).reason == "DailyCostLimit"
    assert gate(plan, limits, fresh, None, NOW, paused=True, halted=False).reason == "Paused"
    assert gate(em, limits, fresh, None, NOW, paused=False, halted=True).reason == "Halted"


def test_a_many_legged_book_sliced_small_stays_within_a_plans_hundred_order_ids() -> None:
    """Six legs each sliced at 100 USDT took 20 parts apiece: the 101st order's id could not be written and every
    cycle failed with a traceback, the book never hedged. Each leg now gets its share of the plan's 100 ids."""
    assets = ["SOL", "ETH", "BTC", "DOGE", "XRP", "ADA"]
    legs = {a: f"{a}/USDT:USDT" for a in assets}
    markets = {legs[a]: MarketRules(legs[a], a, "USDT", D("0.01"), D("0.01"), D("0.01"), True) for a in assets}
    quotes = {legs[a]: Quote(legs[a], D("99.99"), D("100.01"), D("100"), NOW) for a in assets}
    inp = replace(inputs({"SOL": D(100)}), legs=legs, markets=markets, quotes=quotes, min_order={},
                  max_order_quote=D("100"))
    plan = plan_rebalance(book_uid="u", seq=1, now=NOW, exposure=exposure({a: ("100", "100", "-50") for a in assets}),
                          decision=TriggerDecision(Urgency.EMERGENCY), inputs=inp)
    assert 6 < len(plan.orders) <= 100 and len({o.client_order_id for o in plan.orders}) == len(plan.orders)
    by_asset = {a: sum((o.amount for o in plan.orders if o.asset == a), D(0)) for a in assets}
    assert by_asset == {a: D(50) for a in assets}  # every leg fully hedged in this one plan, in larger parts

"""One Hedge-objective decision, whole and pure: what the runtime observed, the policy, what the status carries
from the last cycle and what people ask (controls) in; the exposure, the verdict, the plan (if one is wanted),
the gate's word on it, the alert to raise and the memory to carry out. No I/O and no clock, like
`carry_machine.step` and `decide_maker`: the runtime observes before and executes after, and a test or a
backtest calls this alone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from hedgeops.api.hedgebook import DailyCounters, HedgeBookStatus, Objective, WorkingPlan
from hedgeops.api.policy import RebalancePolicySpec
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.common.ids import plan_id
from hedgeops.engine.hedge.alerts import persisting_deviation
from hedgeops.engine.hedge.decision import BookDecision, decide_book
from hedgeops.engine.hedge.delta import DeltaPosition, InstrumentKind, WorkingOrder, asset_deltas
from hedgeops.engine.hedge.exposure import AssetObservation, BookExposure, compute_exposure
from hedgeops.engine.hedge.gate import DayUsage, GateVerdict, gate
from hedgeops.engine.hedge.planner import PlanInputs, RebalancePlan, plan_rebalance
from hedgeops.engine.hedge.signals import Signal, effective_objective
from hedgeops.engine.hedge.triggers import Reason, Urgency
from hedgeops.engine.hedge.volatility import DeviationVolatility
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import OrderState

ZERO = Decimal(0)


@dataclass(frozen=True)
class HedgeObservation:
    """What the runtime observed of a book and its account this cycle (and the spec's part of the decision)."""

    uid: str  # the book's identity: it names the plans and their client order ids
    objective: Objective
    signal: Signal | None  # the TradingView signal in status, if any (expired ones are ignored by the step)
    paused: bool
    legs: Mapping[str, str]  # asset → its linear swap, in the spec's order
    markets: Mapping[str, MarketRules]  # by symbol
    quotes: Mapping[str, Quote]  # by symbol
    held: Mapping[str, Decimal]  # units held per asset, as the holdings source says
    positions: Mapping[str, Decimal]  # the swap position per symbol (symbols with a position only)
    foreign: tuple[WorkingOrder, ...]  # orders open on the legs that are not ours (they count in the delta)
    fees: Fees
    working: WorkingPlan | None  # the plan in flight: while it runs no new plan is made
    # Seed 001: the book's other instruments on the account (spot balances, dated futures, options with the venue's
    # delta), counted in their assets' delta beside the perp legs; observed, never traded.
    observed: tuple[DeltaPosition, ...] = ()


@dataclass(frozen=True)
class HedgeMemory:
    """What the status carries from one cycle to the next for the decision."""

    volatility: Mapping[str, DeviationVolatility]
    high_deviation_since: datetime | None
    last_check: datetime | None
    last_rebalance_at: datetime | None
    today: DayUsage  # today's rebalances and cost (already started afresh on a new UTC day)
    rebalance_seq: int


@dataclass(frozen=True)
class HedgeStep:
    """What the step decided. `plan` is None when nothing is to be planned (within band, a plan in flight,
    close-all); `gate` is the gate's verdict on `plan`; `alert` is set on the cycle a persisting deviation
    first becomes due (told once)."""

    exposure: BookExposure
    verdict: BookDecision
    plan: RebalancePlan | None
    gate: GateVerdict | None
    alert: Reason | None
    memory: HedgeMemory


def memory_of(status: HedgeBookStatus, today: DailyCounters) -> HedgeMemory:
    """The memory a status carries; `today`: the day's counters as of now (see book_result.today_of)."""
    vols = {} if status.lastCheck is None else {
        e.asset: DeviationVolatility(e.driftVariancePerHour, e.targetHedgeQty, status.lastCheck)
        for e in status.exposures}
    return HedgeMemory(vols, status.highDeviationSince, status.lastCheck,
                       status.lastRebalance.time if status.lastRebalance else None,
                       DayUsage(today.rebalances, today.costQuote), status.rebalanceSeq)


def foreign_orders(open_orders: Iterable[OrderState], legs: Mapping[str, str], uid: str, seq: int,
                   working: bool) -> tuple[WorkingOrder, ...]:
    """Orders open on the legs that are not ours: they count in the delta (seed 001: pending orders included), so
    a plan never trades them a second time. Ours do not: a working plan's orders are not risk removed until they
    fill (an emergency must still force them to taker), and the next plan's ids (`seq` + 1), left by a crash
    before the status was written, are adopted when that plan is made again."""
    if working:
        return ()
    ours = "ho" + plan_id(uid, seq + 1)
    return tuple(WorkingOrder(o.symbol, asset, o.side, o.remaining)
                 for o in open_orders for asset, sym in legs.items()
                 if o.symbol == sym and not o.client_order_id.startswith(ours))


def step(obs: HedgeObservation, policy: RebalancePolicySpec, memory: HedgeMemory, controls: Controls,
         now: datetime) -> HedgeStep:
    """Exposure → bands and triggers → persisting deviation → the plan and the gate's verdict on it."""
    deltas = asset_deltas([*(DeltaPosition(sym, asset, InstrumentKind.PERP, obs.positions[sym])
                             for asset, sym in obs.legs.items() if sym in obs.positions), *obs.observed], obs.foreign)
    exposure = compute_exposure(
        [AssetObservation(asset, obs.quotes[sym].last, obs.held.get(asset, ZERO), deltas.get(asset, ZERO))
         for asset, sym in obs.legs.items()],
        effective_objective(obs.objective, obs.signal, now, obs.held))
    minimums = {asset: max(policy.minOrder.get(asset, ZERO), obs.markets[sym].min_amount)
                for asset, sym in obs.legs.items() if sym in obs.markets}
    verdict = decide_book(exposure, policy, now, memory.last_rebalance_at, memory.volatility, minimums)
    seconds = policy.alerts.deviationPersistSeconds
    persist = persisting_deviation(exposure, policy.alerts.deviationPersistRatio, seconds, now,
                                   memory.high_deviation_since)
    was_due = (memory.high_deviation_since is not None and memory.last_check is not None
               and (memory.last_check - memory.high_deviation_since).total_seconds() >= seconds)
    plan, verdict_of_gate = None, None
    # Close-all trades nothing but the legs' closing; a plan in flight is progressed (or halted), not replaced.
    if not controls.close_all and obs.working is None and verdict.decision.urgency is not Urgency.NONE:
        plan = plan_rebalance(
            book_uid=obs.uid, seq=memory.rebalance_seq + 1, now=now, exposure=exposure, decision=verdict.decision,
            inputs=PlanInputs(legs=obs.legs, markets=obs.markets, quotes=obs.quotes, min_order=policy.minOrder,
                              normal_style=policy.execution.normal, emergency_style=policy.execution.emergency,
                              rebalance_to=verdict.rebalance_to, thresholds=verdict.thresholds, fees=obs.fees,
                              max_order=policy.maxOrder, max_order_quote=policy.execution.maxOrderQuote))
        # Halted is the gate's to refuse (a plan is still made, so the status shows what would be done).
        verdict_of_gate = gate(plan, policy.limits, memory.today, memory.last_rebalance_at, now,
                               paused=obs.paused, halted=controls.halted, exposure=exposure)
    return HedgeStep(exposure, verdict, plan, verdict_of_gate, persist.alert if not was_due else None,
                     replace(memory, volatility=verdict.volatility, high_deviation_since=persist.high_since,
                             last_check=now))

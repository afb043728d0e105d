"""One Allocation-objective decision, whole and pure (seed 002): what the runtime observed of the spot account,
the policy, the memory and the controls in; the values, the decision, the plan (if one is wanted), the verdict
of the cost tolerance and the risk gate on it out. No I/O and no clock.

A taker plan's cost forecast walks the order books, and the runtime fetches them only for such a plan: a step
without them (`books` None) that would plan taker orders says so (`needs_books`) instead of planning, and the
runtime observes them and steps again.

Targets come from the book's weighting (engine/allocation/weighting.py) over the candles the runtime observed;
the schedule (engine/allocation/schedule.py) says whether a fire is due; a person's rebalance-now request comes
from the memory (the runtime keeps it until it is handled). An opportunity (policy `allocation.opportunity`) is a
rebalance made early because it is cheap: drift at least a share of the band, and the plan's forecast cost at
most a share of what it trades. That cost is always forecast as for taker orders (the taker fee and the walk of
the books), even when the policy trades maker orders: a maker order that does not fill in time falls back to a
taker one (execution's fallback), and forecasting it at the mid with the maker fee would make every plan look
cheap whatever the book. A plan larger than the fetched books is never an opportunity (engine/allocation/plan.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from hedgeops.api.allocation import Weighting
from hedgeops.api.policy import OrderStyle, RebalancePolicySpec, VolatilityWindow
from hedgeops.engine.allocation.plan import (
    AllocationInputs,
    AllocationPlan,
    as_rebalance_plan,
    cost_verdict,
    plan_allocation,
)
from hedgeops.engine.allocation.schedule import ScheduleMemory, ScheduleView, schedule_of
from hedgeops.engine.allocation.weighting import AssetTarget, weigh
from hedgeops.engine.allocation.weights import AllocationDecision, decide_allocation
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.hedge.gate import DayUsage, GateVerdict, gate
from hedgeops.engine.hedge.planner import RebalancePlan
from hedgeops.engine.hedge.triggers import Reason, Urgency
from hedgeops.model.book import OrderBook
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import Liquidity

ZERO = Decimal(0)


@dataclass(frozen=True)
class AllocationObservation:
    """What the runtime observed of an Allocation book's spot account this cycle (and the spec's part)."""

    uid: str  # the book's identity: it names the plans and their client order ids
    quote: str  # the quote currency: cash
    targets: Mapping[str, Decimal]  # asset → target weight
    paused: bool
    markets: Mapping[str, MarketRules]  # asset → its spot market against the quote currency
    quotes: Mapping[str, Quote]  # asset → its spot quote
    units: Mapping[str, Decimal]  # units held per owned asset (the quote currency too)
    fees: Fees
    working: bool  # a plan is in flight: it is progressed (or halted), not replaced
    books: Mapping[str, OrderBook] | None = None  # asset → its book; None: not observed (see the module's doc)
    weighting: Weighting = Weighting.STATIC
    window: VolatilityWindow = field(default_factory=VolatilityWindow)  # the weighting's candles
    closes: Mapping[str, Mapping[str, Sequence[Decimal]]] | None = None  # timeframe → asset → closes, oldest first


@dataclass(frozen=True)
class AllocationMemory:
    """What the status carries from one cycle to the next for the decision."""

    last_rebalance_at: datetime | None
    today: DayUsage  # already started afresh on a new UTC day
    rebalance_seq: int
    schedule: ScheduleMemory = field(default_factory=ScheduleMemory)
    rebalance_now: str | None = None  # a person's request not yet handled, in words (None: none)


@dataclass(frozen=True)
class AllocationStep:
    """What the step decided. `plan` is None when nothing is to be planned (hold, a plan in flight) or when the
    plan needs the order books first (`needs_books`); `verdict` is the cost tolerance's and the gate's on it."""

    prices: dict[str, Decimal]  # asset → mid, in the quote currency
    values: dict[str, Decimal]  # asset → value held, in the quote currency
    decision: AllocationDecision
    plan: RebalancePlan | None
    verdict: GateVerdict | None
    needs_books: bool = False
    targets: Mapping[str, AssetTarget] = field(default_factory=dict)
    schedule: ScheduleView | None = None
    alloc: AllocationPlan | None = None  # the plan with its per-order forecast (fees, slippage)

    @property
    def exit_all(self) -> bool:
        return self.decision.action == "Exit"


def order_type(policy: RebalancePolicySpec, exit_all: bool) -> Liquidity:
    style = policy.execution.emergency if exit_all else policy.execution.normal
    return Liquidity.MAKER if style is OrderStyle.MAKER else Liquidity.TAKER


def closes_for(obs: AllocationObservation, window: VolatilityWindow) -> dict[str, Sequence[Decimal]] | None:
    """The last `window.candles` closes of each asset for the window's timeframe, or None if not observed."""
    if obs.closes is None or window.timeframe not in obs.closes:
        return None
    return {a: tuple(c[-window.candles:]) for a, c in obs.closes[window.timeframe].items()}


def step(obs: AllocationObservation, policy: RebalancePolicySpec, memory: AllocationMemory, controls: Controls,
         now: datetime) -> AllocationStep:
    """Targets → values → schedule → the decision (close-all is the emergency exit) → the plan through the
    cost tolerance and the risk gate; an opportunity is tried when nothing else wants a plan."""
    prices = {a: q.mid for a, q in obs.quotes.items()}
    values = {a: q * (Decimal(1) if a == obs.quote else prices[a]) for a, q in obs.units.items()}
    targets = weigh(obs.targets, obs.quote, obs.weighting, closes_for(obs, obs.window), obs.window.timeframe)
    weights = {a: t.weight for a, t in targets.items()}
    dynamic = policy.schedule.dynamic if policy.schedule else None
    sched = schedule_of(policy, weights, closes_for(obs, dynamic.window) if dynamic else None, memory.schedule,
                        memory.last_rebalance_at, now)
    due = f"schedule {sched.cron!r} ({sched.why}) fired at {sched.due.isoformat()}" if sched and sched.due else None
    decision = decide_allocation(weights, values, policy.allocation, paused=obs.paused,
                                 emergency_exit=controls.close_all, manual=memory.rebalance_now, scheduled=due)
    out = AllocationStep(prices, values, decision, None, None, targets=targets, schedule=sched)
    if obs.working:
        return out
    opportunity = policy.allocation.opportunity
    if decision.action == "Hold" and (decision.reason != "WithinBands" or opportunity is None or not any(
            abs(d.drift) >= opportunity.minDriftFraction * d.threshold for d in decision.drifts)):
        return out  # nothing wanted, and no opportunity to look at
    exit_all = decision.action == "Exit"
    kind = order_type(policy, exit_all)
    if obs.books is None and (kind is Liquidity.TAKER or decision.action == "Hold"):
        return replace(out, needs_books=True)  # the forecast walks the books (an opportunity's as a taker's)
    inputs = AllocationInputs(obs.quote, obs.markets, prices, obs.books or {}, obs.fees, kind,
                              policy.allocation.minTradeQuote, policy.execution.maxOrderQuote)
    alloc = plan_allocation(weights, obs.units, inputs, uid=obs.uid, seq=memory.rebalance_seq + 1,
                            exit_all=exit_all)
    if decision.action == "Hold":  # an opportunity: only when the plan is cheap
        assert opportunity is not None
        probe = alloc if kind is Liquidity.TAKER else plan_allocation(
            weights, obs.units, replace(inputs, order_type=Liquidity.TAKER), uid=obs.uid,
            seq=memory.rebalance_seq + 1)  # a maker plan is judged at its taker fallback's cost
        if not alloc.orders or probe.beyond_book or probe.traded_cost_ratio > opportunity.maxCostRatio:
            return out
        worst = max(decision.drifts, key=lambda d: abs(d.drift) / d.threshold if d.threshold else ZERO)
        decision = decide_allocation(weights, values, policy.allocation,
                                     opportunity=f"{worst.asset} drifted {worst.drift:+.2%} of a ±{worst.threshold:.2%}"
                                     f" band and the forecast cost is {probe.traded_cost_ratio:.3%} of the "
                                     f"{probe.notional_quote:.2f} traded as taker orders (cheap at ≤ "
                                     f"{opportunity.maxCostRatio:.3%})")
    plan = as_rebalance_plan(alloc, obs.quotes, obs.markets, now=now,
                             urgency=Urgency.EMERGENCY if exit_all else Urgency.NORMAL,
                             reason=Reason(decision.reason, decision.message))
    verdict = cost_verdict(alloc, policy.allocation.maxCostRatio, exit_all=exit_all)
    if verdict.allowed or verdict.reason == "NothingToTrade":
        verdict = gate(plan, policy.limits, memory.today, memory.last_rebalance_at, now,
                       paused=obs.paused and not exit_all, halted=controls.halted)
    return replace(out, decision=decision, plan=plan, verdict=verdict, alloc=alloc)

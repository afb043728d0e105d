"""One Allocation-objective decision, whole and pure (seed 002): what the runtime observed of the spot account,
the policy, the memory and the controls in; the values, the decision, the plan (if one is wanted), the verdict
of the cost tolerance and the risk gate on it out. No I/O and no clock.

A taker plan's cost forecast walks the order books, and the runtime fetches them only for such a plan: a step
without them (`books` None) that would plan taker orders says so (`needs_books`) instead of planning, and the
runtime observes them and steps again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hedgeops.api.policy import OrderStyle, RebalancePolicySpec
from hedgeops.engine.allocation.plan import AllocationInputs, as_rebalance_plan, cost_verdict, plan_allocation
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


@dataclass(frozen=True)
class AllocationMemory:
    """What the status carries from one cycle to the next for the decision."""

    last_rebalance_at: datetime | None
    today: DayUsage  # already started afresh on a new UTC day
    rebalance_seq: int


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

    @property
    def exit_all(self) -> bool:
        return self.decision.action == "Exit"


def order_type(policy: RebalancePolicySpec, exit_all: bool) -> Liquidity:
    style = policy.execution.emergency if exit_all else policy.execution.normal
    return Liquidity.MAKER if style is OrderStyle.MAKER else Liquidity.TAKER


def step(obs: AllocationObservation, policy: RebalancePolicySpec, memory: AllocationMemory, controls: Controls,
         now: datetime) -> AllocationStep:
    """Values → the decision (close-all is the emergency exit) → the plan through the cost tolerance and the
    risk gate."""
    prices = {a: q.mid for a, q in obs.quotes.items()}
    values = {a: q * (Decimal(1) if a == obs.quote else prices[a]) for a, q in obs.units.items()}
    decision = decide_allocation(obs.targets, values, policy.allocation, now=now,
                                 last_rebalance_at=memory.last_rebalance_at,
                                 cron=policy.schedule.cron if policy.schedule else None, paused=obs.paused,
                                 emergency_exit=controls.close_all)
    exit_all = decision.action == "Exit"
    if decision.action == "Hold" or obs.working:
        return AllocationStep(prices, values, decision, None, None)
    kind = order_type(policy, exit_all)
    if kind is Liquidity.TAKER and obs.books is None:  # the cost forecast walks the book (a maker pays no slippage)
        return AllocationStep(prices, values, decision, None, None, needs_books=True)
    inputs = AllocationInputs(obs.quote, obs.markets, prices, obs.books or {}, obs.fees, kind,
                              policy.allocation.minTradeQuote, policy.execution.maxOrderQuote)
    alloc = plan_allocation(obs.targets, obs.units, inputs, uid=obs.uid, seq=memory.rebalance_seq + 1,
                            exit_all=exit_all)
    plan = as_rebalance_plan(alloc, obs.quotes, obs.markets, now=now,
                             urgency=Urgency.EMERGENCY if exit_all else Urgency.NORMAL,
                             reason=Reason(decision.reason, decision.message))
    verdict = cost_verdict(alloc, policy.allocation.maxCostRatio, exit_all=exit_all)
    if verdict.allowed or verdict.reason == "NothingToTrade":
        verdict = gate(plan, policy.limits, memory.today, memory.last_rebalance_at, now,
                       paused=obs.paused and not exit_all, halted=controls.halted)
    return AllocationStep(prices, values, decision, plan, verdict)

"""One HedgeBook cycle: observe → decide → gate → act → report. Shared by the operator and local mode."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.hedgebook import (
    AssetExposureStatus,
    DailyCounters,
    HedgeBook,
    HedgeBookStatus,
    ObjectiveType,
    RebalanceRecord,
    WorkingPlan,
)
from hedgeops.api.policy import Approval, RebalancePolicy
from hedgeops.engine.alerts import persisting_deviation
from hedgeops.engine.approval import PlanState, executed
from hedgeops.engine.bands import Thresholds
from hedgeops.engine.decision import decide_book
from hedgeops.engine.delta import DeltaPosition, InstrumentKind, WorkingOrder, asset_deltas
from hedgeops.engine.errors import DeltaCalculationError
from hedgeops.engine.exposure import AssetExposure, AssetObservation, BookExposure, compute_exposure
from hedgeops.engine.gate import DayUsage, gate
from hedgeops.engine.ids import client_order_id, plan_id
from hedgeops.engine.planner import PlanInputs, RebalancePlan, plan_rebalance
from hedgeops.engine.signals import effective_objective, signal_from_status
from hedgeops.engine.triggers import TriggerDecision, Urgency
from hedgeops.engine.volatility import DeviationVolatility
from hedgeops.exchange.venue import OrderRequest, Venue
from hedgeops.runtime.approval import APPROVE, from_status, review, to_status
from hedgeops.runtime.conditions import set_condition
from hedgeops.runtime.cycle import CycleEvent, Guard, ObjectCycle, Services
from hedgeops.runtime.execution import (
    ExecutionContext,
    halt_plan,
    plan_cost,
    plan_done,
    progress_plan,
    recover_plan,
    start_plan,
    submit,
)
from hedgeops.runtime.holdings import HoldingsUnavailable, resolve_holdings

Q8 = Decimal("0.00000001")
KIND = "HedgeBook"


@dataclass
class CycleResult:
    """What a cycle produced: the new status and what happened along the way."""

    status: HedgeBookStatus
    exposure: BookExposure | None = None
    decision: TriggerDecision | None = None
    plan: RebalancePlan | None = None
    completed: RebalanceRecord | None = None
    events: list[CycleEvent] = field(default_factory=list)


def _q(x: Decimal) -> Decimal:
    return x.quantize(Q8)


class HedgeBookReconciler:
    """Reconciles HedgeBooks. Business failures become conditions and events, never exceptions."""

    def __init__(self, services: Services) -> None:
        self.s = services

    async def reconcile(self, book: HedgeBook, policy: RebalancePolicy | None, now: datetime, *,
                        halted: bool = False, approval: str | None = None, close_all: bool = False) -> CycleResult:
        """`approval`: the id a person approved since the last cycle (hedgeops.io/approve), if any; `close_all`:
        flatten every hedge leg reduce-only and trade nothing else (hedgeops.io/close-all)."""
        started = time.perf_counter()
        try:
            return await self._reconcile(book, policy, now, halted, approval, close_all)
        finally:
            self.s.metrics.reconcile_seconds.labels("HedgeBook").observe(time.perf_counter() - started)

    def _fail(self, cycle: ObjectCycle, status: HedgeBookStatus, reason: str, message: str,
              degraded: bool = False) -> CycleResult:
        conds = cycle.failed(status.conditions, reason, message, degraded)
        new = status.model_copy(update={"conditions": conds, "observedGeneration": cycle.generation,
                                        "lastCheck": cycle.now})
        return CycleResult(new, events=[CycleEvent("Warning", reason, message)])

    async def _reconcile(self, book: HedgeBook, policy: RebalancePolicy | None, now: datetime,
                         halted: bool, approval: str | None, close_all: bool) -> CycleResult:
        status = book.status or HedgeBookStatus()
        spec = book.spec
        cycle = ObjectCycle(KIND, book.metadata.namespace, book.metadata.name, book.metadata.generation, now, self.s)
        if policy is None:
            return self._fail(cycle, status, "PolicyNotFound",
                              f"RebalancePolicy {spec.policyRef.name!r} not found in namespace "
                              f"{book.metadata.namespace!r}: the book does not trade until it exists")
        if spec.objective.type is not ObjectiveType.HEDGE:
            return self._fail(cycle, status, "ObjectiveNotSupported",
                              "Allocation books are not reconciled by this version; use objective Hedge")
        # A policy is shared by many books: its per-asset overrides apply to the assets a book hedges.
        legs = {leg.asset: leg.symbol for leg in spec.legs}
        async with Guard(cycle, spec.exchange, spec.mode, book.key) as guard:
            if guard.failure is None:
                try:
                    return await self._guarded(book, policy, now, halted, approval, close_all, status, legs, guard)
                except DeltaCalculationError as exc:
                    return self._fail(cycle, status, "DeltaUnavailable", str(exc))
                except HoldingsUnavailable as exc:
                    return self._fail(cycle, status, "HoldingsUnavailable", str(exc))
        assert guard.failure is not None  # set on entry, or the block's error translated on exit
        reason, message, degraded = guard.failure
        if reason == "ActionFailed":
            reason, message = "RebalanceFailed", f"rebalance failed: {message}"
        return self._fail(cycle, status, reason, message, degraded)

    async def _guarded(self, book: HedgeBook, policy: RebalancePolicy, now: datetime, halted: bool,
                       approval: str | None, close_all: bool,
                       status: HedgeBookStatus, legs: dict[str, str], guard: Guard) -> CycleResult:
        recovered: list[CycleEvent] = []
        ctx = guard.context(guard.stream, {}, dict(policy.spec.minOrder))
        if status.workingPlan is None:
            intent = await self.s.journal.read_intent(guard.stream)
            if intent is not None and int(intent["seq"]) > status.rebalanceSeq:
                status = await self._recover(status, intent, guard.venue, ctx)
                plan = status.workingPlan
                assert plan is not None
                recovered.append(CycleEvent("Warning", "PlanRecovered", (
                    f"plan {plan.planId} was cut short by a restart: {len(plan.orders)} of its orders found by "
                    f"client id and adopted, none sent again")))
        result = await self._cycle(book, policy, now, halted, approval, close_all, guard.venue, status, legs,
                                   guard.context(guard.stream, {}, dict(policy.spec.minOrder)))
        result.events[:0] = recovered
        return result

    async def _recover(self, status: HedgeBookStatus, intent: dict[str, Any], venue: Venue,
                       ctx: ExecutionContext) -> HedgeBookStatus:
        """A plan whose intent is newer than the status was cut short by a crash: adopt what it sent."""
        ctx.markets = await venue.markets(sorted({str(o["symbol"]) for o in intent["orders"]}))
        working = await recover_plan(ctx, intent)
        self.s.metrics.recoveries.labels(KIND).inc()
        return status.model_copy(update={"workingPlan": working, "rebalanceSeq": working.seq})

    async def _cycle(self, book: HedgeBook, policy: RebalancePolicy, now: datetime, halted: bool,
                     approval: str | None, close_all: bool, venue: Venue,
                     status: HedgeBookStatus, legs: dict[str, str], ctx: ExecutionContext) -> CycleResult:
        spec, pspec = book.spec, policy.spec
        ns, name, gen = book.metadata.namespace, book.metadata.name, book.metadata.generation
        symbols = sorted(legs.values())
        ctx.markets = await venue.markets(symbols)
        snap = await venue.snapshot(symbols)
        prices = {asset: snap.quotes[sym].last for asset, sym in legs.items()}
        held = resolve_holdings(spec, prices, snap.balances, status.basketMark)
        # Orders open on the legs that are not ours count in the delta (seed 001: pending orders included), so
        # a plan never trades them a second time. Ours do not: a working plan's orders are not risk removed
        # until they fill (an emergency must still force them to taker), and the next plan's ids, left by a
        # crash before the status was written, are adopted when that plan is made again.
        ours = "ho" + plan_id(book.metadata.uid or book.key, status.rebalanceSeq + 1)
        foreign = () if status.workingPlan is not None else [
            WorkingOrder(o.symbol, asset, o.side, o.remaining)
            for o in snap.open_orders for asset, sym in legs.items()
            if o.symbol == sym and not o.client_order_id.startswith(ours)]
        deltas = asset_deltas([DeltaPosition(sym, asset, InstrumentKind.PERP, snap.positions[sym].qty)
                               for asset, sym in legs.items() if sym in snap.positions], foreign)
        started = time.perf_counter()
        exposure = compute_exposure(
            [AssetObservation(asset, prices[asset], held.units.get(asset, Decimal(0)), deltas.get(asset, Decimal(0)))
             for asset, sym in legs.items()],
            effective_objective(spec.objective, signal_from_status(status.activeSignal), now))
        self.s.metrics.observe_exposure(ns, name, exposure)
        last_at = status.lastRebalance.time if status.lastRebalance else None
        minimums = {asset: max(pspec.minOrder.get(asset, Decimal(0)), ctx.markets[sym].min_amount)
                    for asset, sym in legs.items() if sym in ctx.markets}
        verdict_now = decide_book(exposure, pspec, now, last_at, _volatility(status), minimums)
        self.s.metrics.decision_seconds.labels(KIND).observe(time.perf_counter() - started)
        thresholds, decision = verdict_now.thresholds, verdict_now.decision
        persist = persisting_deviation(exposure, pspec.alerts.deviationPersistRatio,
                                       pspec.alerts.deviationPersistSeconds, now, status.highDeviationSince)
        result = CycleResult(status, exposure, decision)
        today = status.today if status.today and status.today.date == now.date().isoformat() else (
            DailyCounters(date=now.date().isoformat()))
        seconds = pspec.alerts.deviationPersistSeconds
        was_due = (status.highDeviationSince is not None and status.lastCheck is not None
                   and (status.lastCheck - status.highDeviationSince).total_seconds() >= seconds)
        if persist.alert is not None and not was_due:  # alert once, when it first becomes due
            self.s.metrics.alerts.labels(ns, name, persist.alert.code).inc()
            result.events.append(CycleEvent("Warning", persist.alert.code, persist.alert.message))

        working = status.workingPlan
        seq = status.rebalanceSeq
        pending = from_status(status.pendingPlan)
        wants = decision.urgency is not Urgency.NONE and working is None
        if pspec.approval is Approval.MANUAL and not wants and (pending is not None or approval):
            idle = review(pending, None, now, pspec.approvalTtlSeconds, approval)  # nothing wanted: supersede
            pending = idle.pending
            await self._approval_events(ctx, result, idle.events)
        if close_all:
            if working is not None:
                working = await halt_plan(ctx, working)
            if working is None or plan_done(working):
                seq = await self._close_all(book, ctx, snap.positions, legs, seq, result)
        elif working is not None and halted:
            working = await halt_plan(ctx, working)
            result.events.append(CycleEvent("Warning", "Halted", f"plan {working.planId}: resting orders cancelled"))
        elif working is not None:
            open_ids = {o.client_order_id for o in snap.open_orders}
            working = await progress_plan(ctx, working, now, open_ids,
                                          force_taker=decision.urgency is Urgency.EMERGENCY)
        elif decision.urgency is not Urgency.NONE:
            plan = plan_rebalance(
                book_uid=book.metadata.uid or book.key, seq=seq + 1, now=now, exposure=exposure, decision=decision,
                inputs=PlanInputs(
                    legs=legs, markets=ctx.markets,
                    quotes=snap.quotes, min_order=pspec.minOrder, normal_style=pspec.execution.normal,
                    emergency_style=pspec.execution.emergency, rebalance_to=verdict_now.rebalance_to,
                    thresholds=thresholds, fees=venue.fees, max_order=pspec.maxOrder,
                    max_order_quote=pspec.execution.maxOrderQuote))
            result.plan = plan
            verdict = gate(plan, pspec.limits, DayUsage(today.rebalances, today.costQuote), last_at, now,
                           paused=spec.paused, halted=halted, exposure=exposure)
            manual = pspec.approval is Approval.MANUAL
            review_now = review(pending, plan, now, pspec.approvalTtlSeconds, approval) if manual and \
                verdict.allowed else None
            if review_now is not None:
                pending = review_now.pending
                await self._approval_events(ctx, result, review_now.events)
            if verdict.allowed and (review_now is None or review_now.execute):
                if review_now is not None and review_now.pending is not None:
                    pending = executed(review_now.pending)
                    await ctx.record({"type": "approval", "planId": plan.plan_id, "id": pending.plan_id,
                                      "by": pending.approved_by})
                seq = plan.seq
                working = await start_plan(ctx, plan, now, pspec.execution.makerTimeoutSeconds)
                result.events.append(CycleEvent(
                    "Warning" if plan.urgency is Urgency.EMERGENCY else "Normal",
                    "EmergencyRebalance" if plan.urgency is Urgency.EMERGENCY else "Rebalancing",
                    f"plan {plan.plan_id}: {len(working.orders)} orders; "
                    + "; ".join(r.message for r in plan.reasons)))
            elif not verdict.allowed and verdict.reason not in ("Paused", "Halted"):
                self.s.metrics.refusals.labels(ns, name, verdict.reason).inc()
                await ctx.record({"type": "refused", "planId": plan.plan_id, "reason": verdict.reason,
                                  "message": verdict.message})
                result.events.append(CycleEvent("Normal", verdict.reason, verdict.message))

        for order_type, outcome in ctx.outcomes:
            self.s.metrics.orders.labels(ns, name, order_type, outcome).inc()
        updates: dict[str, Any] = {}
        if working is not None and plan_done(working):
            completed = self._complete(book, working, now)
            result.completed = completed
            filled = sum(1 for o in working.orders if o.state == "closed")
            if filled == 0:
                result.events.append(CycleEvent("Warning", "RebalanceFailed",
                                                f"plan {working.planId}: no order filled"))
            else:
                result.events.append(CycleEvent("Normal", "Rebalanced",
                                                f"plan {working.planId}: {filled} orders filled, "
                                                f"cost {completed.costQuote} {spec.quoteCurrency}"))
            await ctx.record({"type": "rebalance", "planId": working.planId, "reason": working.reason,
                              "urgency": working.urgency, "costQuote": str(completed.costQuote),
                              "filled": filled})
            updates.update(
                lastRebalance=completed, rebalancesTotal=status.rebalancesTotal + 1,
                costTotalQuote=_q(status.costTotalQuote + completed.costQuote),
                today=today.model_copy(update={"rebalances": today.rebalances + 1,
                                               "costQuote": _q(today.costQuote + completed.costQuote)}))
            working = None
        else:
            updates["today"] = today

        within = decision.urgency is Urgency.NONE
        conds = set_condition(status.conditions, "Ready", True, "Reconciled",
                              f"observed {len(legs)} legs on {spec.exchange.name}/{spec.exchange.account}", now, gen)
        conds = set_condition(conds, "WithinBand", within, "WithinBand" if within else decision.primary.code
                              if decision.primary else "OutOfBand",
                              "" if within or decision.primary is None else decision.primary.message, now, gen)
        conds = set_condition(conds, "Degraded", False, "Healthy", "", now, gen)
        awaiting = pending is not None and pending.state is PlanState.PROPOSED
        conds = set_condition(conds, "AwaitingApproval", awaiting, "PlanProposed" if awaiting else "NothingPending",
                              f"{APPROVE}={pending.plan_id}" if awaiting and pending else "", now, gen)
        conds = set_condition(conds, "Halted", halted, "HaltAnnotation" if halted else "Running",
                              "hedgeops.io/halt is set" if halted else "", now, gen)
        self.s.metrics.healthy("HedgeBook", ns, name)
        result.status = status.model_copy(update={
            **updates,
            "observedGeneration": gen,
            "conditions": conds,
            "exposures": [_exposure_status(a, thresholds, verdict_now.volatility.get(a.asset))
                          for a in exposure.assets],
            "totalExposureQuote": _q(exposure.total_abs_net_quote),
            "totalDeviationRatio": _q(exposure.total_deviation),
            "lastCheck": now,
            "workingPlan": working,
            "rebalanceSeq": seq,
            "basketMark": held.mark,
            "highDeviationSince": persist.high_since,
            "pendingPlan": None if pending is None else to_status(pending, result.plan if pending.state in (
                PlanState.PROPOSED, PlanState.APPROVED, PlanState.EXECUTED) else None, status.pendingPlan),
        })
        return result

    async def _close_all(self, book: HedgeBook, ctx: ExecutionContext, positions: Any, legs: dict[str, str],
                         seq: int, result: CycleResult) -> int:
        """Seed 004's close_all for a book: every hedge leg closed at market, reduce-only, under the next
        sequence number's client ids (a retry after a crash re-sends the same ids: adopted, never doubled)."""
        open_legs = [(i, sym, positions[sym].qty) for i, sym in enumerate(sorted(legs.values()))
                     if sym in positions and positions[sym].qty != 0]
        if not open_legs:
            result.events.append(CycleEvent("Normal", "ClosedAll", "every hedge leg is flat; close-all keeps it so "
                                            "until the annotation is removed"))
            return seq
        pid = plan_id(book.metadata.uid or book.key, seq + 1)
        await ctx.record({"type": "plan", "planId": pid, "seq": seq + 1, "reason": "CloseAll",
                          "orders": [{"symbol": sym, "amount": str(abs(qty))} for _, sym, qty in open_legs]})
        for i, sym, qty in open_legs:
            req = OrderRequest(client_order_id(pid, i, "t"), sym, "buy" if qty < 0 else "sell", abs(qty), "market",
                               reduce_only=True)
            await submit(ctx, req, "taker")
        result.events.append(CycleEvent("Warning", "CloseAll", f"closing {len(open_legs)} hedge leg(s) at market, "
                                        "reduce-only"))
        return seq + 1

    async def _approval_events(self, ctx: ExecutionContext, result: CycleResult,
                               events: list[tuple[str, str, str]]) -> None:
        for kind, reason, message in events:
            result.events.append(CycleEvent(kind, reason, message))
            await ctx.record({"type": "approval", "reason": reason, "message": message})

    def _complete(self, book: HedgeBook, working: WorkingPlan, now: datetime) -> RebalanceRecord:
        cost = _q(plan_cost(working))
        record = RebalanceRecord(time=now, planId=working.planId, reason=working.reason, urgency=working.urgency,
                                 orders=len(working.orders), costQuote=cost)
        ns, name = book.metadata.namespace, book.metadata.name
        self.s.metrics.rebalances.labels(ns, name, working.urgency, working.reason).inc()
        self.s.metrics.cost.labels(ns, name).inc(float(cost))
        return record


def _exposure_status(a: AssetExposure, thresholds: Thresholds,
                     vol: DeviationVolatility | None) -> AssetExposureStatus:
    return AssetExposureStatus(asset=a.asset, priceQuote=a.price, holdingQty=_q(a.holding_qty),
                               hedgeQty=_q(a.hedge_qty), targetHedgeQty=_q(a.target_hedge_qty),
                               netExposureQuote=_q(a.net_quote), deviationRatio=_q(a.deviation),
                               bandRatio=thresholds.band_for(a.asset).ratio,
                               driftVariancePerHour=vol.variance_per_hour if vol else None)


def _volatility(status: HedgeBookStatus) -> dict[str, DeviationVolatility]:
    """The drift volatility carried in status from the last check (the target then, the estimate)."""
    if status.lastCheck is None:
        return {}
    return {e.asset: DeviationVolatility(e.driftVariancePerHour, e.targetHedgeQty, status.lastCheck)
            for e in status.exposures}

"""One HedgeBook cycle: observe → decide → gate → act → report. Shared by the operator and local mode."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.hedgebook import (
    AssetExposureStatus,
    HedgeBook,
    HedgeBookStatus,
    HoldingsSource,
    ObjectiveType,
)
from hedgeops.api.policy import RebalancePolicy
from hedgeops.engine.common.errors import DeltaCalculationError
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.hedge.alerts import persisting_deviation
from hedgeops.engine.hedge.approval_state import from_status
from hedgeops.engine.hedge.bands import Thresholds
from hedgeops.engine.hedge.decision import decide_book
from hedgeops.engine.hedge.delta import DeltaPosition, InstrumentKind, WorkingOrder, asset_deltas
from hedgeops.engine.hedge.exposure import AssetExposure, AssetObservation, compute_exposure
from hedgeops.engine.hedge.gate import DayUsage, gate
from hedgeops.engine.hedge.held import HoldingsUnavailable, resolve_holdings
from hedgeops.engine.hedge.planner import PlanInputs, plan_rebalance
from hedgeops.engine.hedge.signals import effective_objective, signal_from_status
from hedgeops.engine.hedge.triggers import Urgency
from hedgeops.engine.hedge.volatility import DeviationVolatility
from hedgeops.exchange.venue import Venue
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import OrderRequest
from hedgeops.runtime.cycle import CycleEvent, Guard, ObjectCycle, Services
from hedgeops.runtime.execution import (
    ExecutionContext,
    halt_plan,
    plan_done,
    progress_plan,
    recover_plan,
    start_plan,
    submit,
)
from hedgeops.runtime.kinds.allocation import AllocationCycle
from hedgeops.runtime.kinds.book_result import (
    CycleResult,
    authorise,
    book_conditions,
    finish_plan,
    idle_review,
    pending_status,
    q8,
    today_of,
)

KIND = "HedgeBook"


class LegMismatch(Exception):
    """A leg's market, as the venue lists it, is not the asset's linear swap: the book must not trade at all."""


def check_legs(legs: dict[str, str], markets: Mapping[str, MarketRules]) -> None:
    """Every leg's loaded market is a linear swap on the leg's asset, or LegMismatch. The CRD and the model say
    so of the symbol; this says so of the market the venue will actually trade, before any order of the cycle."""
    for asset, symbol in sorted(legs.items()):
        market = markets.get(symbol)
        if market is None:
            raise LegMismatch(f"leg {asset}: the venue returned no market for {symbol}; nothing is traded")
        if market.base != asset:
            raise LegMismatch(f"leg {asset}: {symbol}'s base is {market.base}, not {asset}: it would hedge {asset} "
                              f"with {market.base}; nothing is traded until the leg names {asset}'s linear swap")
        if not market.linear_swap:
            raise LegMismatch(f"leg {asset}: {symbol} is not a linear perpetual swap on this venue (spot, future or "
                              f"inverse): it would trade the holding itself; nothing is traded until the leg names "
                              f"{asset}'s linear swap")


class HedgeBookReconciler:
    """Reconciles HedgeBooks. Business failures become conditions and events, never exceptions."""

    def __init__(self, services: Services) -> None:
        self.s = services

    async def reconcile(self, book: HedgeBook, policy: RebalancePolicy | None, now: datetime, *,
                        halted: bool = False, approval: str | None = None, close_all: bool = False) -> CycleResult:
        """`approval`: the id a person approved since the last cycle (hedgeops.io/approve), if any; `close_all`:
        flatten every hedge leg reduce-only and trade nothing else (hedgeops.io/close-all); for an Allocation book,
        sell everything to the quote currency (seed 002's emergency exit)."""
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
                except LegMismatch as exc:
                    return self._fail(cycle, status, "LegMismatch", str(exc))
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
        ctx = guard.context(guard.stream, {}, dict(policy.spec.minOrder))
        if book.spec.objective.type is ObjectiveType.ALLOCATION:
            result = await AllocationCycle(self.s).run(book, policy, now, halted, approval, close_all, guard.venue,
                                                       status, ctx)
        else:
            result = await self._cycle(book, policy, now, halted, approval, close_all, guard.venue, status, legs, ctx)
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
        check_legs(legs, ctx.markets)  # before a working plan moves or a new one is made: not one order
        snap = await venue.snapshot(symbols)
        prices = {asset: snap.quotes[sym].last for asset, sym in legs.items()}
        fetched = await self.s.http_holdings.units(spec.holdings.http, now) if spec.holdings.http is not None and \
            spec.holdings.source is HoldingsSource.HTTP else None
        held = resolve_holdings(spec, prices, snap.balances, status.basketMark, fetched)
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
            effective_objective(spec.objective, signal_from_status(status.activeSignal), now, held.units))
        self.s.metrics.observe_exposure(ns, name, exposure)
        last_at = status.lastRebalance.time if status.lastRebalance else None
        minimums = {asset: max(pspec.minOrder.get(asset, Decimal(0)), ctx.markets[sym].min_amount)
                    for asset, sym in legs.items() if sym in ctx.markets}
        verdict_now = decide_book(exposure, pspec, now, last_at, _volatility(status), minimums)
        self.s.metrics.decision_seconds.labels(KIND).observe(time.perf_counter() - started)
        thresholds, decision = verdict_now.thresholds, verdict_now.decision
        for a in exposure.assets:
            self.s.metrics.band.labels(ns, name, a.asset).set(float(thresholds.band_for(a.asset).ratio))
        persist = persisting_deviation(exposure, pspec.alerts.deviationPersistRatio,
                                       pspec.alerts.deviationPersistSeconds, now, status.highDeviationSince)
        result = CycleResult(status, exposure, decision)
        today = today_of(status, now)
        seconds = pspec.alerts.deviationPersistSeconds
        was_due = (status.highDeviationSince is not None and status.lastCheck is not None
                   and (status.lastCheck - status.highDeviationSince).total_seconds() >= seconds)
        if persist.alert is not None and not was_due:  # alert once, when it first becomes due
            self.s.metrics.alerts.labels(ns, name, persist.alert.code).inc()
            result.events.append(CycleEvent("Warning", persist.alert.code, persist.alert.message))

        working = status.workingPlan
        seq = status.rebalanceSeq
        pending = from_status(status.pendingPlan)
        if decision.urgency is Urgency.NONE or working is not None:
            pending = await idle_review(pspec, pending, now, approval, ctx, result)
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
            go, pending = await authorise(self.s, book, pspec, plan, verdict, pending, now, approval, ctx, result)
            if go:
                seq = plan.seq
                working = await start_plan(ctx, plan, now, pspec.execution.makerTimeoutSeconds)
                result.events.append(CycleEvent(
                    "Warning" if plan.urgency is Urgency.EMERGENCY else "Normal",
                    "EmergencyRebalance" if plan.urgency is Urgency.EMERGENCY else "Rebalancing",
                    f"plan {plan.plan_id}: {len(working.orders)} orders; "
                    + "; ".join(r.message for r in plan.reasons)))

        for order_type, outcome in ctx.outcomes:
            self.s.metrics.orders.labels(ns, name, order_type, outcome).inc()
        updates: dict[str, Any] = {"today": today}
        if working is not None and plan_done(working):
            updates.update(await finish_plan(self.s, book, working, now, status, today, ctx, result))
            working = None

        within = decision.urgency is Urgency.NONE
        conds = book_conditions(
            status, now, gen, ready_message=f"observed {len(legs)} legs on {spec.exchange.name}/"
            f"{spec.exchange.account}", within=within,
            band_reason=decision.primary.code if decision.primary else "OutOfBand",
            band_message="" if decision.primary is None else decision.primary.message, pending=pending,
            halted=halted, failed=result.failed)
        self.s.metrics.healthy(KIND, ns, name, ready=result.failed is None)
        result.status = status.model_copy(update={
            **updates,
            "observedGeneration": gen,
            "conditions": conds,
            "exposures": [_exposure_status(a, thresholds, verdict_now.volatility.get(a.asset))
                          for a in exposure.assets],
            "totalExposureQuote": q8(exposure.total_abs_net_quote),
            "totalDeviationRatio": q8(exposure.total_deviation),
            "lastCheck": now,
            "workingPlan": working,
            "rebalanceSeq": seq,
            "basketMark": held.mark,
            "highDeviationSince": persist.high_since,
            "pendingPlan": pending_status(pending, result.plan, status.pendingPlan),
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


def _exposure_status(a: AssetExposure, thresholds: Thresholds,
                     vol: DeviationVolatility | None) -> AssetExposureStatus:
    return AssetExposureStatus(asset=a.asset, priceQuote=a.price, holdingQty=q8(a.holding_qty),
                               hedgeQty=q8(a.hedge_qty), targetHedgeQty=q8(a.target_hedge_qty),
                               netExposureQuote=q8(a.net_quote), deviationRatio=q8(a.deviation),
                               bandRatio=thresholds.band_for(a.asset).ratio,
                               driftVariancePerHour=vol.variance_per_hour if vol else None)


def _volatility(status: HedgeBookStatus) -> dict[str, DeviationVolatility]:
    """The drift volatility carried in status from the last check (the target then, the estimate)."""
    if status.lastCheck is None:
        return {}
    return {e.asset: DeviationVolatility(e.driftVariancePerHour, e.targetHedgeQty, status.lastCheck)
            for e in status.exposures}

"""HedgeBooks through the one reconcile skeleton (runtime/reconcile.py): the kind's own part of a cycle,
observe → the pure step (engine/hedge/step.py) → execute → report, for the Hedge objective here and the
Allocation objective in allocation.py. Shared by the operator and local mode."""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.hedgebook import (
    AssetExposureStatus,
    BasketMark,
    HedgeBook,
    HedgeBookStatus,
    HoldingsSource,
    ObjectiveType,
    WorkingPlan,
)
from hedgeops.api.instruments import InstrumentDeltaStatus
from hedgeops.api.policy import Approval, RebalancePolicy
from hedgeops.engine.allocation.requests import refused_on_hedge
from hedgeops.engine.allocation.schedule import ScheduleNeverFires
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.common.errors import DeltaCalculationError
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.hedge.approval import PendingPlan
from hedgeops.engine.hedge.approval_state import from_status
from hedgeops.engine.hedge.bands import Thresholds
from hedgeops.engine.hedge.delta import expired, observed_positions, position_delta
from hedgeops.engine.hedge.exposure import AssetExposure
from hedgeops.engine.hedge.held import HoldingsUnavailable, resolve_holdings
from hedgeops.engine.hedge.signals import signal_from_status
from hedgeops.engine.hedge.step import HedgeObservation, HedgeStep, foreign_orders, memory_of, step
from hedgeops.engine.hedge.triggers import TriggerDecision, Urgency
from hedgeops.engine.hedge.volatility import DeviationVolatility
from hedgeops.model.journal import PlanEntry, PlanOrderEntry
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import Liquidity, OrderRequest, OrderType, Side
from hedgeops.runtime.cycle import CycleEvent, Failure, Guard, Services
from hedgeops.runtime.execution import (
    PlanIntent,
    halt_plan,
    plan_done,
    progress_plan,
    recover_plan,
    start_plan,
    submit,
)
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.kinds.allocation import AllocationCycle
from hedgeops.runtime.kinds.book_result import (
    BookRun,
    CycleResult,
    authorise,
    book_conditions,
    bypass_approval,
    finish_plan,
    idle_review,
    pending_status,
    plan_forecast,
    q8,
    today_of,
)
from hedgeops.runtime.probes import book_probe
from hedgeops.runtime.reconcile import KindBase, Outcome, Reconciler, Schedule
from hedgeops.runtime.teardown import Resting, latest_intent_orders, unfinished
from hedgeops.runtime.triggers import Probe

KIND = "HedgeBook"
DEFAULT_INTERVAL_SECONDS = 60.0  # a book without its policy is looked at again this often


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


class HedgeBookCycle(KindBase[HedgeBook, HedgeBookStatus, RebalancePolicy | None]):
    """The HedgeBook's part of the skeleton (`KindCycle`); its input beyond the book is its RebalancePolicy."""

    kind = KIND
    status_type = HedgeBookStatus
    failures: Mapping[type[Exception], tuple[str, bool]] = {
        DeltaCalculationError: ("DeltaUnavailable", True), HoldingsUnavailable: ("HoldingsUnavailable", False),
        LegMismatch: ("LegMismatch", False), ScheduleNeverFires: ("ScheduleInvalid", False)}

    def __init__(self, services: Services) -> None:
        self.s = services

    def interval(self, book: HedgeBook, policy: RebalancePolicy | None) -> float:
        return float(policy.spec.checkIntervalSeconds) if policy else DEFAULT_INTERVAL_SECONDS

    def fingerprint(self, book: HedgeBook, policy: RebalancePolicy | None) -> Hashable:
        """A policy that appears, goes or changes (its spec, or a new object under the name) and a new signal are
        acted on at the next tick."""
        signal = (book.status.activeSignal if book.status else None) or {}
        return (policy is not None, policy.metadata.uid if policy else None,
                policy.metadata.generation if policy else None, signal.get("id"))

    def wanted(self, book: HedgeBook, status: HedgeBookStatus, controls: Controls, now: datetime,
               scheduled: bool) -> bool | None:
        return True if scheduled else None

    def precheck(self, book: HedgeBook, policy: RebalancePolicy | None) -> Failure | None:
        if policy is not None:
            return None
        return ("PolicyNotFound", f"RebalancePolicy {book.spec.policyRef.name!r} not found in namespace "
                f"{book.metadata.namespace!r}: the book does not trade until it exists", False)

    async def probe(self, book: HedgeBook, status: HedgeBookStatus, controls: Controls,
                    policy: RebalancePolicy | None, guard: Guard) -> Probe | None:
        """Its bands on the live positions and quotes (runtime/probes.py); the legs' markets are the venue's cached
        ones, as the cycle loaded them."""
        markets = await guard.venue.markets(sorted({leg.symbol for leg in book.spec.legs}))
        return book_probe(book, policy, status, markets, guard.venue.fees, controls)

    async def resting(self, book: HedgeBook, status: HedgeBookStatus, guard: Guard) -> Resting:
        """The plan in flight's unfinished orders (both objectives), and every order of the newest plan intent."""
        plan = status.workingPlan
        out = unfinished((o.clientOrderId, o.symbol, o.state) for o in plan.orders) if plan is not None else {}
        intent = await latest_intent_orders(self.s, guard.intents, PlanIntent, status.rebalanceSeq)
        if intent is not None:
            out.update({o.clientOrderId: o.symbol for o in intent.orders})
        return out

    def rename(self, failure: Failure) -> Failure:
        reason, message, degraded = failure
        if reason == "ActionFailed":
            return "RebalanceFailed", f"rebalance failed: {message}", degraded
        return failure

    async def step(self, book: HedgeBook, status: HedgeBookStatus, controls: Controls, now: datetime,
                   policy: RebalancePolicy | None, guard: Guard, wanted: Any) -> Outcome[HedgeBookStatus]:
        assert policy is not None  # precheck
        status, recovered = await self._recover(status, guard, policy)
        ctx = guard.context(guard.intents, {}, dict(policy.spec.minOrder))
        run = BookRun(book, policy.spec, controls, now, status, guard.venue, ctx, CycleResult(status),
                      today_of(status, now))
        if book.spec.objective.type is ObjectiveType.ALLOCATION:
            result = await AllocationCycle(self.s).run(run)
        else:
            result = await self._cycle(run)
        result.events[:0] = recovered
        return result

    async def _recover(self, status: HedgeBookStatus, guard: Guard,
                       policy: RebalancePolicy) -> tuple[HedgeBookStatus, list[CycleEvent]]:
        """A plan whose intent is newer than the status was cut short by a crash: adopt what it sent."""
        if status.workingPlan is not None:
            return status, []
        intent = await IntentStore(self.s.journal, PlanIntent).pending(guard.intents, status.rebalanceSeq)
        if intent is None:
            return status, []
        ctx = guard.context(guard.intents, {}, dict(policy.spec.minOrder))
        ctx.markets = await guard.venue.markets(sorted({o.symbol for o in intent.orders}))
        working = await recover_plan(ctx, intent)
        self.s.metrics.recoveries.labels(KIND).inc()
        return status.model_copy(update={"workingPlan": working, "rebalanceSeq": working.seq}), [CycleEvent(
            "Warning", "PlanRecovered", f"plan {working.planId} was cut short by a restart: {len(working.orders)} "
            "of its orders found by client id and adopted, none sent again")]

    async def _cycle(self, run: BookRun) -> CycleResult:
        """The Hedge objective: observe → the pure step → execute → report."""
        obs, mark, open_ids = await self._observe(run)
        started = time.perf_counter()
        out = step(obs, run.policy, memory_of(run.status, run.today), run.controls, run.now)
        self.s.metrics.decision_seconds.labels(KIND).observe(time.perf_counter() - started)
        self._measure(run, out)
        run.result.exposure, run.result.decision, run.result.plan = out.exposure, out.verdict.decision, out.plan
        working, seq, pending = await self._execute(run, obs, out, open_ids)
        return await self._report(run, obs, out, working, seq, pending, mark)

    async def _observe(self, run: BookRun) -> tuple[HedgeObservation, BasketMark | None, set[str]]:
        """The legs' markets (checked before anything moves), the observed instruments' (spec.instruments), one
        snapshot of them all, the holdings: (what the step decides on, the basket's new mark, the ids of every order
        open on the account)."""
        spec, status = run.book.spec, run.status
        legs = {leg.asset: leg.symbol for leg in spec.legs}
        symbols = sorted(legs.values())
        run.ctx.markets = await run.venue.markets(symbols)
        check_legs(legs, run.ctx.markets)  # before a working plan moves or a new one is made: not one order
        gone = {i.key for i in expired(spec.instruments, run.now)}  # settled: not asked for, counted zero
        observed = sorted({i.symbol for i in spec.instruments if i.symbol is not None and i.key not in gone})
        if observed:
            await run.venue.markets(observed)  # an instrument the venue does not list: UnknownSymbol, nothing sent
        snap = await run.venue.snapshot([*symbols, *observed])
        prices = {asset: snap.quotes[sym].last for asset, sym in legs.items()}
        fetched = await self.s.http_holdings.units(spec.holdings.http, run.now) if spec.holdings.http is not None \
            and spec.holdings.source is HoldingsSource.HTTP else None
        held = resolve_holdings(spec, prices, snap.balances, status.basketMark, fetched)
        uid = run.book.metadata.uid or run.book.key
        obs = HedgeObservation(
            uid, spec.objective, signal_from_status(status.activeSignal), spec.paused, legs, run.ctx.markets,
            snap.quotes, held.units, {sym: p.qty for sym, p in snap.positions.items()},
            foreign_orders(snap.open_orders, legs, uid, status.rebalanceSeq, status.workingPlan is not None),
            run.venue.fees, status.workingPlan,
            observed_positions(spec.instruments, snap.balances, snap.positions, run.now))
        if (note := expiry_note(run)) and not any(note in c.message for c in status.conditions if c.type == "Ready"):
            run.result.events.append(CycleEvent("Warning", "InstrumentExpired", note))
        return obs, held.mark, {o.client_order_id for o in snap.open_orders}

    def _measure(self, run: BookRun, out: HedgeStep) -> None:
        ns, name = run.names
        self.s.metrics.observe_exposure(ns, name, out.exposure)
        for a in out.exposure.assets:
            self.s.metrics.band.labels(ns, name, a.asset).set(float(out.verdict.thresholds.band_for(a.asset).ratio))
        if out.alert is not None:
            self.s.metrics.alerts.labels(ns, name, out.alert.code).inc()
            run.result.events.append(CycleEvent("Warning", out.alert.code, out.alert.message))

    async def _execute(self, run: BookRun, obs: HedgeObservation, out: HedgeStep,
                       open_ids: set[str]) -> tuple[WorkingPlan | None, int, PendingPlan | None]:
        """What the step decided, against the venue: (the plan in flight after it, the sequence, the pending
        plan). Close-all first, then a halt, then the plan in flight, then a new plan through approval."""
        ctx, controls, events = run.ctx, run.controls, run.result.events
        urgency = out.verdict.decision.urgency
        working, seq = run.status.workingPlan, run.status.rebalanceSeq
        pending = from_status(run.status.pendingPlan)
        # Under close-all nothing else is wanted either: a plan awaiting approval is superseded, told and journalled
        # (an approval for it is refused the same way), and only the close-all trades.
        if urgency is Urgency.NONE or working is not None or controls.close_all:
            pending = await idle_review(run, pending)
        if controls.close_all:
            if working is not None:
                working = await halt_plan(ctx, working)
            if working is None or plan_done(working):
                seq = await self._close_all(run, obs, seq)
        elif working is not None and controls.halted:
            working = await halt_plan(ctx, working)
            events.append(CycleEvent("Warning", "Halted", f"plan {working.planId}: resting orders cancelled"))
        elif working is not None:
            working = await progress_plan(ctx, working, run.now, open_ids, force_taker=urgency is Urgency.EMERGENCY)
        elif out.plan is not None and out.gate is not None:
            plan = out.plan
            go, pending = await authorise(self.s, run, plan, out.gate, pending)
            if go:
                seq = plan.seq
                working = await start_plan(ctx, plan, run.now, run.policy.maker_timeout_s())
                emergency = plan.urgency is Urgency.EMERGENCY
                if emergency:
                    self.s.metrics.event(*run.names, "EmergencyRebalance")
                events.append(CycleEvent(
                    "Warning" if emergency else "Normal", "EmergencyRebalance" if emergency else "Rebalancing",
                    f"plan {plan.plan_id}: {len(working.orders)} orders; "
                    + "; ".join(r.message for r in plan.reasons)))
        return working, seq, pending

    async def _report(self, run: BookRun, obs: HedgeObservation, out: HedgeStep, working: WorkingPlan | None,
                      seq: int, pending: PendingPlan | None, mark: BasketMark | None) -> CycleResult:
        """Metrics, a finished plan's bookkeeping, the conditions and the new status."""
        ns, name = run.names
        spec, status, decision = run.book.spec, run.status, out.verdict.decision
        for order_type, outcome in run.ctx.outcomes:
            self.s.metrics.orders.labels(KIND, ns, name, order_type, outcome).inc()
        updates: dict[str, Any] = {"today": run.today}
        if (refused := refused_on_hedge(run.controls.rebalance_now, status.rebalanceNow, run.now)) is not None:
            run.result.events.append(CycleEvent("Warning", "RebalanceNowRefused", refused.message))
            updates["rebalanceNow"] = refused
        if working is not None and plan_done(working):
            updates.update(await finish_plan(self.s, run, working))
            working = None
        conds = book_conditions(
            run, ready_message=f"observed {len(obs.legs)} legs on {spec.exchange.name}/{spec.exchange.account}"
            + (f"; {note}" if (note := expiry_note(run)) else ""),
            within=decision.urgency is Urgency.NONE and not decision.untradeable,
            band_reason=decision.primary.code if decision.primary else "BelowMinimumOrder",
            band_message=decision.primary.message if decision.primary else _held_message(decision),
            pending=pending)
        self.s.metrics.healthy(KIND, ns, name, ready=run.result.failed is None)
        run.result.status = status.model_copy(update={
            **updates,
            "observedGeneration": run.book.metadata.generation,
            "conditions": conds,
            "exposures": [_exposure_status(a, out.verdict.thresholds, out.verdict.volatility.get(a.asset),
                                           by_instrument(obs, a.asset) if spec.instruments else [])
                          for a in out.exposure.assets],
            "totalExposureQuote": q8(out.exposure.total_abs_net_quote),
            "totalDeviationRatio": q8(out.exposure.total_deviation),
            "lastCheck": run.now,
            "workingPlan": working,
            "rebalanceSeq": seq,
            "basketMark": mark,
            "highDeviationSince": out.memory.high_deviation_since,
            "pendingPlan": pending_status(pending, run.result.plan, status.pendingPlan,
                                          plan_forecast(run.result.plan, obs.quotes, obs.fees, spec.quoteCurrency)),
        })
        return run.result

    async def _close_all(self, run: BookRun, obs: HedgeObservation, seq: int) -> int:
        """Seed 004's close_all for a book: every hedge leg closed at market, reduce-only, under the next
        sequence number's client ids (a retry after a crash re-sends the same ids: adopted, never doubled)."""
        positions = obs.positions
        open_legs = [(i, sym, positions[sym]) for i, sym in enumerate(sorted(obs.legs.values()))
                     if sym in positions and positions[sym] != 0]
        if not open_legs:
            run.result.events.append(CycleEvent("Normal", "ClosedAll", "every hedge leg is flat; close-all keeps it "
                                                "so until the annotation is removed"))
            return seq
        pid = plan_id(obs.uid, seq + 1)
        await run.ctx.record(PlanEntry(planId=pid, seq=seq + 1, reason="CloseAll", orders=tuple(
            PlanOrderEntry(symbol=sym, amount=abs(qty)) for _, sym, qty in open_legs)), once=f"plan:{pid}")
        if run.policy.approval is Approval.MANUAL:  # an exit never waits: holding the legs is the risk
            await bypass_approval(run, pid, "close-all requested")
        for i, sym, qty in open_legs:
            req = OrderRequest(client_order_id(pid, i, "t"), sym, Side.towards(-qty), abs(qty), OrderType.MARKET,
                               reduce_only=True)
            await submit(run.ctx, req, Liquidity.TAKER)
        run.result.events.append(CycleEvent("Warning", "CloseAll", f"closing {len(open_legs)} hedge leg(s) at "
                                            "market, reduce-only"))
        return seq + 1


class HedgeBookReconciler(Reconciler[HedgeBook, HedgeBookStatus, RebalancePolicy | None]):
    """Reconciles HedgeBooks: `await r.reconcile(book, now, controls, policy)`. Business failures become
    conditions and events, never exceptions."""

    def __init__(self, services: Services, schedule: Schedule | None = None) -> None:
        super().__init__(HedgeBookCycle(services), services, schedule)


def _exposure_status(a: AssetExposure, thresholds: Thresholds, vol: DeviationVolatility | None,
                     instruments: list[InstrumentDeltaStatus]) -> AssetExposureStatus:
    return AssetExposureStatus(asset=a.asset, priceQuote=a.price, holdingQty=q8(a.holding_qty),
                               hedgeQty=q8(a.hedge_qty), targetHedgeQty=q8(a.target_hedge_qty),
                               netExposureQuote=q8(a.net_quote), deviationRatio=q8(a.deviation),
                               bandRatio=thresholds.band_for(a.asset).ratio,
                               driftVariancePerHour=vol.variance_per_hour if vol else None, instruments=instruments)


def by_instrument(obs: HedgeObservation, asset: str) -> list[InstrumentDeltaStatus]:
    """An asset's delta instrument by instrument: its perp leg, then the observed ones (the step has already
    refused any without a usable delta)."""
    leg = obs.legs[asset]
    perp = obs.positions.get(leg, Decimal(0))
    rows = [InstrumentDeltaStatus(symbol=leg, kind="Perp", qty=q8(perp), delta=q8(perp))]
    rows += [InstrumentDeltaStatus(symbol=p.symbol, kind=p.kind.value.capitalize(), qty=q8(p.qty),
                                   delta=q8(position_delta(p))) for p in obs.observed if p.asset == asset]
    return rows


def expiry_note(run: BookRun) -> str:
    """What the Ready condition and the InstrumentExpired event say of the book's expired instruments ("" if none):
    they count zero while the perp legs go on hedging; the spec should drop them or name the next series."""
    gone = expired(run.book.spec.instruments, run.now)
    if not gone:
        return ""
    named = ", ".join(f"{i.symbol} (expired {i.expiry:%Y-%m-%d %H:%M} UTC)" for i in gone)
    return f"{named} counted zero: remove it from spec.instruments or name the next series"


def _held_message(decision: TriggerDecision) -> str:
    """Out of band, but every correction is below its minimum order: nothing to trade until it grows."""
    return "; ".join(r.message for r in decision.untradeable) + ": below the minimum order, nothing to trade"

"""One cycle of an Allocation book (seed 002): observe spot balances → weights → decide → gate → approve →
sell batch → buy batch → report. Execution, the risk gate and manual approval are the hedge objective's own;
what differs is what is observed (spot balances and mids, and candles for a volatility weighting or a dynamic
schedule) and that the buys wait for the sells' cash. A rebalance-now request and the schedule's fires and notices
are kept in status (`rebalanceNow`, `schedule`) so each is acted on once."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hedgeops.api.allocation import RebalanceNowStatus, ScheduleStatus, Weighting
from hedgeops.api.hedgebook import (
    AssetWeightStatus,
    HedgeBook,
    ObjectiveType,
    OrderSummary,
    WorkingPlan,
)
from hedgeops.api.policy import VolatilityWindow
from hedgeops.engine.allocation import requests
from hedgeops.engine.allocation.plan import AllocationPlan, fit_to_cash
from hedgeops.engine.allocation.schedule import ScheduleMemory
from hedgeops.engine.allocation.step import AllocationMemory, AllocationObservation, AllocationStep, step
from hedgeops.engine.allocation.weights import WeightDrift
from hedgeops.engine.common.forecast import OrderForecast, PlanForecast
from hedgeops.engine.common.volatility_estimators import aligned_closes
from hedgeops.engine.hedge.approval import PendingPlan, PlanState
from hedgeops.engine.hedge.approval_state import from_status
from hedgeops.engine.hedge.gate import DayUsage
from hedgeops.engine.hedge.planner import PlannedOrder, RebalancePlan
from hedgeops.engine.hedge.triggers import Reason, Urgency
from hedgeops.model.orders import DONE, AccountSnapshot, Liquidity, OrderStatus, Side
from hedgeops.runtime.cycle import CycleEvent, Services
from hedgeops.runtime.execution import ExecutionContext, halt_plan, plan_done, progress_plan, start_plan, summary_of
from hedgeops.runtime.kinds.book_result import (
    BookRun,
    CycleResult,
    authorise,
    book_conditions,
    finish_plan,
    idle_review,
    pending_status,
    q8,
)

ZERO = Decimal(0)
KIND = "HedgeBook"


def spot_symbols(book: HedgeBook) -> dict[str, str]:
    """asset → its spot market against the book's quote currency, for every asset the book owns or targets."""
    spec = book.spec
    owned = spec.holdings.exchangeBalance.assets if spec.holdings.exchangeBalance else []
    assets = sorted({*owned, *(spec.objective.targetWeights or {})} - {spec.quoteCurrency})
    return {a: f"{a}/{spec.quoteCurrency}" for a in assets}


def traded_symbols(book: HedgeBook) -> list[str]:
    """What a book trades: its perp legs (Hedge) or the spot markets of its assets (Allocation)."""
    if book.spec.objective.type is ObjectiveType.ALLOCATION:
        return sorted(spot_symbols(book).values())
    return sorted(leg.symbol for leg in book.spec.legs)


class AllocationCycle:
    """Allocation books. Like the hedge cycle, business failures become conditions and events."""

    def __init__(self, services: Services) -> None:
        self.s = services

    async def run(self, run: BookRun) -> CycleResult:
        """Observe → the pure step (engine/allocation/step.py) → execute → report."""
        obs, snap = await self._observe(run)
        out, seconds = _timed(run, obs)
        if out.needs_books:  # a taker plan's cost forecast walks the books: observed for such a plan only
            obs = replace(obs, books={a: await run.venue.order_book(m.symbol) for a, m in obs.markets.items()})
            out, more = _timed(run, obs)
            seconds += more
        self.s.metrics.decision_seconds.labels(KIND).observe(seconds)  # the decision's time, not the books'
        run.result.plan = out.plan
        working, seq, pending = await self._execute(run, out, snap)
        started = working.planId if working is not None and run.status.workingPlan is None else None
        facts = requests.CycleFacts(out.decision, out.verdict, run.status.workingPlan is not None, started,
                                    pending.plan_id if pending is not None and pending.state is PlanState.PROPOSED
                                    else None)
        return await self._report(run, obs, out, working, seq, pending, facts)

    async def _observe(self, run: BookRun) -> tuple[AllocationObservation, AccountSnapshot]:
        spec = run.book.spec
        symbols = spot_symbols(run.book)
        by_symbol = await run.venue.markets(sorted(symbols.values()))
        run.ctx.markets = by_symbol
        snap = await run.venue.snapshot(sorted(symbols.values()))
        owned = spec.holdings.exchangeBalance.assets if spec.holdings.exchangeBalance else []
        return AllocationObservation(
            run.book.metadata.uid or run.book.key, spec.quoteCurrency, dict(spec.objective.targetWeights or {}),
            spec.paused, {a: by_symbol[s] for a, s in symbols.items()}, {a: snap.quotes[s] for a, s in symbols.items()},
            {a: snap.balances.get(a, ZERO) for a in owned}, run.venue.fees, run.status.workingPlan is not None,
            weighting=spec.objective.weighting, window=spec.objective.weightingWindow,
            closes=await _closes(run, symbols)), snap

    async def _execute(self, run: BookRun, out: AllocationStep,
                       snap: AccountSnapshot) -> tuple[WorkingPlan | None, int, PendingPlan | None]:
        """A halt or close-all stops the plan in flight; else it goes on (its buys once the sells are done); else
        a new plan goes through approval: sells first, the buys they fund after."""
        ctx, controls, events, now = run.ctx, run.controls, run.result.events, run.now
        quote, timeout = run.book.spec.quoteCurrency, run.policy.maker_timeout_s()
        working, seq = run.status.workingPlan, run.status.rebalanceSeq
        pending = from_status(run.status.pendingPlan)
        if out.decision.action == "Hold" or working is not None:
            pending = await idle_review(run, pending)
        if working is not None and (controls.halted or controls.close_all):
            working = await halt_plan(ctx, working)
            working = working.model_copy(update={"queued": []})  # the buys are planned afresh, if still wanted
            events.append(CycleEvent("Warning", "Halted" if controls.halted else "CloseAll",
                                     f"plan {working.planId}: resting orders cancelled, queued buys dropped"))
        elif working is not None:
            was_open = {o.clientOrderId for o in working.orders if o.state not in DONE}
            working = await progress_plan(ctx, working, now, {o.client_order_id for o in snap.open_orders},
                                          force_taker=False)
            working = await self._second_batch(ctx, working, snap, was_open, quote, now, timeout)
        elif out.plan is not None and out.verdict is not None:
            plan = out.plan
            if out.verdict.reason == "NothingToTrade" and out.exit_all:
                events.append(CycleEvent("Normal", "ClosedAll", "everything is sold to the quote currency; "
                                         "close-all keeps it so until the annotation is removed"))
                return working, seq, pending
            go, pending = await authorise(self.s, run, plan, out.verdict, pending,
                                          exit_reason=out.decision.message if out.exit_all else None)
            if go:
                seq = plan.seq
                working = await self._first_batch(ctx, plan, snap, now, quote, timeout)
                emergency = plan.urgency is Urgency.EMERGENCY
                if emergency:
                    self.s.metrics.event(*run.names, "EmergencyRebalance")
                events.append(CycleEvent(
                    "Warning" if emergency else "Normal", "EmergencyExit" if emergency else "Rebalancing",
                    f"plan {plan.plan_id}: {len(plan.orders)} orders, forecast cost {plan.est_cost_quote:.2f} "
                    f"{quote}; {out.decision.message}"))
        elif controls.close_all:
            events.append(CycleEvent("Normal", "ClosedAll", "everything is sold to the quote currency; "
                                     "close-all keeps it so until the annotation is removed"))
        return working, seq, pending

    async def _report(self, run: BookRun, obs: AllocationObservation, out: AllocationStep,
                      working: WorkingPlan | None, seq: int, pending: PendingPlan | None,
                      facts: requests.CycleFacts) -> CycleResult:
        """Metrics, a finished plan's bookkeeping, the request and the schedule, the conditions and the status."""
        (ns, name), spec, status, result = run.names, run.book.spec, run.status, run.result
        quote, decision, units, values = spec.quoteCurrency, out.decision, obs.units, out.values
        for order_type, outcome in run.ctx.outcomes:
            self.s.metrics.orders.labels(KIND, ns, name, order_type, outcome).inc()
        updates: dict[str, Any] = {"today": run.today, "rebalanceNow": self._request(run, facts),
                                   "schedule": self._schedule(run, out, facts)}
        if working is not None and plan_done(working) and not working.queued:
            updates.update(await finish_plan(self.s, run, working))
            working = None
        total = sum(values.values(), ZERO)
        self.s.metrics.book_value.labels(ns, name).set(float(total))
        for d in decision.drifts:
            self.s.metrics.weight_drift.labels(ns, name, d.asset).set(float(d.drift))
            self.s.metrics.band.labels(ns, name, d.asset).set(float(d.threshold))
        self.s.metrics.healthy(KIND, ns, name, ready=result.failed is None)
        worst = max((abs(d.drift) for d in decision.drifts), default=ZERO)
        conds = book_conditions(run, ready_message=f"observed {len(units)} balances on "
                                f"{spec.exchange.name}/{spec.exchange.account}", within=decision.action == "Hold",
                                band_reason=decision.reason, band_message=decision.message, pending=pending)
        result.status = status.model_copy(update={
            **updates, "observedGeneration": run.book.metadata.generation, "conditions": conds,
            "lastCheck": run.now, "workingPlan": working, "rebalanceSeq": seq, "valueQuote": q8(total),
            "totalDeviationRatio": q8(worst),
            "weights": [_weight_status(d, out, quote, units, values, spec.objective.weighting)
                        for d in decision.drifts],
            "pendingPlan": pending_status(pending, result.plan, status.pendingPlan,
                                          _forecast(out.alloc, quote) if out.alloc is not None else None),
        })
        return result

    def _request(self, run: BookRun, facts: requests.CycleFacts) -> RebalanceNowStatus | None:
        """status.rebalanceNow after this cycle: a request outstanding is settled (see engine/allocation/requests)."""
        value, handled = run.controls.rebalance_now, run.status.rebalanceNow
        gone = requests.withdrawn(value, handled, run.now)
        if gone is not None:
            run.result.events.append(CycleEvent("Normal", "RebalanceNowWithdrawn",
                                                f"rebalance-now {gone.value!r}: {gone.message}"))
            handled = gone
        if value is None or not requests.outstanding(value, handled):
            return handled
        after = requests.settle(value, handled, facts, run.now, run.policy.approvalTtlSeconds)
        if after.state != requests.PENDING or handled is None or handled.value != value:
            run.result.events.append(CycleEvent("Warning" if after.state == requests.REFUSED else "Normal",
                                                f"RebalanceNow{after.state}",
                                                f"rebalance-now {value!r}: {after.message}"))
        return after

    def _schedule(self, run: BookRun, out: AllocationStep, facts: requests.CycleFacts) -> ScheduleStatus | None:
        """status.schedule after this cycle: the fire acted on (a plan started, or nothing to trade), the next
        fire as a metric, and its notice (event RebalanceScheduled) once per fire, never while the book is on
        hold (paused, halted, closing all)."""
        view, was = out.schedule, run.status.schedule
        if view is None:
            if was is not None:  # the schedule was removed
                self.s.metrics.no_next_rebalance(*run.names)
            return None
        fired = was.lastFiredAt if was is not None else None
        if view.due is not None and out.decision.reason == "Scheduled" and (
                facts.started is not None or (out.verdict is not None and out.verdict.reason == "NothingToTrade")):
            fired = view.due
        noticed = was.noticedFor if was is not None else None
        if view.moved is not None:  # the policy's cron changed under an announced fire
            noticed = None
            run.result.events.append(CycleEvent(
                "Warning", "RebalanceRescheduled", f"the scheduled rebalance announced for {view.moved.isoformat()} "
                f"will not happen: the schedule is now {view.cron!r}, next at {view.next_at.isoformat()}"))
        # A paused, halted or closing-all book would not act on the fire: no notice for it (if the hold is lifted
        # before the fire, the notice follows at the next cycle).
        on_hold = run.book.spec.paused or run.controls.halted or run.controls.close_all
        if view.notice and not on_hold:
            noticed = view.next_at
            run.result.events.append(CycleEvent(
                "Normal", "RebalanceScheduled", f"scheduled rebalance at {view.next_at.isoformat()} ({view.cron!r}, "
                f"{view.why}); largest drift now {max((abs(d.drift) for d in out.decision.drifts), default=ZERO):.2%}"))
        self.s.metrics.next_rebalance.labels(*run.names).set(view.next_at.timestamp())
        return ScheduleStatus(cron=view.cron, since=was.since if was is not None else run.now, lastFiredAt=fired,
                              nextAt=view.next_at, noticedFor=noticed, volatilityRatio=view.volatility,
                              reason=view.why)

    async def _first_batch(self, ctx: ExecutionContext, plan: RebalancePlan, snap: AccountSnapshot, now: datetime,
                           quote: str, maker_timeout_s: int) -> WorkingPlan:
        """The sells go now; the buys wait in `queued` for the cash the sells bring (all at once if nothing
        is sold)."""
        sells = tuple(o for o in plan.orders if o.side == Side.SELL)
        buys = tuple(o for o in plan.orders if o.side == Side.BUY)
        if not sells:
            return await start_plan(ctx, _with_orders(plan, fit_to_cash(buys, snap.balances.get(quote, ZERO),
                                                                        _by_asset(ctx, buys), ctx.venue.fees.taker)),
                                    now, maker_timeout_s)
        working = await start_plan(ctx, _with_orders(plan, sells), now, maker_timeout_s)
        queued = [OrderSummary(clientOrderId=o.client_order_id, symbol=o.symbol, side=o.side, amount=o.amount,
                               type=o.type, state="queued") for o in buys]
        working = working.model_copy(update={"queued": queued})
        return await self._second_batch(ctx, working, snap, {o.clientOrderId for o in working.orders}, quote, now,
                                        maker_timeout_s)

    async def _second_batch(self, ctx: ExecutionContext, working: WorkingPlan, snap: AccountSnapshot,
                            was_open: set[str], quote: str, now: datetime, maker_timeout_s: int) -> WorkingPlan:
        """Once every sell is done, the queued buys go, scaled to the cash there is: the snapshot's balance
        plus what the sells that finished during this cycle brought (the snapshot was taken before them)."""
        if not working.queued or not plan_done(working):
            return working
        fresh = sum((o.filled * _avg(o) - o.feeQuote for o in working.orders
                     if o.clientOrderId in was_open and o.side == Side.SELL), ZERO)
        cash = snap.balances.get(quote, ZERO) + fresh
        # A process that died after sending this batch left its buys on the venue: adopt them by client id (never
        # re-sized against cash they already spent, never sent twice).
        adopted: list[OrderSummary] = []
        waiting: list[OrderSummary] = []
        for o in working.queued:
            kind = Liquidity(o.type)
            ids = [(o.clientOrderId, kind)] + ([(o.clientOrderId[:-1] + "t", Liquidity.TAKER)]
                                               if kind is Liquidity.MAKER else [])
            found = [summary_of(st, kind) for cid, kind in ids if (st := await ctx.venue.order(cid, o.symbol))]
            adopted += found
            if not found:
                waiting.append(o)
        markets = {ctx.markets[o.symbol].base: ctx.markets[o.symbol] for o in waiting}
        buys = []
        for o in waiting:
            market, q = ctx.markets[o.symbol], snap.quotes[o.symbol]
            kind = Liquidity(o.type)
            buys.append(PlannedOrder(int(o.clientOrderId[-3:-1]), market.base, o.symbol, Side.BUY, o.amount, kind,
                                     market.passive_price(q.bid, Side.BUY) if kind is Liquidity.MAKER else None,
                                     o.clientOrderId, q.ask))
        fitted = fit_to_cash(buys, cash, markets, ctx.venue.fees.taker)
        second = RebalancePlan(working.planId, working.seq, now, Urgency(working.urgency),
                               (Reason(working.reason, "second batch: the buys the sells funded"),), fitted, (), ZERO)
        # The intent is rewritten with the buys before any is sent: a crash now leaves them findable by client id.
        earlier = [*working.orders, *adopted]
        if not fitted:
            resting = any(a.type == Liquidity.MAKER and a.state == OrderStatus.OPEN for a in adopted)
            return working.model_copy(update={"orders": earlier, "queued": [], "makerDeadline": now + timedelta(
                seconds=maker_timeout_s) if resting else None})
        bought = await start_plan(ctx, second, now, maker_timeout_s, earlier=earlier)
        return working.model_copy(update={"orders": [*earlier, *bought.orders], "queued": [],
                                          "makerDeadline": bought.makerDeadline})


def _timed(run: BookRun, obs: AllocationObservation) -> tuple[AllocationStep, float]:
    started = time.perf_counter()
    out = step(obs, run.policy, _memory(run), run.controls, run.now)
    return out, time.perf_counter() - started


def _memory(run: BookRun) -> AllocationMemory:
    last, sched, value = run.status.lastRebalance, run.status.schedule, run.controls.rebalance_now
    asked = value if requests.outstanding(value, run.status.rebalanceNow) else None
    memory = ScheduleMemory(sched.since, sched.lastFiredAt, sched.noticedFor) if sched else ScheduleMemory()
    return AllocationMemory(last.time if last else None, DayUsage(run.today.rebalances, run.today.costQuote),
                            run.status.rebalanceSeq, memory,
                            f"requested by hedgeops.io/rebalance-now={asked}" if asked else None)


async def _closes(run: BookRun, symbols: dict[str, str]) -> dict[str, dict[str, tuple[Decimal, ...]]] | None:
    """Closes of the assets' spot markets for every window the book reads (a volatility weighting, a dynamic
    schedule), timeframe → asset → closes oldest first; None when it reads none."""
    windows: list[VolatilityWindow] = []
    if run.book.spec.objective.weighting is not Weighting.STATIC:
        windows.append(run.book.spec.objective.weightingWindow)
    if run.policy.schedule is not None and run.policy.schedule.dynamic is not None:
        windows.append(run.policy.schedule.dynamic.window)
    if not windows:
        return None
    limits: dict[str, int] = {}
    for w in windows:
        limits[w.timeframe] = max(limits.get(w.timeframe, 0), w.candles)
    out: dict[str, dict[str, tuple[Decimal, ...]]] = {}
    for tf, n in sorted(limits.items()):  # aligned on the candles' open times (engine/common/volatility_estimators)
        out[tf] = aligned_closes({a: await run.venue.candles(sym, tf, n) for a, sym in sorted(symbols.items())})
    return out


def _forecast(alloc: AllocationPlan, quote: str) -> PlanForecast:
    return PlanForecast(quote, tuple(OrderForecast(o.client_order_id, o.est_price, o.est_fee_quote,
                                                   o.est_slippage_quote, o.notional_quote) for o in alloc.orders))


def _weight_status(d: WeightDrift, out: AllocationStep, quote: str, units: Mapping[str, Decimal],
                   values: Mapping[str, Decimal], weighting: Weighting) -> AssetWeightStatus:
    """One asset's weight against the target it got, and (for a volatility weighting) why it got it."""
    t = out.targets.get(d.asset)
    why = weighting is not Weighting.STATIC and t is not None
    return AssetWeightStatus(asset=d.asset, priceQuote=Decimal(1) if d.asset == quote else out.prices[d.asset],
                             qty=q8(units.get(d.asset, ZERO)), valueQuote=q8(values.get(d.asset, ZERO)),
                             weight=q8(d.weight), targetWeight=d.target, driftRatio=q8(d.drift), bandRatio=d.threshold,
                             staticWeight=t.static if why and t else None,
                             volatilityRatio=t.volatility if why and t else None,
                             weightingReason=t.reason if why and t else None)


def _with_orders(plan: RebalancePlan, orders: tuple[PlannedOrder, ...]) -> RebalancePlan:
    return RebalancePlan(plan.plan_id, plan.seq, plan.created_at, plan.urgency, plan.reasons, orders, plan.skipped,
                         plan.est_cost_quote)


def _by_asset(ctx: ExecutionContext, orders: tuple[PlannedOrder, ...]) -> dict[str, Any]:
    return {o.asset: ctx.markets[o.symbol] for o in orders}


def _avg(o: OrderSummary) -> Decimal:
    """A fill without an average price counts for nothing: the buys are never sized on cash not known."""
    return o.average if o.filled and o.average is not None else ZERO

"""One cycle of an Allocation book (seed 002): observe spot balances → weights → decide → gate → approve →
sell batch → buy batch → report. Execution, the risk gate and manual approval are the hedge objective's own;
what differs is what is observed (spot balances and mids) and that the buys wait for the sells' cash."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hedgeops.api.hedgebook import (
    AssetWeightStatus,
    HedgeBook,
    ObjectiveType,
    OrderSummary,
    WorkingPlan,
)
from hedgeops.api.policy import OrderStyle
from hedgeops.engine.allocation.plan import (
    AllocationInputs,
    as_rebalance_plan,
    cost_verdict,
    fit_to_cash,
    plan_allocation,
)
from hedgeops.engine.allocation.weights import AllocationDecision, decide_allocation
from hedgeops.engine.hedge.approval import PendingPlan
from hedgeops.engine.hedge.approval_state import from_status
from hedgeops.engine.hedge.gate import DayUsage, gate
from hedgeops.engine.hedge.planner import OrderType, PlannedOrder, RebalancePlan
from hedgeops.engine.hedge.triggers import Reason, Urgency
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import AccountSnapshot
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
        book, pspec, now, controls, ctx, result = run.book, run.policy, run.now, run.controls, run.ctx, run.result
        spec, (ns, name), venue, status = book.spec, run.names, run.venue, run.status
        quote = spec.quoteCurrency
        symbols = spot_symbols(book)
        by_symbol = await venue.markets(sorted(symbols.values()))
        ctx.markets = by_symbol
        markets = {a: by_symbol[s] for a, s in symbols.items()}
        snap = await venue.snapshot(sorted(symbols.values()))
        prices = {a: snap.quotes[s].mid for a, s in symbols.items()}
        owned = spec.holdings.exchangeBalance.assets if spec.holdings.exchangeBalance else []
        units = {a: snap.balances.get(a, ZERO) for a in owned}
        values = {a: q * (Decimal(1) if a == quote else prices[a]) for a, q in units.items()}
        targets = dict(spec.objective.targetWeights or {})
        started = time.perf_counter()
        last_at = status.lastRebalance.time if status.lastRebalance else None
        decision = decide_allocation(targets, values, pspec.allocation, now=now, last_rebalance_at=last_at,
                                     cron=pspec.schedule.cron if pspec.schedule else None, paused=spec.paused,
                                     emergency_exit=controls.close_all)
        self.s.metrics.decision_seconds.labels(KIND).observe(time.perf_counter() - started)
        working, seq = status.workingPlan, status.rebalanceSeq
        pending = from_status(status.pendingPlan)
        wants = decision.action != "Hold"
        if not wants or working is not None:
            pending = await idle_review(run, pending)
        if working is not None and (controls.halted or controls.close_all):
            working = await halt_plan(ctx, working)
            working = working.model_copy(update={"queued": []})  # the buys are planned afresh, if still wanted
            result.events.append(CycleEvent("Warning", "Halted" if controls.halted else "CloseAll",
                                            f"plan {working.planId}: resting orders cancelled, queued buys dropped"))
        elif working is not None:
            was_open = {o.clientOrderId for o in working.orders if o.state not in ("closed", "canceled", "rejected")}
            working = await progress_plan(ctx, working, now, {o.client_order_id for o in snap.open_orders},
                                          force_taker=False)
            working = await self._second_batch(ctx, working, snap, was_open, quote, now,
                                               pspec.execution.makerTimeoutSeconds)
        elif wants:
            go, pending, plan = await self._plan(run, decision, markets, prices, units, snap, seq, pending)
            if go and plan is not None:
                seq = plan.seq
                working = await self._first_batch(ctx, plan, snap, now, quote, pspec.execution.makerTimeoutSeconds)
                result.events.append(CycleEvent(
                    "Warning" if plan.urgency is Urgency.EMERGENCY else "Normal",
                    "EmergencyExit" if plan.urgency is Urgency.EMERGENCY else "Rebalancing",
                    f"plan {plan.plan_id}: {len(plan.orders)} orders, forecast cost {plan.est_cost_quote:.2f} "
                    f"{quote}; {decision.message}"))
        elif controls.close_all:
            result.events.append(CycleEvent("Normal", "ClosedAll", "everything is sold to the quote currency; "
                                            "close-all keeps it so until the annotation is removed"))

        for order_type, outcome in ctx.outcomes:
            self.s.metrics.orders.labels(ns, name, order_type, outcome).inc()
        updates: dict[str, Any] = {"today": run.today}
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
            **updates, "observedGeneration": book.metadata.generation, "conditions": conds, "lastCheck": now,
            "workingPlan": working, "rebalanceSeq": seq, "valueQuote": q8(total), "totalDeviationRatio": q8(worst),
            "weights": [AssetWeightStatus(asset=d.asset, priceQuote=Decimal(1) if d.asset == quote else prices[d.asset],
                                          qty=q8(units.get(d.asset, ZERO)), valueQuote=q8(values.get(d.asset, ZERO)),
                                          weight=q8(d.weight), targetWeight=d.target, driftRatio=q8(d.drift),
                                          bandRatio=d.threshold) for d in decision.drifts],
            "pendingPlan": pending_status(pending, result.plan, status.pendingPlan),
        })
        return result

    async def _plan(self, run: BookRun, decision: AllocationDecision, markets: dict[str, MarketRules],
                    prices: dict[str, Decimal], units: dict[str, Decimal], snap: AccountSnapshot, seq: int,
                    pending: PendingPlan | None) -> tuple[bool, PendingPlan | None, RebalancePlan | None]:
        """The plan for a decision to trade, through the cost tolerance, the risk gate and approval."""
        book, pspec, venue, now, result = run.book, run.policy, run.venue, run.now, run.result
        spec = book.spec
        exit_all = decision.action == "Exit"
        style = pspec.execution.emergency if exit_all else pspec.execution.normal
        order_type = OrderType.MAKER if style is OrderStyle.MAKER else OrderType.TAKER
        books = {}
        if order_type is OrderType.TAKER:  # the cost forecast walks the book (a maker order pays no slippage)
            books = {a: await venue.order_book(m.symbol) for a, m in markets.items()}
        inputs = AllocationInputs(spec.quoteCurrency, markets, prices, books, venue.fees, order_type,
                                  pspec.allocation.minTradeQuote, pspec.execution.maxOrderQuote)
        targets = dict(spec.objective.targetWeights or {})
        alloc = plan_allocation(targets, units, inputs, uid=book.metadata.uid or book.key, seq=seq + 1,
                                exit_all=exit_all)
        urgency = Urgency.EMERGENCY if exit_all else Urgency.NORMAL
        quotes = {a: snap.quotes[m.symbol] for a, m in markets.items()}
        plan = as_rebalance_plan(alloc, quotes, markets, now=now, urgency=urgency,
                                 reason=Reason(decision.reason, decision.message))
        result.plan = plan
        verdict = cost_verdict(alloc, pspec.allocation.maxCostRatio, exit_all=exit_all)
        if verdict.allowed or verdict.reason == "NothingToTrade":
            last_at = book.status.lastRebalance.time if book.status and book.status.lastRebalance else None
            today = run.today
            verdict = gate(plan, pspec.limits, DayUsage(today.rebalances, today.costQuote), last_at, now,
                           paused=spec.paused and not exit_all, halted=run.controls.halted)
        if verdict.reason == "NothingToTrade" and exit_all:
            result.events.append(CycleEvent("Normal", "ClosedAll", "everything is sold to the quote currency; "
                                            "close-all keeps it so until the annotation is removed"))
            return False, pending, plan
        go, pending = await authorise(self.s, run, plan, verdict, pending,
                                      exit_reason=decision.message if exit_all else None)
        return go, pending, plan

    async def _first_batch(self, ctx: ExecutionContext, plan: RebalancePlan, snap: AccountSnapshot, now: datetime,
                           quote: str, maker_timeout_s: int) -> WorkingPlan:
        """The sells go now; the buys wait in `queued` for the cash the sells bring (all at once if nothing
        is sold)."""
        sells = tuple(o for o in plan.orders if o.side == "sell")
        buys = tuple(o for o in plan.orders if o.side == "buy")
        if not sells:
            return await start_plan(ctx, _with_orders(plan, fit_to_cash(buys, snap.balances.get(quote, ZERO),
                                                                        _by_asset(ctx, buys), ctx.venue.fees.taker)),
                                    now, maker_timeout_s)
        working = await start_plan(ctx, _with_orders(plan, sells), now, maker_timeout_s)
        queued = [OrderSummary(clientOrderId=o.client_order_id, symbol=o.symbol, side=o.side, amount=o.amount,
                               type=o.type.value, state="queued") for o in buys]
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
                     if o.clientOrderId in was_open and o.side == "sell"), ZERO)
        cash = snap.balances.get(quote, ZERO) + fresh
        # A process that died after sending this batch left its buys on the venue: adopt them by client id (never
        # re-sized against cash they already spent, never sent twice).
        adopted: list[OrderSummary] = []
        waiting: list[OrderSummary] = []
        for o in working.queued:
            ids = [(o.clientOrderId, o.type)] + ([(o.clientOrderId[:-1] + "t", "taker")] if o.type == "maker" else [])
            found = [summary_of(st, kind) for cid, kind in ids if (st := await ctx.venue.order(cid, o.symbol))]
            adopted += found
            if not found:
                waiting.append(o)
        markets = {ctx.markets[o.symbol].base: ctx.markets[o.symbol] for o in waiting}
        buys = []
        for o in waiting:
            market, q = ctx.markets[o.symbol], snap.quotes[o.symbol]
            maker = o.type == OrderType.MAKER.value
            buys.append(PlannedOrder(int(o.clientOrderId[-3:-1]), market.base, o.symbol, "buy", o.amount,
                                     OrderType(o.type), market.passive_price(q.bid, "buy") if maker else None,
                                     o.clientOrderId, q.ask))
        fitted = fit_to_cash(buys, cash, markets, ctx.venue.fees.taker)
        second = RebalancePlan(working.planId, working.seq, now, Urgency(working.urgency),
                               (Reason(working.reason, "second batch: the buys the sells funded"),), fitted, (), ZERO)
        # The intent is rewritten with the buys before any is sent: a crash now leaves them findable by client id.
        earlier = [*working.orders, *adopted]
        if not fitted:
            resting = any(a.type == "maker" and a.state == "open" for a in adopted)
            return working.model_copy(update={"orders": earlier, "queued": [], "makerDeadline": now + timedelta(
                seconds=maker_timeout_s) if resting else None})
        bought = await start_plan(ctx, second, now, maker_timeout_s, earlier=earlier)
        return working.model_copy(update={"orders": [*earlier, *bought.orders], "queued": [],
                                          "makerDeadline": bought.makerDeadline})


def _with_orders(plan: RebalancePlan, orders: tuple[PlannedOrder, ...]) -> RebalancePlan:
    return RebalancePlan(plan.plan_id, plan.seq, plan.created_at, plan.urgency, plan.reasons, orders, plan.skipped,
                         plan.est_cost_quote)


def _by_asset(ctx: ExecutionContext, orders: tuple[PlannedOrder, ...]) -> dict[str, Any]:
    return {o.asset: ctx.markets[o.symbol] for o in orders}


def _avg(o: OrderSummary) -> Decimal:
    """A fill without an average price counts for nothing: the buys are never sized on cash not known."""
    return o.average if o.filled and o.average is not None else ZERO

"""One MarketMaker cycle (seed 003), every `intervalSeconds`: account the fills of our quotes since the last
cycle, decide (position lines, stop-loss, take-profit, duration), then cancel what should no longer rest,
send the reduce order, and place the missing quotes post-only. Fills are accounted from the orders' own
filled amounts, so a fill is booked exactly once however often it is observed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.marketmaker import MarketMaker, MarketMakerStatus
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.errors import PositionAdjustmentError
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.common.pnl import LegBook
from hedgeops.engine.maker.decide import MakerDecision, MakerLedger, decide_maker
from hedgeops.engine.maker.quotes import Resting, diff_quotes
from hedgeops.model.orders import OrderRequest, OrderState
from hedgeops.runtime.cycle import CycleEvent, Guard, MarketMismatch, ObjectCycle, Services
from hedgeops.runtime.execution import ExecutionContext, submit

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")
KIND = "MarketMaker"
WARNING_REASONS = {"StopLoss", "RiskClose", "Halted", "PlanRecovered"}


def _q(x: Decimal) -> Decimal:
    return x.quantize(Q8)


@dataclass
class MakerResult:
    status: MarketMakerStatus
    events: list[CycleEvent] = field(default_factory=list)


@dataclass
class Book:
    """Our orders as last seen (what was filled and paid then) and the ledger they have fed."""

    ledger: MakerLedger
    known: dict[str, dict[str, Any]]  # clientOrderId → {side, price, amount, filled, feeQuote}

    def account(self, state: OrderState) -> None:
        """Book what `state` filled since we last saw it."""
        seen = self.known.get(state.client_order_id)
        if seen is None:
            return
        delta = state.filled - Decimal(str(seen["filled"]))
        fee = state.fee_quote - Decimal(str(seen["feeQuote"]))
        if delta > 0:
            price = state.average if state.average is not None else Decimal(str(seen["price"]))
            self.ledger = self.ledger.apply_fill(state.side, delta, price, fee)
        seen.update(filled=str(state.filled), feeQuote=str(state.fee_quote))
        if state.done:
            del self.known[state.client_order_id]


def _known(state: OrderState) -> dict[str, Any]:
    return {"clientOrderId": state.client_order_id, "side": state.side, "price": str(state.price or ZERO),
            "amount": str(state.amount), "filled": "0", "feeQuote": "0"}


class MarketMakerReconciler:
    """Reconciles MarketMakers. Business failures become conditions and events, never exceptions."""

    def __init__(self, services: Services) -> None:
        self.s = services

    async def reconcile(self, mm: MarketMaker, now: datetime, *, halted: str | None = None) -> MakerResult:
        status = mm.status or MarketMakerStatus()
        finished = any(c.type == "Finished" and c.status.value == "True" for c in status.conditions)
        due = status.lastCheck is None or (now - status.lastCheck).total_seconds() >= mm.spec.intervalSeconds
        if (finished and halted is None) or not (due or (halted is not None and status.quotes)):
            return MakerResult(status)
        started = time.perf_counter()
        cycle = ObjectCycle(KIND, mm.metadata.namespace, mm.metadata.name, mm.metadata.generation, now, self.s)
        try:
            async with Guard(cycle, mm.spec.exchange, mm.spec.mode, mm.key) as guard:
                if guard.failure is None:
                    return await self._cycle(mm, status, now, guard, halted)
            assert guard.failure is not None
            return self._failed(cycle, status, *guard.failure)
        except PositionAdjustmentError as exc:  # a red line the engine refuses (no stop-loss)
            return self._failed(cycle, status, "RedLine", str(exc), False)
        finally:
            self.s.metrics.reconcile_seconds.labels(KIND).observe(time.perf_counter() - started)

    def _failed(self, cycle: ObjectCycle, status: MarketMakerStatus, reason: str, message: str,
                degraded: bool) -> MakerResult:
        conds = cycle.failed(status.conditions, reason, message, degraded)
        return MakerResult(status.model_copy(update={"conditions": conds, "observedGeneration": cycle.generation,
                                                     "lastCheck": cycle.now}),
                           [CycleEvent("Warning", reason, message)])

    async def _cycle(self, mm: MarketMaker, status: MarketMakerStatus, now: datetime, guard: Guard,
                     halted: str | None) -> MakerResult:
        spec, venue, symbol = mm.spec, guard.venue, mm.spec.symbol
        rules = (await venue.markets([symbol]))[symbol]
        if not rules.linear_swap:  # the CRD says so of the symbol; this of the market the venue would trade
            raise MarketMismatch(f"{symbol} is not a linear perpetual swap on this venue (spot, future or inverse): "
                                 "nothing is quoted until spec.symbol names one")
        ctx = guard.context(guard.stream, {symbol: rules})
        events: list[CycleEvent] = []
        book = Book(MakerLedger(LegBook(status.position, status.entryPrice, status.grossRealizedQuote),
                                status.feesQuote, status.boughtQty, status.soldQty),
                    {str(q["clientOrderId"]): dict(q) for q in status.quotes})
        cycle_no = status.cycle
        intent = await self.s.journal.read_intent(guard.stream)
        if intent is not None and int(intent["cycle"]) > cycle_no:  # orders a killed process sent: ours
            for o in intent["orders"]:
                book.known.setdefault(str(o["clientOrderId"]), {**o, "filled": "0", "feeQuote": "0"})
            cycle_no = int(intent["cycle"])
            self.s.metrics.recoveries.labels(KIND).inc()
            events.append(CycleEvent("Warning", "PlanRecovered", f"cycle {cycle_no} was cut short by a restart: "
                                     f"its {len(intent['orders'])} orders adopted by client id"))
        snap = await venue.snapshot([symbol])
        resting = {o.client_order_id: o for o in snap.open_orders if o.symbol == symbol}
        for cid in list(book.known):
            state = resting.get(cid) or await venue.order(cid, symbol)
            if state is None:  # never reached the venue
                del book.known[cid]
            else:
                book.account(state)
        quote = snap.quotes[symbol]
        pos = snap.positions.get(symbol)
        position = pos.qty if pos else ZERO
        mid = (quote.bid + quote.ask) / 2
        uid = mm.metadata.uid or mm.key
        decision = decide_maker(spec, rules, uid=uid, cycle=cycle_no + 1, now=now,
                                started_at=status.startedAt or now, bid=quote.bid, ask=quote.ask, position=position,
                                unrealized_pnl=book.ledger.unrealized_pnl(mid), halted=halted is not None)
        sent = await self._act(ctx, book, decision, uid, cycle_no + 1, symbol, resting)
        if sent:
            cycle_no += 1
        for order_type, outcome in ctx.outcomes:
            self.s.metrics.orders.labels(mm.metadata.namespace, mm.metadata.name, order_type, outcome).inc()
        if decision.reason != status.reason or decision.close is not None:
            kind = "Warning" if decision.reason in WARNING_REASONS else "Normal"
            events.append(CycleEvent(kind, decision.reason, decision.message))
            await ctx.record({"type": "decision", "reason": decision.reason, "message": decision.message})
        return MakerResult(self._status(mm, status, book, decision, now, quote.bid, quote.ask, cycle_no, halted),
                           events)

    async def _act(self, ctx: ExecutionContext, book: Book, d: MakerDecision, uid: str, cycle: int, symbol: str,
                   resting: dict[str, OrderState]) -> bool:
        """Cancel, reduce, quote. Returns whether orders were sent (the cycle number is then used up)."""
        mine = [Resting(cid, str(k["side"]), Decimal(str(k["price"])), Decimal(str(k["amount"])) -
                        Decimal(str(k["filled"]))) for cid, k in book.known.items() if cid in resting]
        cancel, place = ((tuple(r.client_order_id for r in mine), ()) if d.cancel_all
                         else diff_quotes(mine, d.quotes))
        if d.cancel_all and d.quotes:  # a risk close cancels everything, then quotes afresh around the new line
            place = d.quotes
        for cid in cancel:
            state = await ctx.venue.cancel(cid, symbol)
            book.account(state)
            await ctx.record({"type": "cancel", "clientOrderId": cid, "filled": str(state.filled),
                              "reason": d.reason})
        pid = plan_id(uid, cycle)  # the close order's id (decide_maker) derives from the same plan id
        orders = ([OrderRequest(d.close.client_order_id, symbol, d.close.side, d.close.amount, "market",
                                reduce_only=True)] if d.close is not None else [])
        orders += [OrderRequest(client_order_id(pid, q.layer * 2 + (q.side == "sell"), "m"), symbol,
                                q.side, q.amount, "limit", q.price, post_only=True) for q in place]
        if not orders:
            return False
        await ctx.write_intent({"cycle": cycle, "orders": [
            {"clientOrderId": o.client_order_id, "side": o.side, "price": str(o.price or ZERO),
             "amount": str(o.amount)} for o in orders]})
        for req in orders:
            placed = await submit(ctx, req, "maker" if req.post_only else "taker")
            if placed is not None:
                book.known[placed.client_order_id] = _known(placed)
                book.account(placed)
        return True

    def _status(self, mm: MarketMaker, status: MarketMakerStatus, book: Book, d: MakerDecision, now: datetime,
                bid: Decimal, ask: Decimal, cycle: int, halted: str | None) -> MarketMakerStatus:
        gen, led = mm.metadata.generation, book.ledger
        mid = (bid + ask) / 2
        conds = set_condition(status.conditions, "Ready", True, d.reason, d.message, now, gen)
        conds = set_condition(conds, "Degraded", False, "Healthy", "", now, gen)
        conds = set_condition(conds, "Halted", halted is not None, "HaltAnnotation" if halted else "Running",
                              halted or "", now, gen)
        conds = set_condition(conds, "Finished", d.finished, "DurationElapsed" if d.finished else "Running",
                              d.message if d.finished else "", now, gen)
        unrealized = led.unrealized_pnl(mid)
        self.s.metrics.healthy(KIND, mm.metadata.namespace, mm.metadata.name)
        self.s.metrics.pnl.labels(KIND, mm.metadata.namespace, mm.metadata.name, mm.spec.symbol).set(
            float(led.realized_pnl + unrealized))
        return status.model_copy(update={
            "observedGeneration": gen, "conditions": conds, "bid": bid, "ask": ask,
            "position": led.inventory.qty, "entryPrice": _q(led.inventory.entry),
            "quotes": list(book.known.values()), "boughtQty": led.bought, "soldQty": led.sold,
            "realizedPnlQuote": _q(led.realized_pnl), "unrealizedPnlQuote": _q(unrealized),
            "feesQuote": _q(led.fees_quote), "grossRealizedQuote": _q(led.inventory.realized),
            "startedAt": status.startedAt or now, "cycle": cycle, "reason": d.reason, "message": d.message,
            "lastCheck": now,
        })


"""One MarketMaker cycle (seed 003), every `intervalSeconds`, on the one reconcile skeleton (runtime/reconcile.py):
account the fills of our quotes since the last cycle, decide (close-all, position lines, stop-loss, take-profit,
duration), then cancel what should no longer rest, send the reduce order, and place the missing quotes post-only.
Fills are accounted from the orders' own filled amounts (engine/maker/book.py), so a fill is booked exactly once
however often it is observed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from hedgeops.api.marketmaker import MakerCycleSummary, MarketMaker, MarketMakerStatus
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.common.pnl import LegBook
from hedgeops.engine.maker.book import Book, intended, known_of
from hedgeops.engine.maker.close import decide_close_all
from hedgeops.engine.maker.decide import MakerDecision, MakerLedger, decide_maker
from hedgeops.engine.maker.quotes import diff_quotes
from hedgeops.engine.maker.summary import CycleSummary, summarize
from hedgeops.exchange.venue import CarryVenue
from hedgeops.model.journal import CancelEntry, DecisionEntry, FundingEntry, MakerCycleEntry
from hedgeops.model.orders import Liquidity, OrderRequest, OrderState, OrderType, Position, Side
from hedgeops.runtime.cycle import CycleEvent, Guard, MarketMismatch, Services
from hedgeops.runtime.execution import ExecutionContext, submit
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.probes import maker_probe
from hedgeops.runtime.reconcile import KindBase, Outcome, Reconciler, Schedule, standard_conditions
from hedgeops.runtime.teardown import Resting, latest_intent_orders
from hedgeops.runtime.triggers import Probe

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")
KIND = "MarketMaker"
WARNING_REASONS = {"StopLoss", "RiskClose", "Halted", "PlanRecovered", "CloseAll"}
# Funding settles on the hour (every 1, 4 or 8 h) on the venues served; reading the payments every 5 minutes books a
# settlement within minutes of its bill at one request in thirty 10-second cycles.
FUNDING_CHECK = timedelta(minutes=5)


def _q(x: Decimal) -> Decimal:
    return x.quantize(Q8, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class IntendedOrder:
    """One order of a cycle as the write-ahead intent records it. The field names are the stored JSON's, as the
    previous version wrote them, so an intent written before an upgrade still recovers."""

    clientOrderId: str
    side: Side
    price: Decimal  # 0 for a market order
    amount: Decimal


@dataclass(frozen=True)
class MakerIntent:
    """The orders one cycle is about to send, written before the first of them: a process killed mid-cycle
    leaves them to the next one, which adopts them by client id instead of forgetting resting quotes."""

    cycle: int
    orders: tuple[IntendedOrder, ...] = ()

    @property
    def seq(self) -> int:
        """The status's `cycle` once the orders are accounted for: newer than it means not accounted for yet."""
        return self.cycle


def finished(status: MarketMakerStatus) -> bool:
    return any(c.type == "Finished" and c.status.value == "True" for c in status.conditions)


def venue_unrealized(pos: Position | None, mid: Decimal) -> Decimal:
    """The venue's position marked at the cycle's mid, on the venue's entry price (its own PnL figure where it
    reports no entry)."""
    if pos is None or pos.qty == 0:
        return ZERO
    if pos.entry_price > 0:
        return pos.qty * (mid - pos.entry_price)
    return pos.unrealized_pnl


class MarketMakerCycle(KindBase[MarketMaker, MarketMakerStatus, None]):
    """What is a MarketMaker's own in the skeleton: its wish for a cycle beyond the schedule, and its step."""

    kind: str = KIND
    status_type = MarketMakerStatus

    def __init__(self, services: Services) -> None:
        self.s = services
        self.intents = IntentStore(services.journal, MakerIntent)

    def interval(self, obj: MarketMaker, inputs: None) -> float:
        return float(obj.spec.intervalSeconds)

    def wanted(self, obj: MarketMaker, status: MarketMakerStatus, controls: Controls, now: datetime,
               scheduled: bool) -> Any:
        """A finished run makes no more calls, unless halted (today's rule) or asked to close all (a finished run
        leaves its position as is: flattening it is what close-all is for). Off the schedule, a halt or
        close-all with quotes resting still cycles: they must come off the book now, not at the next slot."""
        if finished(status) and not controls.halted and not controls.close_all:
            return None
        if scheduled or ((controls.halted or controls.close_all) and status.quotes):
            return True
        return None

    async def probe(self, obj: MarketMaker, status: MarketMakerStatus, controls: Controls, inputs: None,
                    guard: Guard) -> Probe | None:
        return maker_probe(obj, status, controls)

    async def resting(self, obj: MarketMaker, status: MarketMakerStatus, guard: Guard) -> Resting:
        """Its quotes as the status lists them, and the newest cycle intent's limit orders (its close is market)."""
        symbol = obj.spec.symbol
        out = {str(q["clientOrderId"]): symbol for q in status.quotes}
        intent = await latest_intent_orders(self.s, guard.intents, MakerIntent, status.cycle)
        if intent is not None:
            out.update({o.clientOrderId: symbol for o in intent.orders if o.price != 0})
        return out

    async def step(self, obj: MarketMaker, status: MarketMakerStatus, controls: Controls, now: datetime,
                   inputs: None, guard: Guard, wanted: Any) -> Outcome[MarketMakerStatus]:
        mm, venue = obj, guard.venue
        spec, symbol = mm.spec, mm.spec.symbol
        rules = (await venue.markets([symbol]))[symbol]
        if not rules.linear_swap:  # the CRD says so of the symbol; this of the market the venue would trade
            raise MarketMismatch(f"{symbol} is not a linear perpetual swap on this venue (spot, future or inverse): "
                                 "nothing is quoted until spec.symbol names one")
        ctx = guard.context(guard.intents, {symbol: rules})
        events: list[CycleEvent] = []
        book = Book(MakerLedger(LegBook(status.position, status.entryPrice, status.grossRealizedQuote),
                                status.feesQuote, status.boughtQty, status.soldQty),
                    {str(q["clientOrderId"]): dict(q) for q in status.quotes})
        before = book.ledger
        cycle_no = status.cycle
        intent = await self.intents.pending(guard.intents, cycle_no)
        adopted: set[str] = set()  # quotes a killed process placed: counted as placed once they are found
        if intent is not None:  # orders a killed process sent: ours
            adopted = {o.clientOrderId for o in intent.orders if o.price != 0 and o.clientOrderId not in book.known}
            for o in intent.orders:
                book.known.setdefault(o.clientOrderId, intended(o.clientOrderId, o.side, o.price, o.amount))
            cycle_no = intent.cycle
            self.s.metrics.recoveries.labels(KIND).inc()
            events.append(CycleEvent("Warning", "PlanRecovered", f"cycle {cycle_no} was cut short by a restart: "
                                     f"its {len(intent.orders)} orders adopted by client id"))
        snap = await venue.snapshot([symbol])
        resting = {o.client_order_id: o for o in snap.open_orders if o.symbol == symbol}
        for cid in list(book.known):
            state = resting.get(cid) or await venue.order(cid, symbol)
            if state is None:  # never reached the venue
                del book.known[cid]
                adopted.discard(cid)
            else:
                book.account(state)
        quote = snap.quotes[symbol]
        pos = snap.positions.get(symbol)
        position = pos.qty if pos else ZERO
        mid = (quote.bid + quote.ask) / 2
        # Stop-loss, take-profit and no-averaging-down read the venue's position, not the maker's own fills: a
        # position it did not open (left by a lost status, a manual trade, an earlier run) is still its risk.
        unrealized = venue_unrealized(pos, mid)
        uid = mm.metadata.uid or mm.key
        started = status.startedAt or now
        if controls.close_all:
            decision = decide_close_all(spec, rules, uid=uid, cycle=cycle_no + 1, now=now, started_at=started,
                                        position=position)
        else:
            decision = decide_maker(spec, rules, uid=uid, cycle=cycle_no + 1, now=now, started_at=started,
                                    bid=quote.bid, ask=quote.ask, position=position,
                                    unrealized_pnl=unrealized, halted=controls.halted)
        placed = await self._act(ctx, book, decision, uid, cycle_no + 1, symbol, resting)
        if placed is not None:
            cycle_no += 1
        funding = await self._funding(ctx, venue, symbol, status, now, started)
        for order_type, outcome in ctx.outcomes:
            self.s.metrics.orders.labels(KIND, mm.metadata.namespace, mm.metadata.name, order_type, outcome).inc()
        decided = decision.reason != status.reason or decision.close is not None
        if decided:
            kind = "Warning" if decision.reason in WARNING_REASONS else "Normal"
            events.append(CycleEvent(kind, decision.reason, decision.message))
            await ctx.record(DecisionEntry(reason=decision.reason, message=decision.message))
        previous = status.summary.pnlQuote if status.summary is not None else ZERO
        summary = summarize(spec, before=before, after=book.ledger, previous_pnl=previous, bid=quote.bid,
                            ask=quote.ask, funding_cycle=funding.cycle, funding_total=funding.total,
                            resting=book.resting(book.known))
        if placed is not None or decided or funding.cycle or summary.bought or summary.sold:
            # Quiet cycles (nothing filled, sent, booked or decided) stay out: every 10 s they would push the
            # orders out of the capped stream. The status always holds the last cycle's summary.
            await ctx.record(MakerCycleEntry(
                cycle=cycle_no, bid=summary.bid, ask=summary.ask, position=summary.position,
                skewOffset=summary.skew_offset, bought=summary.bought, sold=summary.sold,
                feesQuote=summary.fees_quote, fundingQuote=summary.funding_quote,
                cyclePnlQuote=summary.cycle_pnl_quote, pnlQuote=summary.pnl_quote, quotes=summary.quotes))
        new = self._status(mm, status, book, decision, now, quote.bid, quote.ask, cycle_no, controls)
        placed_total = status.quotesPlaced + len(adopted) + (placed or 0)
        filled_total = status.quotesFilled + book.quotes_filled
        labels = (KIND, mm.metadata.namespace, mm.metadata.name, symbol)
        self.s.metrics.maker_quotes.labels(*labels, "placed").inc(placed or 0)
        self.s.metrics.maker_quotes.labels(*labels, "filled").inc(book.quotes_filled)
        if placed_total:
            self.s.metrics.maker_fill_ratio.labels(*labels).set(filled_total / placed_total)
        self.s.metrics.maker_fees.labels(*labels).set(float(book.ledger.fees_quote))
        self.s.metrics.maker_funding.labels(*labels).set(float(funding.total))
        self.s.metrics.pnl.labels(*labels).set(float(summary.pnl_quote))
        new = new.model_copy(update={
            "quotesPlaced": placed_total, "quotesFilled": filled_total, "fundingQuote": funding.total,
            "fundingBookedUntil": funding.booked_until, "fundingCheckedAt": funding.checked_at,
            "fundingBookedIds": list(funding.booked_ids),
            "summary": _summary_doc(summary, now)})
        return Outcome(new, events)

    async def _funding(self, ctx: ExecutionContext, venue: CarryVenue, symbol: str, status: MarketMakerStatus,
                       now: datetime, started: datetime) -> FundingBooked:
        """Funding settled on the position since the last payment booked, read at most every FUNDING_CHECK. Each
        payment is booked once: only those after the last one booked count, whenever the venue posts them."""
        until, ids = status.fundingBookedUntil or started, set(status.fundingBookedIds)
        if status.fundingCheckedAt is not None and now - status.fundingCheckedAt < FUNDING_CHECK:
            return FundingBooked(ZERO, status.fundingQuote, until, status.fundingCheckedAt, tuple(sorted(ids)))
        cycle = ZERO
        # Asked from the last settlement booked, inclusive: a second bill stamped with that same time (two
        # settlements booked in one second, a correction) is told apart by its id.
        payments = await venue.funding_payments(symbol, since=until - timedelta(milliseconds=1))
        for p in sorted(payments, key=lambda p: (p.at, p.id)):
            if p.at < until or p.at > now or (p.at == until and p.id in ids):
                continue
            if p.at > until:
                until, ids = p.at, set()
            ids.add(p.id)
            cycle += p.amount
            await ctx.record(FundingEntry(symbol=symbol, amount=p.amount, settledAt=p.at))
        return FundingBooked(cycle, status.fundingQuote + cycle, until, now, tuple(sorted(ids)))

    async def _act(self, ctx: ExecutionContext, book: Book, d: MakerDecision, uid: str, cycle: int, symbol: str,
                   resting: dict[str, OrderState]) -> int | None:
        """Cancel, reduce, quote. Returns the quotes the venue took, or None when no order was sent (an order sent
        uses the cycle number up)."""
        mine = book.resting(resting)
        cancel, place = ((tuple(r.client_order_id for r in mine), ()) if d.cancel_all
                         else diff_quotes(mine, d.quotes))
        if d.cancel_all and d.quotes:  # a risk close cancels everything, then quotes afresh around the new line
            place = d.quotes
        for cid in cancel:
            state = await ctx.venue.cancel(cid, symbol)
            book.account(state)
            await ctx.record(CancelEntry(clientOrderId=cid, filled=state.filled, reason=d.reason))
        pid = plan_id(uid, cycle)  # the close order's id (decide_maker) derives from the same plan id
        orders = ([OrderRequest(d.close.client_order_id, symbol, d.close.side, d.close.amount, OrderType.MARKET,
                                reduce_only=d.close.reduce_only)] if d.close is not None else [])
        orders += [OrderRequest(client_order_id(pid, q.layer * 2 + (q.side == Side.SELL), "m"), symbol,
                                q.side, q.amount, OrderType.LIMIT, q.price, post_only=True) for q in place]
        if not orders:
            return None
        await ctx.write_intent(IntentStore.doc(MakerIntent(cycle, tuple(
            IntendedOrder(o.client_order_id, o.side, o.price or ZERO, o.amount) for o in orders))))
        quotes = 0
        for req in orders:
            placed = await submit(ctx, req, Liquidity.MAKER if req.post_only else Liquidity.TAKER)
            if placed is not None:
                quotes += req.post_only
                book.known[placed.client_order_id] = known_of(placed)
                book.account(placed)
        return quotes

    def _status(self, mm: MarketMaker, status: MarketMakerStatus, book: Book, d: MakerDecision, now: datetime,
                bid: Decimal, ask: Decimal, cycle: int, controls: Controls) -> MarketMakerStatus:
        gen, led = mm.metadata.generation, book.ledger
        mid = (bid + ask) / 2
        conds = standard_conditions(status.conditions, now, gen, ready=True, reason=d.reason, message=d.message,
                                    controls=controls)
        conds = set_condition(conds, "Finished", d.finished, "DurationElapsed" if d.finished else "Running",
                              d.message if d.finished else "", now, gen)
        unrealized = led.unrealized_pnl(mid)
        self.s.metrics.healthy(KIND, mm.metadata.namespace, mm.metadata.name)
        self.s.metrics.position.labels(KIND, mm.metadata.namespace, mm.metadata.name, mm.spec.symbol).set(
            float(led.inventory.qty))
        return status.model_copy(update={
            "observedGeneration": gen, "conditions": conds, "bid": bid, "ask": ask,
            "position": led.inventory.qty, "entryPrice": _q(led.inventory.entry),
            "quotes": list(book.known.values()), "boughtQty": led.bought, "soldQty": led.sold,
            "realizedPnlQuote": _q(led.realized_pnl), "unrealizedPnlQuote": _q(unrealized),
            "feesQuote": _q(led.fees_quote), "grossRealizedQuote": _q(led.inventory.realized),
            "startedAt": status.startedAt or now, "cycle": cycle, "reason": d.reason, "message": d.message,
            "lastCheck": now,
        })


@dataclass(frozen=True)
class FundingBooked:
    cycle: Decimal  # booked this cycle
    total: Decimal  # since the start
    booked_until: datetime  # the last settlement booked
    checked_at: datetime  # when the venue was last read
    booked_ids: tuple[str, ...]  # the payments booked at booked_until


def _summary_doc(s: CycleSummary, now: datetime) -> MakerCycleSummary:
    return MakerCycleSummary.model_validate({
        "at": now, "bid": s.bid, "ask": s.ask, "mid": s.mid, "spreadRatio": s.spread_ratio,
        "position": s.position, "targetPosition": s.target_position, "maxPosition": s.max_position,
        "skewRatio": s.skew_ratio, "skewOffset": s.skew_offset, "bought": s.bought, "sold": s.sold,
        "feesQuote": s.fees_quote, "fundingQuote": s.funding_quote, "cyclePnlQuote": s.cycle_pnl_quote,
        "pnlQuote": s.pnl_quote, "quotes": s.quotes, "bestBidQuote": s.best_bid_quote,
        "bestAskQuote": s.best_ask_quote})


class MarketMakerReconciler(Reconciler[MarketMaker, MarketMakerStatus, None]):
    """Reconciles MarketMakers: `await r.reconcile(mm, now, controls)` → `Outcome[MarketMakerStatus]`. Give it
    the process's `Schedule` (operator, local mode) so it cycles every `spec.intervalSeconds`, on aligned
    slots; without one every call is a cycle."""

    def __init__(self, services: Services, schedule: Schedule | None = None) -> None:
        super().__init__(MarketMakerCycle(services), services, schedule)

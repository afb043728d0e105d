"""FundingArbitrage on the one reconcile skeleton (runtime/reconcile.py): seed 004's scheduler (scan every 5 min,
risk and PnL every hour, funding booked every 8 h), the bootstrap self-check, then the engine's state machine per
pair, its actions executed fenced and journalled.

The skeleton runs an object every tick (`interval`); what a tick does is the carry's own cadence, kept in its
status (`due_tasks`). Between scans, every tick that an object holds a position is a watch: the account snapshot
the venue shares across objects (no other call) is checked for margin, stops and legs (engine `watch`), and a
pair that needs it is stepped at once; a settlement the venue's clock has passed is booked then too. The circuit
breaker is the object's, one over all its pairs (engine `Breaker`): each pair's machine carries the same copy."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.common import Mode
from hedgeops.api.funding import (
    BootstrapStatus,
    CarryLegStatus,
    CarryPair,
    FundingArbitrage,
    FundingArbitrageStatus,
    Phase,
    SelectedPair,
    Selection,
)
from hedgeops.engine.carry.codec import decode, funding_marks
from hedgeops.engine.carry.intent import CarryIntent
from hedgeops.engine.carry.ledger import Breaker
from hedgeops.engine.carry.machine import CancelAll, CarryState, Inputs, LegOrder, Transfer, book_funding, step, watch
from hedgeops.engine.carry.pairs import (
    PairMemory,
    breaker_condition,
    object_breaker,
    q8,
    share_breaker,
    slots,
    totals,
    trip_message,
)
from hedgeops.engine.carry.rules import CarryAccount, CarryMarket, bootstrap_problems, due_tasks, pair_notional
from hedgeops.engine.carry.select import Candidate, liquid, select
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.controls import Controls
from hedgeops.exchange.venue import CarryVenue
from hedgeops.model.orders import AccountSnapshot, OrderRequest, OrderState
from hedgeops.runtime.cycle import CycleEvent, Guard, Services
from hedgeops.runtime.execution import ExecutionContext, submit
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.reconcile import KindBase, Outcome, Reconciler, Schedule, standard_conditions

ZERO = Decimal(0)
TRANSIENT = {Phase.OPENING, Phase.CLOSING, Phase.REBALANCING}  # a plan in flight: step on every tick
WARNING_REASONS = {"StopLoss", "EmergencyMargin", "UnwindLegs", "BreakerTripped", "Halted", "MarginShortfall",
                   "NegativeFunding", "PlanRecovered", "CloseAll"}
KIND = "FundingArbitrage"
TICK_SECONDS = 5.0  # the skeleton's interval: a watch every tick; scan, risk and settle on the status's cadence

Status = FundingArbitrageStatus
PairTurn = tuple[CarryLegStatus, list[CycleEvent], Breaker, bool]  # leg, events, breaker after, changed


class FundingArbitrageCycle(KindBase[FundingArbitrage, Status, None]):
    """What a FundingArbitrage adds to the skeleton: which tasks a tick runs, and the cycle that runs them."""

    kind = KIND
    status_type = Status

    def __init__(self, services: Services) -> None:
        self.s = services
        self.intents = IntentStore(services.journal, CarryIntent)

    def interval(self, fa: FundingArbitrage, inputs: None) -> float:
        return TICK_SECONDS

    def wanted(self, fa: FundingArbitrage, status: Status, controls: Controls, now: datetime,
               scheduled: bool) -> set[str] | None:
        """Which tasks this tick runs: the seed's cadence, plus a step whenever something asks for one now
        (a plan in flight, a halt set or cleared, a new generation, a breaker reset, close-all). None: no call,
        no status write."""
        if not scheduled:
            return None
        c = status.cadence
        due = set(due_tasks(now, {"scan": c.scan, "risk": c.risk, "settle": c.settle}))
        phases = {leg.phase for leg in status.legs}
        urgent = (phases & TRANSIENT or controls.halted != (Phase.HALTED in phases and not controls.close_all)
                  or status.observedGeneration != fa.metadata.generation or controls.reset_breaker
                  or controls.close_all)
        if urgent:
            due.add("step")
        # Margin is watched in real time (seed 004), not on the 5-minute scan: a held position is looked at on every
        # tick, from the account snapshot. Settlements are found on the venue's own clock there too.
        if not controls.halted and any(leg.spotQty != 0 or leg.perpQty != 0 for leg in status.legs):
            due.add("watch")
        return due or None

    async def step(self, fa: FundingArbitrage, status: Status, controls: Controls, now: datetime, inputs: None,
                   guard: Guard, wanted: Any) -> Outcome[Status]:
        due: set[str] = wanted
        spec, venue = fa.spec, guard.venue
        events: list[CycleEvent] = []
        selection = status.selection
        if spec.autoSelect is not None:
            selection, pairs = await self._auto_select(fa, status, due, venue, now, guard, events)
        else:
            pairs = list(spec.pairs)
        symbols = sorted({s for p in pairs for s in (p.spot, p.perp)})
        markets = await venue.markets(symbols)
        snap = await venue.snapshot(symbols)
        boot = status.bootstrap
        if not boot.passed and pairs:
            boot = await self._bootstrap(fa, status, snap, now, guard, pairs)
            if not boot.passed:
                message = "; ".join(boot.problems)
                await guard.record({"type": "refused", "reason": "BootstrapFailed", "message": message})
                failed = Reconciler.failed(guard.cycle, status, ("BootstrapFailed", message, False))
                return Outcome(failed.status.model_copy(update={"bootstrap": boot, "selection": selection}),
                               failed.events)
            events.append(CycleEvent("Normal", "BootstrapPassed",
                                     f"self-check passed; leverage {spec.leverage}x set on "
                                     f"{', '.join(p.perp for p in pairs)}"))
        elif pairs:
            pairs = await self._check_new_pairs(fa, status, snap, now, guard, pairs, events)
        old = {(leg.spot, leg.perp): leg for leg in status.legs}
        breaker = object_breaker(status.legs).roll(now.date().isoformat())
        if controls.reset_breaker:  # once for the object: a loss booked by one pair this cycle is not reset by the next
            breaker = breaker.reset()
        was_tripped, changed = breaker.tripped, due != {"watch"}
        legs: list[CarryLegStatus] = []
        for pair in pairs:
            leg, evs, breaker, acted = await self._pair(fa, pair, old.get((pair.spot, pair.perp)), status, snap,
                                                        markets, now, due, guard, controls, breaker)
            legs.append(leg)
            events += evs
            changed = changed or acted
        # A flat pair autoSelect no longer picks keeps its memory: picked again, it resumes where it was.
        in_play = {(p.spot, p.perp) for p in pairs}
        legs += [leg for key, leg in old.items() if key not in in_play]
        legs = [share_breaker(leg, breaker) for leg in legs]
        for leg in legs:
            self.s.metrics.observe_carry(fa.metadata.namespace, fa.metadata.name, leg)
        if breaker.tripped and not was_tripped:
            events.append(CycleEvent("Warning", "BreakerTripped", trip_message(breaker, spec)))
            await guard.record({"type": "breaker", "reason": breaker.reason,
                                "consecutiveLosses": breaker.consecutive_losses,
                                "dailyLossQuote": str(breaker.daily_loss_quote)})
        if not changed:  # a watch that found nothing: metrics are current, the status is not rewritten
            return Outcome(status, events, changed=False)
        return Outcome(self._status(fa, status, legs, now, due, boot, controls, breaker)
                       .model_copy(update={"selection": selection}), events)

    async def _auto_select(self, fa: FundingArbitrage, status: Status, due: set[str], venue: CarryVenue,
                           now: datetime, guard: Guard,
                           events: list[CycleEvent]) -> tuple[Selection | None, list[CarryPair]]:
        """Seed 004's market scan: on the scan cadence, the pairs to carry picked by volume and funding rate.
        A pair holding a position is carried whether picked or not, until its machine closes it."""
        spec, auto = fa.spec, fa.spec.autoSelect
        assert auto is not None
        held = [(leg.spot, leg.perp) for leg in status.legs
                if leg.phase not in (Phase.IDLE, Phase.CLOSED) or leg.spotQty != 0 or leg.perpQty != 0]
        selection = status.selection
        if "scan" in due or selection is None:
            universe = await venue.carry_universe(spec.quoteCurrency)
            within = {(p.spot, p.perp) for p in spec.pairs} or None
            scored = [Candidate(c.spot, c.perp, c.volume_quote, (await venue.funding_rate(c.perp))[0])
                      for c in liquid([Candidate(u.spot, u.perp, u.volume_quote) for u in universe], auto, within)]
            picked = select(scored, auto, spec.entry, held)
            fresh = Selection(at=now, candidates=len(universe), pairs=[
                SelectedPair(spot=c.spot, perp=c.perp, fundingRate=c.rate or ZERO, volumeQuote=q8(c.volume_quote))
                for c in picked])
            before = [(p.spot, p.perp) for p in selection.pairs] if selection else None
            after = [(p.spot, p.perp) for p in fresh.pairs]
            if before != after:
                message = (", ".join(f"{p.perp} at {p.fundingRate:.4%}" for p in fresh.pairs) or
                           f"nothing: of {len(universe)} pairs none has {auto.minVolumeQuote} volume and funding "
                           f"in [{spec.entry.minFundingRate:.4%}, {spec.entry.maxFundingRate:.4%}]")
                events.append(CycleEvent("Normal", "PairsSelected", f"autoSelect picked {message}"))
                await guard.record({"type": "selection", "pairs": [p.perp for p in fresh.pairs],
                                    "candidates": len(universe)})
            selection = fresh
        pairs = [CarryPair(spot=p.spot, perp=p.perp) for p in selection.pairs]
        pairs += [CarryPair(spot=s, perp=p) for s, p in held if all((x.spot, x.perp) != (s, p) for x in pairs)]
        return selection, pairs

    async def _check_new_pairs(self, fa: FundingArbitrage, status: Status, snap: AccountSnapshot, now: datetime,
                               guard: Guard, pairs: list[CarryPair], events: list[CycleEvent]) -> list[CarryPair]:
        """A pair autoSelect brings in after the first trade gets the same self-check (leftovers, leverage)
        before it may trade; one that fails is left out, the others go on."""
        known = {(leg.spot, leg.perp) for leg in status.legs}
        new = [p for p in pairs if (p.spot, p.perp) not in known]
        if not new:
            return pairs
        symbols = sorted({s for p in new for s in (p.spot, p.perp)})
        missing = [s for s in symbols if s not in snap.quotes]
        if missing:
            snap = await guard.venue.snapshot(symbols)
        skipped: set[tuple[str, str]] = set()
        for pair in new:
            check = await self._bootstrap(fa, status, snap, now, guard, [pair])
            if not check.passed:
                skipped.add((pair.spot, pair.perp))
                events.append(CycleEvent("Warning", "PairSkipped", "; ".join(check.problems)))
                await guard.record({"type": "refused", "reason": "PairSkipped", "message": "; ".join(check.problems)})
        return [p for p in pairs if (p.spot, p.perp) not in skipped]

    async def _bootstrap(self, fa: FundingArbitrage, status: Status, snap: AccountSnapshot, now: datetime,
                         guard: Guard, pairs: list[CarryPair]) -> BootstrapStatus:
        """Seed 004's self-check. Credentials: the private snapshot just worked (a refusal is CredentialsRejected
        before this). Leftovers: spot or perp this object did not open. An abnormal exit (a plan cut short, its
        intent newer than the status) is this object's own position: not a leftover, and recovered in the pair's
        turn from the intent before any new decision."""
        problems: list[str] = []
        known = {(leg.spot, leg.perp) for leg in status.legs if leg.phase is not Phase.IDLE}
        seqs = {(leg.spot, leg.perp): decode(leg.machine).seq for leg in status.legs}
        for pair in pairs:
            intent = await self.intents.pending(f"{guard.stream}:{pair.perp}", seqs.get((pair.spot, pair.perp), 0))
            if intent is not None:
                known.add((pair.spot, pair.perp))
                await guard.record({"type": "abnormalExit", "symbol": pair.perp, "seq": intent.seq})
        for pair in pairs:
            base = pair.spot.split("/")[0]
            pos = snap.positions.get(pair.perp)
            checks = bootstrap_problems(has_credentials=True, live=fa.spec.mode is Mode.LIVE,
                                        leftover_spot=snap.balances.get(base, ZERO),
                                        leftover_perp=pos.qty if pos else ZERO,
                                        known_position=(pair.spot, pair.perp) in known, last_exit_abnormal=False)
            problems += [f"{pair.spot}/{pair.perp}: {c.message}" for c in checks]
        if not problems:
            for pair in pairs:
                await guard.venue.set_leverage(pair.perp, fa.spec.leverage)
        return BootstrapStatus(passed=not problems, at=now, problems=problems)

    async def _pair(self, fa: FundingArbitrage, pair: CarryPair, old: CarryLegStatus | None, status: Status,
                    snap: AccountSnapshot, markets: Any, now: datetime, due: set[str], guard: Guard,
                    controls: Controls, breaker: Breaker) -> PairTurn:
        """One pair's turn with the object's breaker as it stands; returns the leg, its events, the breaker after
        it (a close may have counted) and whether anything changed beyond a quiet watch."""
        spec, venue = fa.spec, guard.venue
        mem = PairMemory.of(old, spec)
        next_at, booked = funding_marks(old.machine if old else None)
        intent_key = f"{guard.stream}:{pair.perp}"  # one write-ahead intent per pair: pairs trade independently
        ctx = guard.context(intent_key, markets)
        events: list[CycleEvent] = []
        changed = False
        intent = await self.intents.pending(intent_key, mem.state.seq)
        if intent is not None:
            mem = await self._recover(ctx, intent)
            self.s.metrics.recoveries.labels(KIND).inc()
            events.append(CycleEvent("Warning", "PlanRecovered",
                                     f"{pair.perp}: plan {intent.seq} was cut short by a restart; its orders were "
                                     "found by client id and booked, none sent again"))
            snap = await venue.snapshot([pair.spot, pair.perp])
            changed = True
        mem.state = replace(mem.state, breaker=breaker)
        mark = snap.quotes[pair.perp].last
        pos = snap.positions.get(pair.perp)
        perp_qty = pos.qty if pos else ZERO
        # Settlements on the venue's clock (its snapshot's time), not the operator's: a skewed clock must not
        # make one missed or booked twice. Only payments after the last one booked count.
        if perp_qty != 0 and ("settle" in due or (next_at is not None and snap.at >= next_at)):
            for p in await venue.funding_payments(pair.perp, since=booked or status.cadence.settle):
                if booked is not None and p.at <= booked:
                    continue
                mem.state = book_funding(mem.state, p.amount)
                mem.collateral += p.amount
                booked = p.at if booked is None else max(booked, p.at)
                await ctx.record({"type": "funding", "symbol": p.symbol, "amount": str(p.amount),
                                  "settledAt": p.at.isoformat()})
            next_at, changed = None, True
        reason, message = (old.reason, old.message) if old else (None, None)
        spot_qty = snap.balances.get(markets[pair.spot].base, ZERO)
        mine = [o for o in snap.open_orders if o.symbol in (pair.spot, pair.perp)]
        cash = snap.balances.get(markets[pair.spot].quote, ZERO)  # the venue's cash caps the pair's spot wallet
        account = CarryAccount(spot_qty, perp_qty, min(mem.spot_wallet, cash),
                               mem.collateral + mem.state.ledger.perp.unrealized(mark), len(mine))
        stepping = bool(due & {"scan", "risk", "step"})
        if not stepping and "watch" in due:
            stepping = watch(mem.state, spec, account, markets[pair.perp], snap.quotes[pair.spot].bid,
                             mark) is not None
        if stepping:
            if perp_qty == 0:
                booked = snap.at  # flat: a position opened now is owed nothing settled before it
            rate, next_at = await venue.funding_rate(pair.perp)
            market = CarryMarket(markets[pair.spot], markets[pair.perp], await venue.order_book(pair.spot),
                                 await venue.order_book(pair.perp), rate, mark)
            result = step(mem.state, Inputs(spec, market, account, f"{fa.metadata.uid or fa.key}/{pair.perp}", now,
                                            pair_notional(spec, slots(spec)), halt=controls.halt,
                                            close=controls.close_all))
            fills = await self._execute(ctx, mem, result.state, result.actions, mine)
            spot_qty += fills.get("spot", ZERO)
            perp_qty += fills.get("perp", ZERO)
            if result.actions or result.reason != reason:
                kind = "Warning" if result.reason in WARNING_REASONS else "Normal"
                events.append(CycleEvent(kind, result.reason, f"{pair.perp}: {result.message}"))
                await ctx.record({"type": "decision", "reason": result.reason, "message": result.message,
                                  "phase": result.phase.value, "seq": result.state.seq})
            reason, message, changed = result.reason, result.message, True
            for order_type, outcome in ctx.outcomes:
                self.s.metrics.orders.labels(fa.metadata.namespace, fa.metadata.name, order_type, outcome).inc()
        elif perp_qty != 0 and next_at is None:
            _, next_at = await venue.funding_rate(pair.perp)  # once after each settlement: when is the next one
            changed = True
        leg = mem.leg_status(pair, spot_qty=spot_qty, perp_qty=perp_qty, reason=reason, message=message,
                             spot_mark=snap.quotes[pair.spot].bid, mark=mark, leverage=spec.leverage,
                             next_at=next_at, booked=booked)
        return leg, events, mem.state.breaker, changed

    async def _execute(self, ctx: ExecutionContext, mem: PairMemory, new: CarryState, actions: tuple[Any, ...],
                       mine: list[OrderState]) -> dict[str, Decimal]:
        """Cancel, move wallets, then send the legs (the intent first): fills are booked as they come."""
        orders = [a for a in actions if isinstance(a, LegOrder)]
        mem.state = new
        for a in actions:
            if isinstance(a, Transfer):
                mem.transfer(a)
                await ctx.record({"type": "transfer", "to": a.to, "amount": str(a.amount)})
            elif isinstance(a, CancelAll):
                for o in mine:
                    state = await ctx.venue.cancel(o.client_order_id, o.symbol)
                    await ctx.record({"type": "cancel", "clientOrderId": o.client_order_id, "filled": str(state.filled),
                                      "reason": "CancelAll"})
        if orders:
            await ctx.write_intent(IntentStore.doc(CarryIntent.of(new, mem.spot_wallet, mem.collateral, orders)))
        moved: dict[str, Decimal] = {}
        for leg in orders:
            req = OrderRequest(leg.client_order_id, leg.symbol, leg.side, leg.qty, "market",
                               reduce_only=leg.reduce_only)
            done = await submit(ctx, req, "taker")
            if done is not None:
                mem.apply(leg.leg, done)
                moved[leg.leg] = moved.get(leg.leg, ZERO) + (done.filled if leg.side == "buy" else -done.filled)
        return moved

    async def _recover(self, ctx: ExecutionContext, intent: CarryIntent) -> PairMemory:
        """The plan a killed process was sending: its state as decided, its orders found by client id and booked.
        What the venue never saw is not sent now: the machine's next step completes or unwinds the legs."""
        mem = PairMemory.recovered(intent)
        found = []
        for o in intent.orders:
            state = await ctx.venue.order(o.clientOrderId, o.symbol)
            if state is not None:
                mem.apply(o.leg, state)
                found.append(state.client_order_id)
        await ctx.record({"type": "recovered", "seq": intent.seq, "found": found})
        return mem

    def _status(self, fa: FundingArbitrage, status: Status, legs: list[CarryLegStatus], now: datetime,
                due: set[str], boot: BootstrapStatus, controls: Controls, breaker: Breaker) -> Status:
        gen = fa.metadata.generation
        cadence = status.cadence.model_copy(update={t: now for t in ("scan", "risk", "settle") if t in due})
        conds = standard_conditions(status.conditions, now, gen, ready=True, reason="Reconciled",
                                    message=f"{len(legs)} pair(s) on {fa.spec.exchange.name}/"
                                            f"{fa.spec.exchange.account}", controls=controls)
        tripped, reason, message = breaker_condition(breaker, len(legs))
        conds = set_condition(conds, "BreakerTripped", tripped, reason, message, now, gen)
        self.s.metrics.healthy(KIND, fa.metadata.namespace, fa.metadata.name)
        return status.model_copy(update={**totals(legs, breaker, now), "observedGeneration": gen,
                                         "conditions": conds, "legs": legs, "cadence": cadence, "bootstrap": boot,
                                         "lastCheck": now})


class FundingArbitrageReconciler(Reconciler[FundingArbitrage, FundingArbitrageStatus, None]):
    """Reconciles FundingArbitrages through the one skeleton: `await r.reconcile(fa, now, Controls(...))`."""

    def __init__(self, services: Services, schedule: Schedule | None = None) -> None:
        super().__init__(FundingArbitrageCycle(services), services, schedule)

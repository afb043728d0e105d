"""One FundingArbitrage cycle: seed 004's scheduler (scan every 5 min, risk and PnL every hour, funding booked
every 8 h), the bootstrap self-check, then the engine's state machine per pair, its actions executed fenced
and journalled. Shared by the operator and tests.

Between those, every tick that an object holds a position is a watch: the account snapshot the venue shares
across objects (no other call) is checked for margin, stops and legs (engine `watch`), and a pair that needs it
is stepped at once; a settlement the venue's clock has passed is booked then too. The circuit breaker is the
object's, one over all its pairs (engine `Breaker`): each pair's machine carries the same copy.

Wallets: OKX's unified account (and the paper venues) keep spot and perp collateral in one trading wallet, so
the seed's spot/derivatives split is this object's own ledger (`spotWalletQuote`, `collateralQuote` per pair):
a Transfer moves the line between them and is journalled; no exchange call is needed or made."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.common import Mode
from hedgeops.api.funding import (
    BootstrapStatus,
    BreakerStatus,
    CarryLegStatus,
    CarryPair,
    FundingArbitrage,
    FundingArbitrageSpec,
    FundingArbitrageStatus,
    Phase,
    SelectedPair,
    Selection,
)
from hedgeops.engine.carry.codec import decode, encode, funding_marks, shared_breaker, with_funding
from hedgeops.engine.carry.ledger import Breaker
from hedgeops.engine.carry.machine import (
    CancelAll,
    CarryState,
    Inputs,
    LegOrder,
    Transfer,
    book_funding,
    step,
    watch,
)
from hedgeops.engine.carry.rules import (
    CarryAccount,
    CarryMarket,
    bootstrap_problems,
    due_tasks,
    margin_ratio,
    next_funding_time,
    pair_notional,
)
from hedgeops.engine.carry.select import Candidate, liquid, select
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.errors import PositionAdjustmentError
from hedgeops.exchange.venue import CarryVenue
from hedgeops.model.orders import AccountSnapshot, OrderRequest, OrderState
from hedgeops.runtime.cycle import CycleEvent, Guard, ObjectCycle, Services
from hedgeops.runtime.execution import ExecutionContext, submit

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")
TRANSIENT = {Phase.OPENING, Phase.CLOSING, Phase.REBALANCING}  # a plan in flight: step on every tick
WARNING_REASONS = {"StopLoss", "EmergencyMargin", "UnwindLegs", "BreakerTripped", "Halted", "MarginShortfall",
                   "NegativeFunding", "PlanRecovered", "CloseAll"}
KIND = "FundingArbitrage"


def _q(x: Decimal) -> Decimal:
    return x.quantize(Q8)


def slots(spec: FundingArbitrageSpec) -> int:
    """How many pairs the capital is split over: the listed pairs, or autoSelect's maximum (so a pair's share
    does not change as the selection does)."""
    return spec.autoSelect.maxSymbols if spec.autoSelect is not None else len(spec.pairs)


def object_breaker(legs: list[CarryLegStatus]) -> Breaker:
    """The object's breaker from its pairs' machines: the shared copy, or (statuses written while each pair kept
    its own) all of them combined once."""
    shared = [decode(leg.machine).breaker for leg in legs if shared_breaker(leg.machine)]
    if shared:
        return max(shared, key=lambda b: b.day)
    merged = Breaker()
    for leg in legs:
        merged = merged.combine(decode(leg.machine).breaker)
    return merged


def _share(leg: CarryLegStatus, breaker: Breaker) -> CarryLegStatus:
    """The leg with the object's breaker in its machine (its funding marks kept)."""
    nxt, booked = funding_marks(leg.machine)
    doc = with_funding(encode(replace(decode(leg.machine), breaker=breaker)), nxt, booked)
    return leg if doc == leg.machine else leg.model_copy(update={"machine": doc})


@dataclass
class PairMemory:
    """A pair's engine state and its two wallets, changed as actions execute."""

    state: CarryState
    spot_wallet: Decimal
    collateral: Decimal

    def apply(self, leg: str, order: OrderState) -> None:
        """Book a fill: the ledger learns it, the spot wallet pays for spot, the collateral takes perp PnL."""
        if order.filled <= 0 or order.average is None:
            return
        signed = order.filled if order.side == "buy" else -order.filled
        before = self.state.ledger.perp.realized
        self.state = replace(self.state, ledger=self.state.ledger.apply_fill(leg, signed, order.average,
                                                                             order.fee_quote))
        if leg == "spot":
            self.spot_wallet -= signed * order.average + order.fee_quote
        else:
            self.collateral += self.state.ledger.perp.realized - before - order.fee_quote


@dataclass
class CarryResult:
    status: FundingArbitrageStatus
    events: list[CycleEvent] = field(default_factory=list)


class FundingArbitrageReconciler:
    """Reconciles FundingArbitrages. Business failures become conditions and events, never exceptions."""

    def __init__(self, services: Services) -> None:
        self.s = services

    async def reconcile(self, fa: FundingArbitrage, now: datetime, *, halted: str | None = None,
                        reset_breaker: bool = False, close_all: bool = False) -> CarryResult:
        started = time.perf_counter()
        status = fa.status or FundingArbitrageStatus()
        cycle = ObjectCycle(KIND, fa.metadata.namespace, fa.metadata.name, fa.metadata.generation, now, self.s)
        try:
            due = self._due(fa, status, now, halted, reset_breaker, close_all)
            if not due:
                return CarryResult(status)  # nothing due: no call, no status write
            async with Guard(cycle, fa.spec.exchange, fa.spec.mode, fa.key) as guard:
                if guard.failure is None:
                    return await self._cycle(fa, status, now, due, guard, halted, reset_breaker, close_all)
            assert guard.failure is not None  # set on entry, or the block's error translated on exit
            return self._failed(cycle, status, *guard.failure)
        except PositionAdjustmentError as exc:  # a red line the engine refuses (leverage, missing stop)
            return self._failed(cycle, status, "RedLine", str(exc))
        finally:
            self.s.metrics.reconcile_seconds.labels(KIND).observe(time.perf_counter() - started)

    def _failed(self, cycle: ObjectCycle, status: FundingArbitrageStatus, reason: str, message: str,
                degraded: bool = False) -> CarryResult:
        conds = cycle.failed(status.conditions, reason, message, degraded)
        return CarryResult(status.model_copy(update={"conditions": conds, "observedGeneration": cycle.generation,
                                                     "lastCheck": cycle.now}),
                           [CycleEvent("Warning", reason, message)])

    @staticmethod
    def _due(fa: FundingArbitrage, status: FundingArbitrageStatus, now: datetime, halted: str | None,
             reset_breaker: bool, close_all: bool) -> set[str]:
        """Which tasks this tick runs: the seed's cadence, plus a step whenever something asks for one now
        (a plan in flight, a halt set or cleared, a new generation, a breaker reset, close-all)."""
        c = status.cadence
        due = set(due_tasks(now, {"scan": c.scan, "risk": c.risk, "settle": c.settle}))
        phases = {leg.phase for leg in status.legs}
        urgent = (phases & TRANSIENT or (halted is not None) != (Phase.HALTED in phases and not close_all)
                  or status.observedGeneration != fa.metadata.generation or reset_breaker or close_all)
        if urgent:
            due.add("step")
        # Margin is watched in real time (seed 004), not on the 5-minute scan: a held position is looked at on every
        # tick, from the account snapshot. Settlements are found on the venue's own clock there too.
        if halted is None and any(leg.spotQty != 0 or leg.perpQty != 0 for leg in status.legs):
            due.add("watch")
        return due

    async def _cycle(self, fa: FundingArbitrage, status: FundingArbitrageStatus, now: datetime, due: set[str],
                     guard: Guard, halted: str | None, reset_breaker: bool, close_all: bool) -> CarryResult:
        spec, venue, cycle = fa.spec, guard.venue, guard.cycle
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
                failed = self._failed(cycle, status, "BootstrapFailed", message)
                return CarryResult(failed.status.model_copy(update={"bootstrap": boot, "selection": selection}),
                                   failed.events)
            events.append(CycleEvent("Normal", "BootstrapPassed",
                                     f"self-check passed; leverage {spec.leverage}x set on "
                                     f"{', '.join(p.perp for p in pairs)}"))
        elif pairs:
            pairs = await self._check_new_pairs(fa, status, snap, now, guard, pairs, events)
        old = {(leg.spot, leg.perp): leg for leg in status.legs}
        breaker = object_breaker(status.legs).roll(now.date().isoformat())
        if reset_breaker:  # once for the object: a loss booked by one pair this cycle is not reset by the next
            breaker = breaker.reset()
        was_tripped, changed = breaker.tripped, due != {"watch"}
        legs: list[CarryLegStatus] = []
        for pair in pairs:
            leg, evs, breaker, acted = await self._pair(fa, pair, old.get((pair.spot, pair.perp)), status, snap,
                                                        markets, now, due, guard, halted, breaker, close_all)
            legs.append(leg)
            events += evs
            changed = changed or acted
        # A flat pair autoSelect no longer picks keeps its memory: picked again, it resumes where it was.
        in_play = {(p.spot, p.perp) for p in pairs}
        legs += [leg for key, leg in old.items() if key not in in_play]
        legs = [_share(leg, breaker) for leg in legs]
        for leg in legs:
            self.s.metrics.observe_carry(fa.metadata.namespace, fa.metadata.name, leg)
        if breaker.tripped and not was_tripped:
            limits = spec.circuitBreaker
            why = (f"{breaker.consecutive_losses} losing closes in a row over all pairs (limit "
                   f"{limits.maxConsecutiveLosses})" if breaker.reason == "ConsecutiveLosses" else
                   f"{breaker.daily_loss_quote:.2f} lost today over all pairs (limit {limits.dailyLossLimitQuote})")
            events.append(CycleEvent("Warning", "BreakerTripped", f"circuit breaker tripped: {why}; open pairs are "
                                     "closed and none opens until it clears"))
            await guard.record({"type": "breaker", "reason": breaker.reason,
                                "consecutiveLosses": breaker.consecutive_losses,
                                "dailyLossQuote": str(breaker.daily_loss_quote)})
        if not changed:  # a watch that found nothing: metrics are current, the status is not rewritten
            return CarryResult(status, events)
        return CarryResult(self._status(fa, status, legs, now, due, boot, halted, breaker)
                           .model_copy(update={"selection": selection}), events)

    async def _auto_select(self, fa: FundingArbitrage, status: FundingArbitrageStatus, due: set[str],
                           venue: CarryVenue, now: datetime, guard: Guard,
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
                SelectedPair(spot=c.spot, perp=c.perp, fundingRate=c.rate or ZERO, volumeQuote=_q(c.volume_quote))
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

    async def _check_new_pairs(self, fa: FundingArbitrage, status: FundingArbitrageStatus, snap: AccountSnapshot,
                               now: datetime, guard: Guard, pairs: list[CarryPair],
                               events: list[CycleEvent]) -> list[CarryPair]:
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

    async def _bootstrap(self, fa: FundingArbitrage, status: FundingArbitrageStatus, snap: AccountSnapshot,
                         now: datetime, guard: Guard, pairs: list[CarryPair]) -> BootstrapStatus:
        """Seed 004's self-check. Credentials: the private snapshot just worked (a refusal is CredentialsRejected
        before this). Leftovers: spot or perp this object did not open. An abnormal exit (a plan cut short, its
        intent newer than the status) is this object's own position: not a leftover, and recovered below from
        the intent before any new decision."""
        problems: list[str] = []
        known = {(leg.spot, leg.perp) for leg in status.legs if leg.phase is not Phase.IDLE}
        seqs = {(leg.spot, leg.perp): decode(leg.machine).seq for leg in status.legs}
        for pair in pairs:
            intent = await self.s.journal.read_intent(f"{guard.stream}:{pair.perp}")
            if intent is not None and int(intent["seq"]) > seqs.get((pair.spot, pair.perp), 0):
                known.add((pair.spot, pair.perp))
                await guard.record({"type": "abnormalExit", "symbol": pair.perp, "seq": intent["seq"]})
        venue = guard.venue
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
                await venue.set_leverage(pair.perp, fa.spec.leverage)
        return BootstrapStatus(passed=not problems, at=now, problems=problems)

    async def _pair(self, fa: FundingArbitrage, pair: CarryPair, old: CarryLegStatus | None,
                    status: FundingArbitrageStatus, snap: AccountSnapshot, markets: Any, now: datetime,
                    due: set[str], guard: Guard, halted: str | None, breaker: Breaker,
                    close_all: bool) -> tuple[CarryLegStatus, list[CycleEvent], Breaker, bool]:
        """One pair's turn with the object's breaker as it stands; returns the leg, its events, the breaker after
        it (a close may have counted) and whether anything changed beyond a quiet watch."""
        spec, venue = fa.spec, guard.venue
        n = slots(spec)
        if old is not None and old.machine:
            mem = PairMemory(decode(old.machine), old.spotWalletQuote, old.collateralQuote)
        else:
            cap = spec.capital
            mem = PairMemory(CarryState(), cap.amountQuote * cap.spotRatio / n, cap.amountQuote * cap.perpRatio / n)
        next_at, booked = funding_marks(old.machine if old else None)
        intent_key = f"{guard.stream}:{pair.perp}"  # one write-ahead intent per pair: pairs trade independently
        ctx = guard.context(intent_key, markets)
        events: list[CycleEvent] = []
        changed = False
        intent = await self.s.journal.read_intent(intent_key)
        if intent is not None and int(intent["seq"]) > mem.state.seq:
            mem = await self._recover(ctx, intent)
            self.s.metrics.recoveries.labels(KIND).inc()
            events.append(CycleEvent("Warning", "PlanRecovered",
                                     f"{pair.perp}: plan {intent['seq']} was cut short by a restart; its orders were "
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
                                            pair_notional(spec, n), halt=halted, close=close_all))
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
        led = mem.state.ledger
        spot_mark = snap.quotes[pair.spot].bid
        basis = (led.perp.entry - led.spot.entry) / led.spot.entry if led.spot.entry and led.perp.entry else None
        ratio = margin_ratio(mem.collateral + led.perp.unrealized(mark), perp_qty, mark, spec.leverage)
        leg = CarryLegStatus(
            spot=pair.spot, perp=pair.perp, spotQty=spot_qty, perpQty=perp_qty,
            entryBasisRatio=None if basis is None else _q(basis), phase=mem.state.phase, reason=reason,
            message=message, fundingEarnedQuote=_q(led.funding_quote), feesQuote=_q(led.fees_quote),
            pnlQuote=_q(led.total_pnl(spot_mark, mark)), marginRatio=None if ratio is None else _q(ratio),
            spotWalletQuote=_q(mem.spot_wallet), collateralQuote=_q(mem.collateral),
            machine=with_funding(encode(mem.state), next_at, booked))
        return leg, events, mem.state.breaker, changed

    async def _execute(self, ctx: ExecutionContext, mem: PairMemory, new: CarryState, actions: tuple[Any, ...],
                       mine: list[OrderState]) -> dict[str, Decimal]:
        """Cancel, move wallets, then send the legs (the intent first): fills are booked as they come."""
        orders = [a for a in actions if isinstance(a, LegOrder)]
        mem.state = new
        for a in actions:
            if isinstance(a, Transfer):
                sign = 1 if a.to == "derivatives" else -1
                mem.spot_wallet -= sign * a.amount
                mem.collateral += sign * a.amount
                await ctx.record({"type": "transfer", "to": a.to, "amount": str(a.amount)})
            elif isinstance(a, CancelAll):
                for o in mine:
                    state = await ctx.venue.cancel(o.client_order_id, o.symbol)
                    await ctx.record({"type": "cancel", "clientOrderId": o.client_order_id, "filled": str(state.filled),
                                      "reason": "CancelAll"})
        if orders:
            await ctx.write_intent({"seq": new.seq, "machine": encode(new), "spotWallet": str(mem.spot_wallet),
                                    "collateral": str(mem.collateral),
                                    "orders": [{"clientOrderId": o.client_order_id, "symbol": o.symbol, "leg": o.leg}
                                               for o in orders]})
        moved: dict[str, Decimal] = {}
        for leg in orders:
            req = OrderRequest(leg.client_order_id, leg.symbol, leg.side, leg.qty, "market",
                               reduce_only=leg.reduce_only)
            done = await submit(ctx, req, "taker")
            if done is not None:
                mem.apply(leg.leg, done)
                moved[leg.leg] = moved.get(leg.leg, ZERO) + (done.filled if leg.side == "buy" else -done.filled)
        return moved

    async def _recover(self, ctx: ExecutionContext, intent: dict[str, Any]) -> PairMemory:
        """The plan a killed process was sending: its state as decided, its orders found by client id and booked.
        What the venue never saw is not sent now: the machine's next step completes or unwinds the legs."""
        mem = PairMemory(decode(intent["machine"]), Decimal(intent["spotWallet"]), Decimal(intent["collateral"]))
        found = []
        for o in intent["orders"]:
            state = await ctx.venue.order(str(o["clientOrderId"]), str(o["symbol"]))
            if state is not None:
                mem.apply(str(o["leg"]), state)
                found.append(state.client_order_id)
        await ctx.record({"type": "recovered", "seq": intent["seq"], "found": found})
        return mem

    def _status(self, fa: FundingArbitrage, status: FundingArbitrageStatus, legs: list[CarryLegStatus],
                now: datetime, due: set[str], boot: BootstrapStatus, halted: str | None,
                breaker: Breaker) -> FundingArbitrageStatus:
        gen = fa.metadata.generation
        order = [Phase.HALTED, Phase.CLOSING, Phase.OPENING, Phase.REBALANCING, Phase.OPEN, Phase.CLOSED, Phase.IDLE]
        phase = next((p for p in order if any(leg.phase is p for leg in legs)), Phase.IDLE)
        ratios = [leg.marginRatio for leg in legs if leg.marginRatio is not None]
        settlements = [t for t in (funding_marks(leg.machine)[0] for leg in legs) if t is not None]
        cadence = status.cadence.model_copy(update={t: now for t in ("scan", "risk", "settle") if t in due})
        conds = set_condition(status.conditions, "Ready", True, "Reconciled",
                              f"{len(legs)} pair(s) on {fa.spec.exchange.name}/{fa.spec.exchange.account}", now, gen)
        conds = set_condition(conds, "Degraded", False, "Healthy", "", now, gen)
        conds = set_condition(conds, "Halted", halted is not None, "HaltAnnotation" if halted else "Running",
                              halted or "", now, gen)
        conds = set_condition(conds, "BreakerTripped", breaker.tripped, breaker.reason or "Tripped" if breaker.tripped
                              else "Armed", f"over all {len(legs)} pair(s): {breaker.consecutive_losses} losing "
                              f"close(s) in a row, {breaker.daily_loss_quote:.2f} lost on {breaker.day}"
                              if breaker.tripped else "", now, gen)
        self.s.metrics.healthy(KIND, fa.metadata.namespace, fa.metadata.name)
        return status.model_copy(update={
            "observedGeneration": gen, "conditions": conds, "phase": phase, "legs": legs,
            "fundingEarnedQuote": _q(sum((leg.fundingEarnedQuote for leg in legs), ZERO)),
            "feesQuote": _q(sum((leg.feesQuote for leg in legs), ZERO)),
            # total = funding − fees + basis, so the basis is what the total has beyond funding and fees
            "basisPnlQuote": _q(sum((leg.pnlQuote - leg.fundingEarnedQuote + leg.feesQuote for leg in legs), ZERO)),
            "pnlQuote": _q(sum((leg.pnlQuote for leg in legs), ZERO)),
            "marginRatio": min(ratios) if ratios else None,
            # the venue's own next settlement where it told us (its clock may not be ours)
            "nextFundingTime": min(settlements) if settlements else next_funding_time(now),
            "breaker": BreakerStatus(tripped=breaker.tripped, consecutiveLosses=breaker.consecutive_losses,
                                     dailyLossQuote=_q(breaker.daily_loss_quote)),
            "cadence": cadence, "bootstrap": boot, "lastCheck": now,
        })


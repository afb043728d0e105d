"""FundingArbitrage on the one reconcile skeleton (runtime/reconcile.py): seed 004's scheduler (scan every 5 min,
risk and PnL every hour, funding booked every 8 h), the bootstrap self-check, then the engine's state machine per
pair, its actions executed fenced and journalled.

The skeleton runs an object every tick (`interval`); what a tick does is the carry's own cadence, kept in its
status (`due_tasks`). Between scans, every tick that an object holds a position is a watch: the account snapshot
the venue shares across objects (no other call) is checked for margin, stops and legs (engine `watch`), and a
pair that needs it is stepped at once; a settlement the venue's clock has passed is booked then too. The circuit
breaker is the object's, one over all its pairs (engine `Breaker`): each pair's machine carries the same copy.

The tick is split by what it does: the autoSelect scan (carry_select.py), the self-checks (carry_bootstrap.py),
one pair's turn and its execution (carry_pair.py); what they all read of one tick is a `CarryTick` (carry_tick.py).
Seed 004's second layer (spec.enhancement) takes its turn before the pairs, on the same snapshot and breaker: the
trend-filtered grid (carry_grid.py) and the contrarian trade (carry_contrarian.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hedgeops.api.enhancement import ContrarianStatus, GridStatus
from hedgeops.api.funding import BootstrapStatus, CarryLegStatus, FundingArbitrage, FundingArbitrageStatus, Phase
from hedgeops.engine.carry.codec import breaker_doc
from hedgeops.engine.carry.intent import CarryIntent
from hedgeops.engine.carry.ledger import Breaker
from hedgeops.engine.carry.pairs import breaker_condition, object_breaker, share_breaker, totals, trip_message
from hedgeops.engine.carry.rules import due_tasks
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.controls import Controls
from hedgeops.model.journal import BreakerEntry, RefusedEntry
from hedgeops.runtime.cycle import CycleEvent, Guard, Services
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.kinds.carry_bootstrap import bootstrap, check_new_pairs, on_account
from hedgeops.runtime.kinds.carry_contrarian import contrarian_due, contrarian_turn, with_contrarian
from hedgeops.runtime.kinds.carry_grid import (
    PART_ERRORS,
    LayerIntent,
    grid_breaker,
    grid_due,
    grid_failed_cancels,
    grid_spec,
    grid_turn,
    layer_conditions,
    part_failed,
    with_grid,
)
from hedgeops.runtime.kinds.carry_pair import pair_turn
from hedgeops.runtime.kinds.carry_select import auto_select
from hedgeops.runtime.kinds.carry_tick import KIND, CarryTick
from hedgeops.runtime.probes import carry_probe
from hedgeops.runtime.reconcile import KindBase, Outcome, Reconciler, Schedule, standard_conditions
from hedgeops.runtime.teardown import Resting, latest_intent_orders
from hedgeops.runtime.triggers import Probe

TRANSIENT = {Phase.OPENING, Phase.CLOSING, Phase.REBALANCING}  # a plan in flight: step on every tick
TICK_SECONDS = 5.0  # the skeleton's interval: a watch every tick; scan, risk and settle on the status's cadence

Status = FundingArbitrageStatus


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
        if grid_due(fa.spec, status.grid, now):  # the second layer: its orders, or a candle closed since its last
            due.add("grid")
        if contrarian_due(fa.spec, status.contrarian, now):
            due.add("contrarian")
        return due or None

    async def probe(self, fa: FundingArbitrage, status: Status, controls: Controls, inputs: None,
                    guard: Guard) -> Probe | None:
        """Margin at the live mark, from the marks the stream holds now (the cycle's, within milliseconds)."""
        live = getattr(guard.account_venue, "live_snapshot", None)
        return carry_probe(fa, status, controls, live() if callable(live) else None)

    async def resting(self, fa: FundingArbitrage, status: Status, guard: Guard) -> Resting:
        """The grid's limit orders (status and newest grid intent). The pairs and the contrarian trade send only
        market orders: nothing of theirs rests."""
        grid, g = status.grid, grid_spec(fa.spec)
        symbol = (grid.symbol if grid is not None and grid.symbol else None) or (g.symbol if g is not None else None)
        if symbol is None:
            return {}
        out = {o.clientOrderId: symbol for o in (grid.orders if grid is not None else []) if o.price != 0}
        intent = await latest_intent_orders(self.s, f"{guard.intents}:grid", LayerIntent,
                                            grid.seq if grid is not None else 0)
        if intent is not None:
            out.update({o.clientOrderId: symbol for o in intent.orders if o.price != 0})
        return out

    async def step(self, fa: FundingArbitrage, status: Status, controls: Controls, now: datetime, inputs: None,
                   guard: Guard, wanted: Any) -> Outcome[Status]:
        due: set[str] = wanted
        spec, venue = fa.spec, guard.venue
        # A self-check passed on another account (Paper, before the switch to Live) is none here: afresh.
        status, events = on_account(fa, status)
        t = CarryTick(fa, status, controls, now, due, guard, self.s, self.intents)
        selection = status.selection
        if spec.autoSelect is not None:
            selection, pairs = await auto_select(t, events)
        else:
            pairs = list(spec.pairs)
        grid = grid_spec(spec)
        contrarian = spec.enhancement.contrarian if spec.enhancement is not None else None
        layers = {x.symbol for x in (grid, contrarian) if x is not None}
        symbols = sorted({s for p in pairs for s in (p.spot, p.perp)} | layers)
        markets = await venue.markets(symbols)
        snap = await venue.snapshot(symbols)
        boot = status.bootstrap
        if not boot.passed and pairs:
            boot = await bootstrap(t, snap, pairs)
            if not boot.passed:
                message = "; ".join(boot.problems)
                await guard.record(RefusedEntry(reason="BootstrapFailed", message=message))
                failed = Reconciler.failed(guard.cycle, status, ("BootstrapFailed", message, False))
                return Outcome(failed.status.model_copy(update={"bootstrap": boot, "selection": selection}),
                               [*(e for e in events if e.reason == "AccountChanged"), *failed.events])
            events.append(CycleEvent("Normal", "BootstrapPassed",
                                     f"self-check passed; leverage {spec.leverage}x set on "
                                     f"{', '.join(p.perp for p in pairs)}"))
        elif pairs:
            pairs = await check_new_pairs(t, snap, pairs, events)
        old = {(leg.spot, leg.perp): leg for leg in status.legs}
        kept = grid_breaker(status.grid)  # an object with no pair yet keeps its breaker with the grid
        breaker = (object_breaker(status.legs) if status.legs or kept is None else kept).roll(now.date().isoformat())
        if controls.reset_breaker:  # once for the object: a loss booked by one pair this cycle is not reset by the next
            breaker = breaker.reset()
        was_tripped, changed = breaker.tripped, bool(due - {"watch", "grid", "contrarian"})
        grid_status = status.grid
        if grid is not None and due & {"grid", "step"}:
            # Before the pairs: a generation the grid closes at a loss counts in the breaker the pairs then obey.
            try:
                grid_status, evs, breaker, acted = await grid_turn(t, snap, markets, breaker)
            except PART_ERRORS as exc:  # the grid alone is degraded: the pairs below are still stepped
                grid_status, evs = part_failed("Grid", status.grid or GridStatus(symbol=grid.symbol), exc)
                cancelled = await grid_failed_cancels(t, snap, markets, status.grid)
                acted = cancelled > 0 or grid_status != status.grid
            events += evs
            changed = changed or acted
        contrarian_status = status.contrarian
        if contrarian is not None and due & {"contrarian", "step", "scan"}:  # scan: a leftover found in 5 minutes
            try:
                contrarian_status, evs, breaker, acted = await contrarian_turn(t, snap, markets, breaker)
            except PART_ERRORS as exc:  # the contrarian trade alone is degraded
                contrarian_status, evs = part_failed(
                    "Contrarian", status.contrarian or ContrarianStatus(symbol=contrarian.symbol), exc)
                acted = contrarian_status != status.contrarian
            events += evs
            changed = changed or acted
        legs: list[CarryLegStatus] = []
        for pair in pairs:
            leg, evs, breaker, acted = await pair_turn(t, pair, old.get((pair.spot, pair.perp)), snap, markets,
                                                       breaker)
            legs.append(leg)
            events += evs
            changed = changed or acted
        # A flat pair autoSelect no longer picks keeps its memory: picked again, it resumes where it was.
        in_play = {(p.spot, p.perp) for p in pairs}
        legs += [leg for key, leg in old.items() if key not in in_play]
        legs = [share_breaker(leg, breaker) for leg in legs]
        if grid_status is not None and grid_status.breaker != breaker_doc(breaker):
            grid_status = grid_status.model_copy(update={"breaker": breaker_doc(breaker)})
        for leg in legs:
            self.s.metrics.observe_carry(fa.metadata.namespace, fa.metadata.name, leg)
        if breaker.tripped and not was_tripped:
            events.append(CycleEvent("Warning", "BreakerTripped", trip_message(breaker, spec)))
            await guard.record(BreakerEntry(reason=breaker.reason, consecutiveLosses=breaker.consecutive_losses,
                                            dailyLossQuote=breaker.daily_loss_quote))
        if not changed:  # a watch that found nothing: metrics are current, the status is not rewritten
            return Outcome(status, events, changed=False)
        new = self._status(fa, status, legs, now, due, boot, controls, breaker).model_copy(
            update={"selection": selection})
        if spec.enhancement is not None:
            new = new.model_copy(update={"conditions": layer_conditions(
                new.conditions, (grid_status, contrarian_status), now, fa.metadata.generation)})
        return Outcome(with_contrarian(with_grid(new, grid_status), contrarian_status), events)

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

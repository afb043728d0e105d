"""The one reconcile skeleton every kind runs through, in the operator, local mode, the benches and the tests:

    due? → guard (venue + account lock) → the kind's own step (observe → pure step → execute → report)
         → failures to conditions → a typed outcome

A kind supplies only what is its own (`KindCycle`): which exchange account it trades, whether it wants a cycle
beyond its schedule, a check before any call, its step, and its own exceptions' reasons. Everything else (when
it is due, the lock, the venue, failure → conditions, the standard conditions, the cycle's metrics) is here,
once."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from hedgeops.api.common import Condition, ExchangeRef, Mode
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.common.errors import PositionAdjustmentError
from hedgeops.runtime.cycle import CycleEvent, Failure, Guard, ObjectCycle, Services
from hedgeops.runtime.intents import UnreadableIntent
from hedgeops.runtime.teardown import Resting, TeardownResult, cancel_resting
from hedgeops.runtime.triggers import Probe, streams
from hedgeops.runtime.wakeups import Wake

ObjT = TypeVar("ObjT")
ObjC = TypeVar("ObjC", contravariant=True)
StatusT = TypeVar("StatusT", bound=BaseModel)
InputsT = TypeVar("InputsT")
InputsC = TypeVar("InputsC", contravariant=True)

DEFAULT_RETRY_SECONDS = 5.0  # a Degraded object (lock busy or unreachable, exchange down) is retried this soon


@dataclass
class Outcome(Generic[StatusT]):
    """What a cycle produced: the new status (`changed` False: nothing to write) and the events to post."""

    status: StatusT
    events: list[CycleEvent] = field(default_factory=list)
    changed: bool = True
    degraded: bool = False
    acted: bool = True  # the kind's step ran (False: the cycle failed before it; one-shot controls still wait)


@dataclass(frozen=True)
class Target:
    """Who an object is and which account it trades: enough for the guard, conditions and metrics."""

    kind: str
    namespace: str
    name: str
    generation: int | None
    exchange: ExchangeRef
    mode: Mode
    uid: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class KindCycle(Protocol[ObjC, StatusT, InputsC]):
    """What one kind adds to the skeleton. `InputsT` is what else a cycle needs (a HedgeBook's policy)."""

    kind: str
    failures: Mapping[type[Exception], tuple[str, bool]]  # its own exceptions → (reason, degraded)

    def target(self, obj: ObjC) -> Target: ...

    def status_of(self, obj: ObjC) -> StatusT: ...

    def interval(self, obj: ObjC, inputs: InputsC) -> float:
        """Seconds between scheduled cycles."""
        ...

    def fingerprint(self, obj: ObjC, inputs: InputsC) -> Hashable:
        """What the last decision was made on beyond generation and controls (a policy, a signal): a change is
        acted on at the next tick, not at the next interval."""
        ...

    def wanted(self, obj: ObjC, status: StatusT, controls: Controls, now: datetime, scheduled: bool) -> Any:
        """What this cycle is for (kind-specific; e.g. the carry's due tasks), or None: no cycle, no call.
        `scheduled` is whether the schedule (or a change of inputs) makes it due now."""
        ...

    def precheck(self, obj: ObjC, inputs: InputsC) -> Failure | None:
        """A reason not to start at all, before any exchange call (a missing policy)."""
        ...

    def rename(self, failure: Failure) -> Failure:
        """The kind's name for a shared failure (HedgeBook: ActionFailed → RebalanceFailed)."""
        ...

    async def step(self, obj: ObjC, status: StatusT, controls: Controls, now: datetime, inputs: InputsC,
                   guard: Guard, wanted: Any) -> Outcome[StatusT]: ...

    async def probe(self, obj: ObjC, status: StatusT, controls: Controls, inputs: InputsC,
                    guard: Guard) -> Probe | None:
        """What wakes the object before its schedule on a streaming venue (runtime/probes.py), built after a
        cycle from its new status; None: its schedule alone."""
        ...

    async def resting(self, obj: ObjC, status: StatusT, guard: Guard) -> Resting:
        """The orders the object may have resting (client id → symbol), cancelled when it is deleted
        (runtime/teardown.py): its status's unfinished ones and its newest intent's."""
        ...


class KindBase(Generic[ObjT, StatusT, InputsT]):
    """What most kinds answer alike: who the object is (its metadata, `spec.exchange`, `spec.mode`), its status
    or a fresh one, nothing else to decide on, nothing to check first, the shared failure names as they are. A
    kind subclasses this and writes only `interval`, `wanted` and `step` (and what it does differently)."""

    kind: str
    status_type: type[StatusT]
    failures: Mapping[type[Exception], tuple[str, bool]] = {}

    def target(self, obj: Any) -> Target:
        m = obj.metadata
        return Target(self.kind, m.namespace, m.name, m.generation, obj.spec.exchange, obj.spec.mode, m.uid)

    def status_of(self, obj: Any) -> StatusT:
        status: StatusT | None = obj.status
        return status if status is not None else self.status_type()

    def fingerprint(self, obj: ObjT, inputs: InputsT) -> Hashable:
        return None  # it decides on its spec (the generation), its controls and its status: all in the skeleton's

    def precheck(self, obj: ObjT, inputs: InputsT) -> Failure | None:
        return None

    def rename(self, failure: Failure) -> Failure:
        return failure

    async def probe(self, obj: ObjT, status: StatusT, controls: Controls, inputs: InputsT,
                    guard: Guard) -> Probe | None:
        return None

    async def resting(self, obj: ObjT, status: StatusT, guard: Guard) -> Resting:
        return {}


def next_slot(now: datetime, interval: float) -> datetime:
    """The next multiple of `interval` seconds since the epoch: every object on one interval is due at the same
    instants, so the objects of one account share one observation of it per slot. Costs at most one shorter
    first interval."""
    slot = (math.floor(now.timestamp() / interval) + 1) * interval
    return datetime.fromtimestamp(slot, tz=now.tzinfo)


@dataclass
class Schedule:
    """When each object is due: on aligned slots of its interval (so the objects of one account observe it once
    per slot, by construction: the slot is the observation's key, see `Guard`), at once when what it decides on
    changes, and soon after a Degraded cycle. Kept in memory: a restarted process runs each object at once."""

    retry_seconds: float = DEFAULT_RETRY_SECONDS
    _next: dict[str, datetime] = field(default_factory=dict)
    _inputs: dict[str, Hashable] = field(default_factory=dict)

    def due(self, key: str, now: datetime, inputs: Hashable,
            woken: bool = False) -> tuple[datetime, float | None] | None:
        """(the slot this cycle observes under, its lag behind the slot in seconds or None when unscheduled),
        or None when not due. `woken`: a stream trigger asks for a cycle now (runtime/wakeups.py)."""
        nxt = self._next.get(key)
        changed = self._inputs.get(key) != inputs
        self._inputs[key] = inputs
        if nxt is None or changed or woken:
            return now, None
        if now < nxt:
            return None
        return nxt, (now - nxt).total_seconds()

    def done(self, key: str, now: datetime, interval: float, degraded: bool) -> None:
        if degraded:
            interval = min(interval, self.retry_seconds)
        self._next[key] = next_slot(now, interval)

    def forget(self, key: str) -> None:
        self._next.pop(key, None)
        self._inputs.pop(key, None)


def standard_conditions(conditions: list[Condition], now: datetime, generation: int | None, *, ready: bool,
                        reason: str, message: str, controls: Controls) -> list[Condition]:
    """Ready, Degraded (False: the cycle ran) and Halted, as every kind writes them after a cycle that ran."""
    conds = set_condition(conditions, "Ready", ready, reason, message, now, generation)
    conds = set_condition(conds, "Degraded", False, "Healthy", "", now, generation)
    return set_condition(conds, "Halted", controls.halted, "HaltAnnotation" if controls.halted else "Running",
                         controls.halt or "", now, generation)


class Reconciler(Generic[ObjT, StatusT, InputsT]):
    """One kind's reconciler. Business failures become conditions and events, never exceptions. With a
    `schedule` (operator, local mode) it decides itself whether an object is due; without one every call is a
    cycle (tests and tools asking for one now)."""

    def __init__(self, kind: KindCycle[ObjT, StatusT, InputsT], services: Services,
                 schedule: Schedule | None = None) -> None:
        self.kind, self.s, self.schedule = kind, services, schedule
        # Objects being deleted (by uid): no cycle starts for them, and one waiting for the account's lock when the
        # deletion began stops there (teardown). The cycles under way, by uid, for teardown to wait out.
        self.going: set[str] = set()
        self._running: dict[str, asyncio.Event] = {}

    async def reconcile(self, obj: ObjT, now: datetime, controls: Controls | None = None,
                        inputs: InputsT | None = None, woken: str | None = None) -> Outcome[StatusT]:
        """One tick of `obj`. `woken`: why a stream trigger asked for it before its schedule (None: the schedule's
        own tick)."""
        controls = controls or Controls()
        kind, target = self.kind, self.kind.target(obj)
        status = kind.status_of(obj)
        if self._ident(target) in self.going:  # its finalizer has begun: nothing more is sent for it
            return Outcome(status, changed=False, acted=False)
        slot: datetime | None = None
        lag: float | None = None
        key = f"{kind.kind}/{target.key}"
        self.s.metrics.track(kind.kind, target.namespace, target.name, target.mode.value)
        if self.schedule is not None:
            fingerprint = (target.generation, controls.fingerprint(), kind.fingerprint(obj, inputs))  # type: ignore[arg-type]
            due = self.schedule.due(key, now, fingerprint, woken is not None)
            scheduled = due is not None
            if due is not None:
                slot, lag = due
        else:
            scheduled = True
        wanted = kind.wanted(obj, status, controls, now, scheduled)
        if wanted is None:
            if self.schedule is not None and scheduled:  # due, and the kind had nothing to do: due again next slot
                self.schedule.done(key, now, kind.interval(obj, inputs), degraded=False)  # type: ignore[arg-type]
            return Outcome(status, changed=False)
        if lag is not None:  # how late a cycle that runs started; a slot the kind declined is not a late cycle
            self.s.metrics.cycle_lag.labels(kind.kind).observe(lag)
        if woken is not None:
            self.s.metrics.stream_cycles.labels(kind.kind, woken).inc()
        started = time.perf_counter()
        ident, running = self._ident(target), asyncio.Event()
        self._running[ident] = running
        try:
            outcome = await self._cycle(obj, target, status, controls, now, inputs, wanted, slot)
        finally:
            running.set()
            if self._running.get(ident) is running:
                del self._running[ident]
        self.s.metrics.reconcile_seconds.labels(kind.kind).observe(time.perf_counter() - started)
        if self.schedule is not None:
            self.schedule.done(key, now, kind.interval(obj, inputs), outcome.degraded)  # type: ignore[arg-type]
        if woken is not None and outcome.degraded and self.s.triggers is not None:
            # What woke it still stands (the cycle could not act: the lock busy, the stream mid-gap): again at the
            # next tick, not only at the next update or the schedule's retry.
            self.s.triggers.wakeups.wake(key, Wake(False, woken))
        return outcome

    async def teardown(self, obj: ObjT, now: datetime) -> TeardownResult:
        """The object is being deleted: cancel what it may have resting (runtime/teardown.py), whatever its
        schedule, controls or inputs (a halt, a missing policy or unreachable holdings must not keep its quotes on
        the book). Its schedule and triggers are forgotten once nothing is left to retry."""
        target = self.kind.target(obj)
        ident = self._ident(target)
        self.going.add(ident)  # kept: a uid is never reused, and a late tick must not trade for it
        running = self._running.get(ident)
        if running is not None:  # a cycle under way finishes first: its orders are then in its intent
            await running.wait()
        cycle = ObjectCycle(self.kind.kind, target.namespace, target.name, target.generation, now, self.s, None,
                            target.uid)
        result = await cancel_resting(cycle, target, obj, self.kind.status_of(obj), self.kind)
        if not result.retry:
            self.forget(obj)
        return result

    def _ident(self, target: Target) -> str:
        return target.uid or f"{self.kind.kind}/{target.key}"

    def forget(self, obj: ObjT) -> None:
        """Drop an object's schedule: its next tick is a cycle (an object that may trade again, or is gone)."""
        key = f"{self.kind.kind}/{self.kind.target(obj).key}"
        if self.schedule is not None:
            self.schedule.forget(key)
        if self.s.triggers is not None:
            self.s.triggers.forget(key)

    async def _cycle(self, obj: ObjT, target: Target, status: StatusT, controls: Controls, now: datetime,
                     inputs: InputsT | None, wanted: Any, slot: datetime | None) -> Outcome[StatusT]:
        kind = self.kind
        cycle = ObjectCycle(kind.kind, target.namespace, target.name, target.generation, now, self.s, slot, target.uid)
        try:
            problem = kind.precheck(obj, inputs)  # type: ignore[arg-type]
            if problem is not None:
                return self.failed(cycle, status, problem)
            async with Guard(cycle, target.exchange, target.mode, target.key) as guard:
                if guard.failure is None and self._ident(target) in self.going:
                    return Outcome(status, changed=False, acted=False)  # deleted while it waited for the lock
                if guard.failure is None:
                    try:
                        outcome = await kind.step(obj, status, controls, now, inputs, guard, wanted)  # type: ignore[arg-type]
                        await self._leave_probe(obj, outcome, controls, inputs, guard)
                        return outcome
                    except tuple(kind.failures) as exc:
                        reason, degraded = next(v for t, v in kind.failures.items() if isinstance(exc, t))
                        return self.failed(cycle, status, (reason, str(exc), degraded))
            assert guard.failure is not None  # set on entry, or the block's error translated on exit
            return self.failed(cycle, status, kind.rename(guard.failure))
        except PositionAdjustmentError as exc:  # a red line the engine refuses (leverage, a missing stop)
            return self.failed(cycle, status, ("RedLine", str(exc), False))
        except UnreadableIntent as exc:  # what a killed process was sending is unknown: stop rather than guess
            return self.failed(cycle, status, ("UnreadableIntent", str(exc), False))

    async def _leave_probe(self, obj: ObjT, outcome: Outcome[StatusT], controls: Controls, inputs: InputsT | None,
                           guard: Guard) -> None:
        """On a streaming account, the object's trigger for the time until its next cycle (its new status)."""
        triggers = self.s.triggers
        if triggers is None or not streams(guard.account_venue):
            return
        key = f"{self.kind.kind}/{self.kind.target(obj).key}"
        probe = await self.kind.probe(obj, outcome.status, controls, inputs, guard)  # type: ignore[arg-type]
        triggers.watch(key, guard.account_venue, probe)

    @staticmethod
    def failed(cycle: ObjectCycle, status: StatusT, failure: Failure) -> Outcome[StatusT]:
        """The status of a cycle that could not do its job: Ready False (and Degraded when transient)."""
        reason, message, degraded = failure
        conditions: list[Condition] = getattr(status, "conditions")  # noqa: B009  (every kind's status has them)
        conds = cycle.failed(conditions, reason, message, degraded)
        new = status.model_copy(update={"conditions": conds, "observedGeneration": cycle.generation,
                                        "lastCheck": cycle.now})
        return Outcome(new, [CycleEvent("Warning", reason, message)], degraded=degraded, acted=False)

"""Event-driven reconciles: which objects a stream says are due before their schedule, under a rate cap.

An object's loop (the operator's timer handler, a bench's loop) waits here between cycles: at most one tick, less
when a stream trigger wakes it. An *urgent* wake (an emergency band crossed, a quote filled) ends the wait at once;
a *normal* one (a normal band crossed) is taken at the end of the current wait, that is at the next tick, not at
the object's next scheduled slot. Every event-driven cycle of an object is at least `min_spacing_s` after its
previous one: a storm of updates is one cycle per spacing, never a storm of cycles (and so of orders)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

DEFAULT_MIN_SPACING_S = 1.0


@dataclass
class _Slot:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str | None = None  # why the object was woken (the first reason since its last cycle)
    urgent: bool = False
    last_run: float | None = None  # monotonic time of its last event-driven cycle
    seen: bool = False  # it has had its first (start-up) cycle


@dataclass(frozen=True)
class Wake:
    """A trigger's verdict on one object: urgent (now) or not (the next tick), and why, in a few words."""

    urgent: bool
    reason: str


class Wakeups:
    """Per object (its `Kind/namespace/name` key): a pending wake, its reason and the rate cap."""

    def __init__(self, min_spacing_s: float = DEFAULT_MIN_SPACING_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.min_spacing_s = min_spacing_s
        self._time = monotonic
        self._slots: dict[str, _Slot] = {}
        self.woken = 0  # wakes accepted
        self.merged = 0  # wakes folded into one already pending (the storm the cap absorbs)

    def _slot(self, key: str) -> _Slot:
        return self._slots.setdefault(key, _Slot())

    def wake(self, key: str, wake: Wake) -> None:
        """Ask for a cycle of `key`: urgent ones end its wait (once the spacing allows), others its next tick."""
        slot = self._slot(key)
        if slot.reason is not None:
            self.merged += 1
            if wake.urgent and not slot.urgent:  # an emergency outranks a pending normal wake
                slot.reason, slot.urgent = wake.reason, True
                slot.event.set()
            return
        self.woken += 1
        slot.reason, slot.urgent = wake.reason, wake.urgent
        if wake.urgent:
            slot.event.set()

    def clear(self, key: str) -> None:
        """Drop a pending wake: it was judged on what the object's cycle has since acted on (its probe is new)."""
        slot = self._slots.get(key)
        if slot is not None:
            slot.reason, slot.urgent = None, False
            slot.event.clear()

    def pending(self, key: str) -> str | None:
        slot = self._slots.get(key)
        return slot.reason if slot is not None else None

    async def wait(self, key: str, timeout: float,
                   stopped: Callable[[], Awaitable[object]] | None = None) -> str | None:
        """Wait for the object's next cycle: `timeout` (its tick), less when woken urgently; an event-driven cycle
        never sooner than `min_spacing_s` after the object's last one (even if that is later than the tick). The
        first call returns at once (the start-up cycle). Returns the wake's reason (the cycle is event-driven) or
        None (an ordinary tick). `stopped`: an awaitable factory that ends the wait early (the object is going, the
        operator stopping)."""
        slot = self._slot(key)
        if not slot.seen:
            slot.seen = True
            return self._take(slot)
        if not slot.urgent:
            await _first(slot.event.wait(), timeout, stopped)
        if slot.reason is not None and slot.last_run is not None:  # the cap: one event-driven cycle per spacing,
            early = slot.last_run + self.min_spacing_s - self._time()  # whatever the tick (a tick shorter than the
            if early > 0:  # spacing must not let a storm through)
                await _first(None, early, stopped)
        return self._take(slot)

    def _take(self, slot: _Slot) -> str | None:
        reason = slot.reason
        slot.reason, slot.urgent = None, False
        slot.event.clear()
        if reason is not None:
            slot.last_run = self._time()
        return reason

    def forget(self, key: str) -> None:
        self._slots.pop(key, None)


async def _first(waiting: Awaitable[object] | None, timeout: float,
                 stopped: Callable[[], Awaitable[object]] | None) -> None:
    """Return when `waiting` completes, `stopped()` does, or `timeout` passes, whichever is first."""
    tasks: list[asyncio.Future[object]] = []
    if waiting is not None:
        tasks.append(asyncio.ensure_future(waiting))
    if stopped is not None:
        tasks.append(asyncio.ensure_future(stopped()))
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(max(timeout, 0.0))
    finally:
        for t in tasks:
            t.cancel()
            with contextlib.suppress(BaseException):
                await t

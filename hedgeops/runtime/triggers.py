"""Stream triggers: after each cycle an object leaves a *probe* on its account's streaming venue (a pure function of
the live account snapshot: is this object due now, at the next tick, or not at all?). Each update the stream applies
schedules one evaluation of every probe on that account (updates arriving meanwhile fold into it), and a probe that
answers wakes its object (runtime/wakeups.py). Probes read only what the stream already holds: no I/O, no lock.
Venues without a stream (REST polling, paper) take no probes: their objects run on their schedule, as before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hedgeops.model.orders import AccountSnapshot
from hedgeops.runtime.wakeups import Wake, Wakeups

log = logging.getLogger(__name__)

Probe = Callable[[AccountSnapshot], Wake | None]


@dataclass(frozen=True)
class Scoped:
    """A probe and what of the account its judgement reads that a fill may leave unsettled ("position SYMBOL", or
    "balance": the venue's settling keys): it is judged while other fills settle, not while one of its own does. A
    plain probe reads everything."""

    fn: Probe
    reads: frozenset[str]

    def __call__(self, snap: AccountSnapshot) -> Wake | None:
        return self.fn(snap)


class Streaming(Protocol):
    """What a streaming venue offers the triggers (exchange/stream/venue.py)."""

    def add_listener(self, fn: Callable[[Any], None]) -> None: ...

    def live_snapshot(self) -> AccountSnapshot | None: ...


def streams(venue: object) -> bool:
    """Whether a venue pushes its account's updates (and so can wake objects)."""
    return callable(getattr(venue, "add_listener", None)) and callable(getattr(venue, "live_snapshot", None))


def _settling(venue: object) -> frozenset[str]:
    """What the venue's known fills have changed that its stream has not shown yet (StreamingVenue.settling_keys)."""
    keys = getattr(venue, "settling_keys", None)
    return keys() if callable(keys) else frozenset()


def _unsettled(probe: Probe, settling: frozenset[str]) -> bool:
    """The probe reads something a fill has left unsettled (a plain probe reads everything)."""
    if not settling:
        return False
    reads = probe.reads if isinstance(probe, Scoped) else None
    return reads is None or bool(reads & settling)


@dataclass
class _Account:
    venue: Streaming
    probes: dict[str, Probe]
    scheduled: bool = False
    trusted: bool = True  # as of the last evaluation (a probe is first left after a cycle on a trusted stream)


class StreamTriggers:
    """Probes by account venue; evaluated once per burst of stream updates, on the event loop."""

    def __init__(self, wakeups: Wakeups, on_wake: Callable[[str, Wake], None] | None = None) -> None:
        self.wakeups = wakeups
        self.on_wake = on_wake  # told each wake (metrics)
        self._accounts: dict[int, _Account] = {}
        self._where: dict[str, int] = {}  # object key → the account venue holding its probe
        self.evaluations = 0
        self.settling_skips = 0

    def watch(self, key: str, venue: object, probe: Probe | None) -> None:
        """Leave (or replace) `key`'s probe on `venue` at the end of its cycle; None, or a venue that does not
        stream, removes it. A wake still pending was judged by the old probe on the status before this cycle (an
        update pushed while its own orders were going out, say): it is dropped, and the new probe judges the live
        snapshot at once instead, so what the cycle did not settle still wakes it."""
        self.forget(key)
        self.wakeups.clear(key)
        if probe is None or not streams(venue):
            return
        ident = id(venue)
        account = self._accounts.get(ident)
        if account is None:
            stream: Streaming = venue  # type: ignore[assignment]
            account = self._accounts[ident] = _Account(stream, {})
            stream.add_listener(lambda _update: self._updated(ident))
        account.probes[key] = probe
        self._where[key] = ident
        snap = account.venue.live_snapshot()
        if snap is not None and not _unsettled(probe, _settling(account.venue)):
            self._judge(key, probe, snap)

    def forget(self, key: str) -> None:
        ident = self._where.pop(key, None)
        if ident is not None and ident in self._accounts:
            self._accounts[ident].probes.pop(key, None)

    def _updated(self, ident: int) -> None:
        account = self._accounts.get(ident)
        if account is None or account.scheduled or not account.probes:
            return
        account.scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self.evaluate, ident)
        except RuntimeError:  # no loop (a listener called from a test thread): evaluate now
            self.evaluate(ident)

    def evaluate(self, ident: int) -> None:
        """Every probe of one account against its live snapshot (none while the stream is untrusted)."""
        account = self._accounts.get(ident)
        if account is None:
            return
        account.scheduled = False
        snap = account.venue.live_snapshot()
        if (snap is not None) != account.trusted:
            # A gap, or its end: every object on the account runs at its next tick, to say Degraded
            # StaleMarketData while the stream is untrusted (nothing is decided), and to look again after it.
            account.trusted = snap is not None
            for key in list(account.probes):
                self._wake(key, Wake(False, "StreamRecovered" if account.trusted else "StreamGap"))
        if snap is None:
            return
        self.evaluations += 1
        settling = _settling(account.venue)
        for key, probe in list(account.probes.items()):
            if _unsettled(probe, settling):
                # A fill is known but its position (or balance) is not yet: the snapshot would judge the position
                # from before the fill and wake the object to trade it again. The push that settles it evaluates.
                self.settling_skips += 1
                continue
            self._judge(key, probe, snap)

    def _judge(self, key: str, probe: Probe, snap: AccountSnapshot) -> None:
        try:
            wake = probe(snap)
        except Exception:  # a probe's bug must not stop the others, nor the stream; the schedule still runs it
            log.exception("stream trigger of %s failed; it runs on its schedule", key)
            return
        if wake is not None:
            self._wake(key, wake)

    def _wake(self, key: str, wake: Wake) -> None:
        self.wakeups.wake(key, wake)
        if self.on_wake is not None:
            self.on_wake(key, wake)

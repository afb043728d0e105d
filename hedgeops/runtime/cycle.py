"""What every kind's cycle shares: the services it talks to, its events, and the guard that holds the venue
and the account lock for one cycle and turns venue and lock failures into a condition's reason."""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import time
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from redis import exceptions as redis_errors

from hedgeops.api.common import Condition, ExchangeRef, Mode
from hedgeops.engine.common.conditions import set_condition
from hedgeops.exchange.venue import (
    CarryVenue,
    FinalVenueError,
    RetryableVenueError,
    StreamUntrusted,
    UnknownSymbol,
    VenueAuthError,
)
from hedgeops.model.journal import FailureEntry, JournalEntry, journal_doc
from hedgeops.model.market import MarketRules
from hedgeops.runtime.execution import ExecutionContext, LeaseLost
from hedgeops.runtime.freshness import DEFAULT_MAX_DATA_AGE_S, StaleMarketData, fresh
from hedgeops.runtime.holdings_http import HttpHoldingsSource
from hedgeops.runtime.journal import Journal, journal_stream
from hedgeops.runtime.locks import AccountLocks, Lease, account_lock_key
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.triggers import StreamTriggers
from hedgeops.runtime.venues import VenueSource

LOCK_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class CycleEvent:
    """A Kubernetes event to emit: Normal or Warning, CamelCase reason, message."""

    type: str
    reason: str
    message: str


@dataclass
class Services:
    """What a cycle talks to. The operator gives Redis-backed locks and journal; local mode in-memory."""

    venues: VenueSource
    locks: AccountLocks
    journal: Journal
    metrics: Metrics
    owner: str
    lock_ttl_seconds: float = LOCK_TTL_SECONDS  # a cycle is seconds long; a dead holder's lock frees after this
    http_holdings: HttpHoldingsSource = field(default_factory=HttpHoldingsSource)
    max_data_age_s: float | None = DEFAULT_MAX_DATA_AGE_S  # older market data stops a cycle; None: unchecked
    triggers: StreamTriggers | None = None  # streaming venues: objects leave probes that wake them (triggers.py)
    _queues: dict[str, asyncio.Lock] = field(default_factory=dict, repr=False)

    def account_queue(self, key: str) -> asyncio.Lock:
        """This process's cycles on one account, one at a time. The lock store is re-entrant per owner (a
        restarted process with the same identity gets its lock back), so two of our own cycles must queue here:
        otherwise the second one's acquisition would fence out the first one in the middle of its plan."""
        return self._queues.setdefault(key, asyncio.Lock())


@dataclass
class ObjectCycle:
    """One object's cycle: who it is and when, for conditions and metrics."""

    kind: str
    namespace: str
    name: str
    generation: int | None
    now: datetime
    services: Services
    slot: datetime | None = None  # the schedule's slot this cycle observes under (None: unscheduled, observe anew)
    uid: str | None = None  # this incarnation of the object: a deleted and re-created one is another

    def failed(self, conditions: list[Condition], reason: str, message: str, degraded: bool) -> list[Condition]:
        """Conditions for a cycle that could not do its job; counted as a reconcile error."""
        conds = set_condition(conditions, "Ready", False, reason, message, self.now, self.generation)
        conds = set_condition(conds, "Degraded", degraded, reason if degraded else "Healthy",
                              message if degraded else "", self.now, self.generation)
        self.services.metrics.reconcile_errors.labels(self.kind, reason).inc()
        if reason == "RebalanceFailed":  # a HedgeBook's plan failed at the exchange (ActionFailed renamed)
            self.services.metrics.event(self.namespace, self.name, "RebalanceFailed")
        self.services.metrics.ready.labels(self.kind, self.namespace, self.name).set(0)
        self.services.metrics.degraded.labels(self.kind, self.namespace, self.name).set(1 if degraded else 0)
        return conds


Failure = tuple[str, str, bool]  # reason, message, degraded


class MarketMismatch(Exception):
    """The market the venue lists for an object's symbol is not what the spec promises (e.g. not a linear
    swap): the object must not trade at all."""


def _redis_reason(exc: Exception) -> str:
    """The store's error class and first line: enough to act on (OOM, READONLY), never a key or value."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


@dataclass
class Guard:
    """`async with Guard(...) as g`: the venue and the account lock for one cycle, released at the end. A
    failure to get either, or a venue/lock error inside the block, ends up in `g.failure` (the block's error
    is suppressed): the caller turns it into conditions, never a traceback."""

    cycle: ObjectCycle
    exchange: ExchangeRef
    mode: Mode
    key: str  # namespace/name
    failure: Failure | None = None
    lease: Lease | None = None
    _venue: CarryVenue | None = field(default=None, repr=False)
    account_venue: CarryVenue | None = field(default=None, repr=False)  # the account's own (unwrapped) venue
    _queue: asyncio.Lock | None = field(default=None, repr=False)
    _keepalive: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def venue(self) -> CarryVenue:
        assert self._venue is not None
        return self._venue

    @property
    def stream(self) -> str:
        return journal_stream(self.cycle.kind, self.key)

    @property
    def intents(self) -> str:
        """Where this object's write-ahead intents live: keyed by its uid as well as its name. By name alone, an
        object deleted mid-plan and re-created under the same name adopted the dead one's plan and finished it
        with a market order (4 SOL over-hedged), counting it in its own limits."""
        return f"{self.stream}:{self.cycle.uid}" if self.cycle.uid else self.stream

    async def __aenter__(self) -> Guard:
        s = self.cycle.services
        try:
            account = await s.venues.account(self.exchange, self.mode, self.cycle.namespace)
        except Exception as exc:  # VenueUnavailable and configuration errors alike become a condition
            self.failure = ("VenueUnavailable", str(exc), False)
            return self
        self._venue, key = fresh(account.venue, self.cycle.now, s.max_data_age_s), account_lock_key(account.key)
        self.account_venue = account.venue
        labels = (self.cycle.namespace, self.exchange.name, self.exchange.account)
        started = time.perf_counter()
        self._queue = s.account_queue(key)
        await self._queue.acquire()
        # Under the queue, the account is this cycle's alone in this process: tell the venue which slot it observes
        # under, so every object of the account due in one slot shares one observation (the first one's).
        begin = getattr(account.venue, "begin_slot", None)
        if callable(begin):
            begin(self.cycle.slot)
        try:  # from here on, anything (a cancellation too) must give the queue and the lease back
            try:
                self.lease = await s.locks.acquire(key, s.owner, s.lock_ttl_seconds)
            except Exception as exc:  # Redis down, out of memory, read-only: fail closed
                s.metrics.lock_store_up.labels(s.locks.store).set(0)
                s.metrics.locks.labels(*labels, "unavailable").inc()
                self.failure = ("LockUnavailable", f"cannot reach the lock store: {_redis_reason(exc)}", True)
                return self
            finally:
                s.metrics.lock_wait.labels(*labels).observe(time.perf_counter() - started)
            s.metrics.lock_store_up.labels(s.locks.store).set(1)
            s.metrics.locks.labels(*labels, "busy" if self.lease is None else "acquired").inc()
            if self.lease is None:
                self.failure = ("AccountLocked", f"account {self.exchange.name}/{self.exchange.account} is locked "
                                "by another actor", True)
            elif getattr(s.locks, "renews", True):
                self._keepalive = asyncio.create_task(self._renew_while_held(self.lease))
        except BaseException:
            await self._give_back()
            raise
        return self

    async def _renew_while_held(self, lease: Lease) -> None:
        """Renew the lease every third of its TTL while the cycle runs: one exchange call may take longer than
        the TTL (create + look-up, each up to ccxt's timeout), and the lock must not lapse under an order in
        flight. A process that dies stops renewing, so its lock still frees after the TTL. A failed renewal
        leaves the next fence check (before the next order) to find the lease lost."""
        s = self.cycle.services
        period = max(s.lock_ttl_seconds / 3, 0.05)
        while True:
            await asyncio.sleep(period)
            try:
                if not await s.locks.renew(lease, s.lock_ttl_seconds):
                    return
            except Exception:  # the store is unreachable: the fence check before the next order will say so
                return

    async def _give_back(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(BaseException):
                await self._keepalive
            self._keepalive = None
        try:
            if self.lease is not None:
                # Redis gone: the lease runs out by itself (lock_ttl_seconds); the cycle's own outcome matters more.
                with contextlib.suppress(redis_errors.RedisError):
                    await self.cycle.services.locks.release(self.lease)
        finally:
            if self._queue is not None:
                self._queue.release()
                self._queue = None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        await self._give_back()
        if exc is None or not isinstance(exc, Exception):
            return False
        failure = self._translate(exc)
        if failure is None:
            return False
        if failure[0] in ("ActionFailed", "InvalidNumber"):
            with contextlib.suppress(redis_errors.RedisError):
                await self.record(FailureEntry(reason=type(exc).__name__, message=str(exc)))
        self.failure = failure
        return True

    @staticmethod
    def _translate(exc: Exception) -> Failure | None:
        if isinstance(exc, MarketMismatch):
            return ("MarketMismatch", str(exc), False)
        if isinstance(exc, StaleMarketData):
            return ("StaleMarketData", str(exc), True)
        if isinstance(exc, StreamUntrusted):  # a gap in the stream, not yet reconciled: nothing decided or sent
            return ("StaleMarketData", f"the exchange's stream is not trusted: {exc}; nothing is decided or sent "
                    "until it is reconciled", True)
        if isinstance(exc, UnknownSymbol):
            return ("UnknownSymbol", str(exc), False)
        if isinstance(exc, redis_errors.RedisError):  # mid-cycle (down, OOM, READONLY, MISCONF): stop here
            return ("LockUnavailable", f"lock store failed mid-cycle: {_redis_reason(exc)}", True)
        if isinstance(exc, (decimal.DecimalException, OverflowError)):
            # A number that does not fit money (a target at 1e30): the cycle stops where it is and says so; bounds
            # on specs and signals keep such numbers out before planning, this is the last line.
            return ("InvalidNumber", f"a quantity or price is out of range: {type(exc).__name__}", False)
        if isinstance(exc, LeaseLost):
            return ("LockLost", "the account lock was lost; stopped submitting", True)
        if isinstance(exc, RetryableVenueError):
            return ("ExchangeUnavailable", str(exc), True)
        if isinstance(exc, VenueAuthError):
            return ("CredentialsRejected", f"the exchange refused the credentials in the Secret: {exc}", True)
        if isinstance(exc, FinalVenueError):
            return ("ActionFailed", f"the exchange refused: {exc}", False)
        return None

    async def record(self, entry: JournalEntry, once: str | None = None) -> None:
        """Journal one entry (model/journal.py) under this cycle's envelope: time, fencing token, owner. `once`: an
        entry a retried cycle would write again (a plan, its bypassed approval, its completion) is written once
        per key, so a crash between it and the status patch does not journal it twice."""
        token = self.lease.token if self.lease else None
        s = self.cycle.services
        doc = {"at": self.cycle.now.isoformat(), "fence": token, "owner": s.owner, **journal_doc(entry)}
        if once is None:
            await s.journal.append(self.stream, doc)
        else:
            await s.journal.append_once(self.stream, once, doc)

    def context(self, intent_key: str, markets: dict[str, MarketRules],
                min_order: dict[str, Any] | None = None) -> ExecutionContext:
        """Plan execution fenced by this cycle's lease, journalled to the object's stream, its write-ahead
        intent under `intent_key`."""
        s, lease = self.cycle.services, self.lease
        assert lease is not None

        async def still_held() -> bool:
            # The fence check before each order also extends the lease (atomically, only if still ours): a slow
            # exchange cannot make a long plan outlive its lock, while a dead process's lock still runs out.
            return await s.locks.renew(lease, s.lock_ttl_seconds)

        async def write_intent(intent: dict[str, Any]) -> None:
            await s.journal.write_intent(intent_key, {"fence": lease.token, **intent})

        return ExecutionContext(self.venue, lease, still_held, self.record, markets, min_order or {}, write_intent)

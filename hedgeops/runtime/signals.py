"""The TradingView signal desk (seed 001): one webhook request in, one outcome out.

The engine decides (engine/signals.py: authentic? fresh? which signal wins?); this desk does the I/O around
it: read the book and its passphrase Secret, claim the signal id in Redis so a re-sent alert is refused even
after a restart, write the winner to the book's `status.activeSignal` (the spec stays owned by git), and
journal and count every outcome. Nothing here trades: the book's next cycle acts on the active signal."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis.asyncio as aioredis
from pydantic import ValidationError

from hedgeops.api import HedgeBook
from hedgeops.engine.common.errors import SignalValidationError
from hedgeops.engine.hedge.signals import (
    Signal,
    accept_signal,
    parse_signal,
    signal_from_status,
    signal_to_status,
)
from hedgeops.model.journal import SignalEntry, journal_doc
from hedgeops.runtime.buckets import MAX_KEYS, TokenBuckets
from hedgeops.runtime.journal import Journal, journal_stream
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.names import is_namespace, is_object_name
from hedgeops.runtime.venues import SecretReader

log = logging.getLogger(__name__)

PASSPHRASE_KEY = "passphrase"
REFUSALS_JOURNALLED_PER_MINUTE = 10  # a book's stream holds 100,000 entries: a week of refusals at this pace
REFUSALS_JOURNALLED_BURST = 10
MAX_BODY_BYTES = 16 * 1024  # a TradingView alert message is a few hundred bytes

# answer -> HTTP status. Everything refused is a 4xx with a reason; 503 only when we cannot tell (a store
# we depend on is down): TradingView does not retry, so the reason must be in the response and the journal.
STATUS = {
    "Accepted": 202,
    "Malformed": 400,
    "Refused": 404,
    "Duplicate": 409,
    "Conflict": 409,
    "TooLarge": 413,
    "Expired": 422,
    "RateLimited": 429,
    "Unavailable": 503,
}
# A caller without the passphrase gets this one answer, whatever the reason (no such book, a name that is no
# Kubernetes name, signals off, no passphrase Secret, a wrong passphrase, a body with none): anything more
# would let a scanner tell which books exist and take signals. The real reason is journalled for the owner.
REFUSED_MESSAGE = "refused: no book here takes this signal"


@dataclass(frozen=True)
class SignalOutcome:
    """What happened (`outcome`: a metric label and the journal's reason, `message` in words) and what the
    caller is told: the anonymous refusal when `hidden`, and the signal then in force only with a 202."""

    outcome: str
    message: str
    active: dict[str, Any] | None = None
    hidden: bool = False

    @property
    def answer(self) -> str:
        return "Refused" if self.hidden else self.outcome

    @property
    def http_status(self) -> int:
        return STATUS[self.answer]

    def body(self) -> dict[str, Any]:
        if self.hidden:
            return {"outcome": "Refused", "message": REFUSED_MESSAGE, "activeSignal": None}
        return {"outcome": self.outcome, "message": self.message,
                "activeSignal": self.active if self.outcome == "Accepted" else None}


def _refused(outcome: str, message: str) -> SignalOutcome:
    return SignalOutcome(outcome, message, hidden=True)


class SeenSignals(Protocol):
    """Signal ids already received, per book: `claim` is true only the first time an id is offered."""

    async def claim(self, book: str, signal_id: str, ttl_seconds: int) -> bool: ...

    async def forget(self, book: str, signal_id: str) -> None: ...


class RedisSeenSignals:
    """SET NX with an expiry: shared by every operator process and kept across restarts."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    @staticmethod
    def _key(book: str, signal_id: str) -> str:
        return f"hedgeops:signal:{book}:{signal_id}"

    async def claim(self, book: str, signal_id: str, ttl_seconds: int) -> bool:
        return bool(await self.redis.set(self._key(book, signal_id), "1", nx=True, ex=ttl_seconds))

    async def forget(self, book: str, signal_id: str) -> None:
        await self.redis.delete(self._key(book, signal_id))


class InMemorySeenSignals:
    """For one process without Redis (a note in the operator's start-up log says so)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    async def claim(self, book: str, signal_id: str, ttl_seconds: int) -> bool:
        if (book, signal_id) in self.seen:
            return False
        self.seen.add((book, signal_id))
        return True

    async def forget(self, book: str, signal_id: str) -> None:
        self.seen.discard((book, signal_id))


# (namespace, name) -> the book's raw body, or None when there is no such book.
BookReader = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]
# (namespace, name, activeSignal, the book as read) -> True once stored as the book's status.activeSignal, exactly
# (never merged into the previous signal); False, nothing stored, when the book has changed since that read (the
# API server's 409 Conflict on its resourceVersion).
ActiveWriter = Callable[[str, str, dict[str, Any], Mapping[str, Any]], Awaitable[bool]]
# A lost race is decided again on the book read afresh, this many times at most: each loss means another write
# landed in between (the other replica's webhook, a cycle's status), and the webhook has about 3 s to answer.
WRITE_ATTEMPTS = 5


def _unavailable(namespace: str, name: str, exc: Exception) -> SignalOutcome:
    """The API server could not be asked. The caller (not authenticated yet) learns nothing of the operator, its
    account or what it watches; the operator's log has the reason."""
    log.warning("signal for %s/%s: cannot read the book: %s", namespace, name, exc)
    return SignalOutcome("Unavailable", "cannot read the book now; try again")


def _refusal(exc: SignalValidationError) -> SignalOutcome:
    if exc.field == "passphrase":
        return _refused("Unauthenticated", str(exc))
    if exc.field == "time" and "old" in str(exc):
        return SignalOutcome("Expired", str(exc))
    return SignalOutcome("Malformed", str(exc))


def _taking_signals(raw: Mapping[str, Any] | None) -> HedgeBook | None:
    """The book, if it exists, has a valid spec and takes TradingView signals."""
    if raw is None:
        return None
    try:
        book = HedgeBook.model_validate(dict(raw))
    except ValidationError:
        return None
    tv = book.spec.signals.tradingView
    return book if tv.enabled and tv.secretRef is not None else None


def _not_taking(raw: Mapping[str, Any] | None) -> SignalOutcome:
    return _refused("UnknownBook", "no such HedgeBook") if raw is None else \
        _refused("SignalsDisabled", "the book does not take signals (or its spec is invalid)")


class SignalDesk:
    """Receives signals for HedgeBooks. Requests for one book are handled one at a time, so two alerts
    arriving together are compared with each other, never both against the same older signal: in this process
    by the book's lock, and across the operator's replicas (both serve the webhook) by writing only to the book
    as read (its resourceVersion), deciding again when another write came first.

    Per-book state (the lock, a journal stream, labelled metrics) exists only for books that exist and take
    signals; locks live only while a request holds them, so a deleted book leaves nothing behind either."""

    def __init__(self, read_book: BookReader, write_active: ActiveWriter, read_secret: SecretReader,
                 seen: SeenSignals, journal: Journal, metrics: Metrics,
                 known: Callable[[str, str], bool] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.read_book, self.write_active, self.read_secret = read_book, write_active, read_secret
        self.seen, self.journal, self.metrics = seen, journal, metrics
        # The books the operator's watch says take signals: a name outside it is refused without an API read (a
        # spray of made-up names costs the API server nothing). None: every name is read (tests, one-off desks).
        self.known = known
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Refusals of callers without the passphrase are journalled within a budget per book: the book's stream
        # is trimmed oldest first, and a stranger's junk must not push its plans and orders out of it.
        self._refusals = TokenBuckets(REFUSALS_JOURNALLED_PER_MINUTE, REFUSALS_JOURNALLED_BURST, monotonic=monotonic)
        self._unjournalled: dict[str, int] = {}
        # Per book, a digest of the passphrase the last authenticated caller sent: the webhook exempts a caller
        # presenting it from the per-source limit (`vouched`). Without trusted proxies every caller's source is the
        # Ingress's, so a stranger's 31 posts a minute used up the book's bucket and its real alerts got 429.
        self._vouched: OrderedDict[str, bytes] = OrderedDict()

    async def receive(self, namespace: str, name: str, body: bytes, now: datetime) -> SignalOutcome:
        # Names come from the URL (aiohttp has decoded %2F): only Kubernetes names go any further, so none can
        # walk the API path into another namespace, and each book has exactly one spelling.
        if not (is_namespace(namespace) and is_object_name(name)):
            return self.count(_refused("BadName", "not a Kubernetes namespace/name"))
        if len(body) > MAX_BODY_BYTES:
            return self.count(SignalOutcome("TooLarge", f"body larger than {MAX_BODY_BYTES} bytes"))
        if self.known is not None and not self.known(namespace, name):
            return self.count(_not_taking(None))
        try:
            raw = await self.read_book(namespace, name)
        except Exception as exc:  # the API server is unreachable: we cannot tell whether the book exists
            return self.count(_unavailable(namespace, name, exc))
        if _taking_signals(raw) is None:
            return self.count(_not_taking(raw))
        key = f"{namespace}/{name}"
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            # Read again under the book's lock: the signal in force is the one the last request wrote.
            try:
                raw = await self.read_book(namespace, name)
            except Exception as exc:
                return self.count(_unavailable(namespace, name, exc))
            book = _taking_signals(raw)
            if book is None:  # deleted or switched off in between
                return self.count(_not_taking(raw))
            self.metrics.track("HedgeBook", namespace, name, book.spec.mode.value)
            assert raw is not None  # _taking_signals made sure
            outcome = await self._receive(book, raw, namespace, name, body, now)
            await self._journal(key, outcome, now)
            return self.count(outcome, namespace, name)

    def vouched(self, namespace: str, name: str, body: bytes) -> bool:
        """Whether `body` carries the passphrase the book's last authenticated caller sent (memory only, no read:
        this runs before any limit). It exempts from the per-source limit, never from authentication: the request
        still goes through `receive`, which reads the Secret and compares again."""
        known = self._vouched.get(f"{namespace}/{name}")
        if known is None:
            return False
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return False
        given = payload.get(PASSPHRASE_KEY) if isinstance(payload, dict) else None
        return isinstance(given, str) and hmac.compare_digest(_digest(given), known)

    def _vouch(self, key: str, passphrase: str | None) -> None:
        """Remember (or, with None, forget) the passphrase a caller authenticated with; bounded like every key."""
        self._vouched.pop(key, None)
        if passphrase is not None:
            self._vouched[key] = _digest(passphrase)
            while len(self._vouched) > MAX_KEYS:
                self._vouched.popitem(last=False)

    async def _journal(self, key: str, outcome: SignalOutcome, now: datetime) -> None:
        """Every outcome of a caller with the passphrase; a hidden refusal within the book's budget, the next one
        journalled saying how many were counted but not journalled in between (hedgeops_signals_total has all)."""
        message = outcome.message
        if outcome.hidden:
            if self._refusals.take(key) > 0:
                self._unjournalled[key] = self._unjournalled.get(key, 0) + 1
                return
            if skipped := self._unjournalled.pop(key, 0):
                message += f" ({skipped} more refusals since the last one journalled were counted, not journalled)"
        await self.journal.append(journal_stream("HedgeBook", key), {"at": now.isoformat(), **journal_doc(
            SignalEntry(outcome=outcome.outcome, message=message, active=(outcome.active or {}).get("id")))})

    def count(self, outcome: SignalOutcome, namespace: str = "", name: str = "") -> SignalOutcome:
        """Counted under the book's labels only for a book that takes signals: a scanner posting to random
        URLs must not grow the metrics."""
        self.metrics.signals.labels(namespace, name, outcome.outcome).inc()
        return outcome

    async def _receive(self, book: HedgeBook, raw: Mapping[str, Any], namespace: str, name: str, body: bytes,
                       now: datetime) -> SignalOutcome:
        tv = book.spec.signals.tradingView
        if tv.secretRef is None:  # _taking_signals made sure; this narrows the type
            return _refused("SignalsDisabled", "no secretRef")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: `[[[[…` 16 KiB deep
            return _refused("Malformed", "body is not JSON")
        if not isinstance(payload, dict):
            return _refused("Malformed", "body is not a JSON object")
        try:  # the book's own namespace: never anyone else's Secret
            secret = await self.read_secret(namespace, tv.secretRef.name)
        except KeyError:
            return _refused("NoPassphrase", f"Secret {tv.secretRef.name} not found")
        except Exception as exc:  # the caller is not authenticated yet: the Secret's name is the owner's to know
            log.warning("signal for %s/%s: cannot read Secret %s: %s", namespace, name, tv.secretRef.name,
                        type(exc).__name__)
            return SignalOutcome("Unavailable", "cannot read the book's passphrase now; try again")
        passphrase = secret.get(PASSPHRASE_KEY)
        if not passphrase:  # an empty passphrase would let anyone in
            return _refused("NoPassphrase", f"Secret {tv.secretRef.name} has no {PASSPHRASE_KEY!r}")
        key = f"{namespace}/{name}"
        given = payload.get(PASSPHRASE_KEY)
        authentic = isinstance(given, str) and hmac.compare_digest(_digest(given), _digest(passphrase))
        if authentic:
            self._vouch(key, passphrase)
        elif not hmac.compare_digest(self._vouched.get(key, b""), _digest(passphrase)):
            self._vouch(key, None)  # rotated: the old passphrase vouches no more (a stranger's guess changes nothing)
        try:
            signal = _parse(payload, book, now, passphrase)
        except SignalValidationError as exc:
            return _refusal(exc)
        remember = int((signal.expires_at - now).total_seconds()) + tv.maxAgeSeconds + 60  # past any replay
        try:
            first = await self.seen.claim(key, signal.id, max(remember, 60))
        except Exception as exc:  # Redis down: without de-duplication we refuse rather than risk a replay
            return SignalOutcome("Unavailable", f"cannot reach the de-duplication store: {exc}")
        if not first:
            return SignalOutcome("Duplicate", f"signal {signal.id} was already received")
        outcome, taken = await self._decide(book, raw, namespace, name, signal, payload, passphrase, now)
        if not taken:  # nothing was decided about the signal: the sender may send the same id again
            await self.seen.forget(key, signal.id)
        return outcome

    async def _decide(self, book: HedgeBook, raw: Mapping[str, Any], namespace: str, name: str, signal: Signal,
                      payload: Mapping[str, Any], passphrase: str, now: datetime) -> tuple[SignalOutcome, bool]:
        """Compare the signal with the one in force and store it if it wins, on condition that the book is still
        the one read: the other replica serves the webhook too, and this process's lock does not reach it. A lost
        race is decided again on the book read afresh, so a signal never replaces one it would have lost to.
        The flag: whether the signal's id stays spent (False: nothing was decided, the same id may come again)."""
        for attempt in range(WRITE_ATTEMPTS):
            active = signal_from_status((book.status.activeSignal if book.status else None) or None)
            if attempt and active == signal:  # ours: a write whose answer was lost, retried by kopf's backoffs
                return _accepted(signal, signal_to_status(signal)), True
            verdict = accept_signal(active, frozenset(), signal, now)
            if not verdict.accepted:
                why = (f"signal {active.id} (priority {active.priority.name.lower()}) is in force until "
                       f"{active.expires_at.isoformat()}" if verdict.reason == "Conflict" and active else
                       f"signal {signal.id} expired at {signal.expires_at.isoformat()}")
                return SignalOutcome(verdict.reason, why), True
            status = signal_to_status(signal)
            try:
                if await self.write_active(namespace, name, status, raw):
                    return _accepted(signal, status), True
            except Exception as exc:  # not written: let the sender retry the same id
                return SignalOutcome("Unavailable", f"cannot write the book's status: {exc}"), False
            # 409: the book was written since it was read. Read it again and decide again.
            try:
                fresh = await self.read_book(namespace, name)
            except Exception as exc:
                return _unavailable(namespace, name, exc), False
            taking = _taking_signals(fresh)
            if fresh is None or taking is None:  # deleted or switched off in between
                return _not_taking(fresh), False
            book, raw = taking, fresh
            try:  # the book as it is now: its legs decide which assets a signal may name
                signal = _parse(payload, book, now, passphrase)
            except SignalValidationError as exc:
                return _refusal(exc), False
        return SignalOutcome("Unavailable", f"the book kept changing while signal {signal.id} was written; "
                                            "try again"), False


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _parse(payload: Mapping[str, Any], book: HedgeBook, now: datetime, passphrase: str) -> Signal:
    tv = book.spec.signals.tradingView
    return parse_signal(payload, now=now, passphrase=passphrase, max_age_seconds=tv.maxAgeSeconds,
                        assets={leg.asset for leg in book.spec.legs})


def _accepted(signal: Signal, status: dict[str, Any]) -> SignalOutcome:
    target = (f"hedge ratio {signal.hedge_ratio}" if signal.hedge_ratio is not None else
              "target delta " + ", ".join(f"{a} {v}" for a, v in sorted(signal.target_delta.items())))
    return SignalOutcome("Accepted", f"signal {signal.id}: {target} until {signal.expires_at.isoformat()}", status)

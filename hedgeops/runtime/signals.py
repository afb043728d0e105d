"""The TradingView signal desk (seed 001): one webhook request in, one outcome out.

The engine decides (engine/signals.py: authentic? fresh? which signal wins?); this desk does the I/O around
it: read the book and its passphrase Secret, claim the signal id in Redis so a re-sent alert is refused even
after a restart, write the winner to the book's `status.activeSignal` (the spec stays owned by git), and
journal and count every outcome. Nothing here trades: the book's next cycle acts on the active signal."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis.asyncio as aioredis
from pydantic import ValidationError

from hedgeops.api import HedgeBook
from hedgeops.engine.errors import SignalValidationError
from hedgeops.engine.signals import accept_signal, parse_signal, signal_from_status, signal_to_status
from hedgeops.runtime.journal import Journal, journal_stream
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import SecretReader

PASSPHRASE_KEY = "passphrase"
MAX_BODY_BYTES = 16 * 1024  # a TradingView alert message is a few hundred bytes

# outcome -> HTTP status. Everything refused is a 4xx with a reason; 503 only when we cannot tell (a store
# we depend on is down): TradingView does not retry, so the reason must be in the response and the journal.
STATUS = {
    "Accepted": 202,
    "Malformed": 400,
    "Unauthenticated": 401,
    "SignalsDisabled": 403,
    "UnknownBook": 404,
    "Duplicate": 409,
    "Conflict": 409,
    "Expired": 422,
    "Unavailable": 503,
}


@dataclass(frozen=True)
class SignalOutcome:
    """What the webhook answers: the outcome (a metric label), a reason in words, the signal then in force."""

    outcome: str
    message: str
    active: dict[str, Any] | None = None

    @property
    def http_status(self) -> int:
        return STATUS[self.outcome]

    def body(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "message": self.message, "activeSignal": self.active}


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
# (namespace, name, activeSignal) -> written to the book's status.
ActiveWriter = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def _refusal(exc: SignalValidationError) -> str:
    if exc.field == "passphrase":
        return "Unauthenticated"
    if exc.field == "time" and "old" in str(exc):
        return "Expired"
    return "Malformed"


class SignalDesk:
    """Receives signals for HedgeBooks. Requests for one book are handled one at a time, so two alerts
    arriving together are compared with each other, never both against the same older signal."""

    def __init__(self, read_book: BookReader, write_active: ActiveWriter, read_secret: SecretReader,
                 seen: SeenSignals, journal: Journal, metrics: Metrics) -> None:
        self.read_book, self.write_active, self.read_secret = read_book, write_active, read_secret
        self.seen, self.journal, self.metrics = seen, journal, metrics
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def receive(self, namespace: str, name: str, body: bytes, now: datetime) -> SignalOutcome:
        key = f"{namespace}/{name}"
        async with self._locks[key]:
            try:
                raw = await self.read_book(namespace, name)
            except Exception as exc:  # the API server is unreachable: we cannot tell whether the book exists
                return self._count("", "", SignalOutcome("Unavailable", f"cannot read the book: {exc}"))
            if raw is None:
                # Labels only for books that exist: a scanner posting to random URLs must not grow the metrics.
                return self._count("", "", SignalOutcome("UnknownBook", f"no HedgeBook {key}"))
            outcome = await self._receive(raw, namespace, name, body, now)
            await self.journal.append(journal_stream("HedgeBook", key), {
                "at": now.isoformat(), "type": "signal", "outcome": outcome.outcome, "message": outcome.message,
                "active": (outcome.active or {}).get("id")})
            return self._count(namespace, name, outcome)

    def _count(self, namespace: str, name: str, outcome: SignalOutcome) -> SignalOutcome:
        self.metrics.signals.labels(namespace, name, outcome.outcome).inc()
        return outcome

    async def _receive(self, raw: Mapping[str, Any], namespace: str, name: str, body: bytes,
                       now: datetime) -> SignalOutcome:
        try:
            book = HedgeBook.model_validate(dict(raw))
        except ValidationError:
            return SignalOutcome("SignalsDisabled", "the book's spec is invalid (see its Ready condition)")
        tv = book.spec.signals.tradingView
        current = (book.status.activeSignal if book.status else None) or None
        if not tv.enabled or tv.secretRef is None:
            return SignalOutcome("SignalsDisabled", "spec.signals.tradingView.enabled is false", current)
        if len(body) > MAX_BODY_BYTES:
            return SignalOutcome("Malformed", f"body larger than {MAX_BODY_BYTES} bytes", current)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return SignalOutcome("Malformed", "body is not JSON", current)
        if not isinstance(payload, dict):
            return SignalOutcome("Malformed", "body is not a JSON object", current)
        try:
            secret = await self.read_secret(namespace, tv.secretRef.name)
        except KeyError:
            return SignalOutcome("Unavailable", f"Secret {tv.secretRef.name} not found", current)
        passphrase = secret.get(PASSPHRASE_KEY)
        if not passphrase:  # an empty passphrase would let anyone in
            return SignalOutcome("Unavailable", f"Secret {tv.secretRef.name} has no {PASSPHRASE_KEY!r}", current)
        try:
            signal = parse_signal(payload, now=now, passphrase=passphrase, max_age_seconds=tv.maxAgeSeconds,
                                  assets={leg.asset for leg in book.spec.legs})
        except SignalValidationError as exc:
            return SignalOutcome(_refusal(exc), str(exc), current)
        active = signal_from_status(current)
        key = f"{namespace}/{name}"
        remember = int((signal.expires_at - now).total_seconds()) + tv.maxAgeSeconds + 60  # past any replay
        try:
            first = await self.seen.claim(key, signal.id, max(remember, 60))
        except Exception as exc:  # Redis down: without de-duplication we refuse rather than risk a replay
            return SignalOutcome("Unavailable", f"cannot reach the de-duplication store: {exc}", current)
        if not first:
            return SignalOutcome("Duplicate", f"signal {signal.id} was already received", current)
        verdict = accept_signal(active, frozenset(), signal, now)
        if not verdict.accepted:
            why = (f"signal {active.id} (priority {active.priority.name.lower()}) is in force until "
                   f"{active.expires_at.isoformat()}" if verdict.reason == "Conflict" and active else
                   f"signal {signal.id} expired at {signal.expires_at.isoformat()}")
            return SignalOutcome(verdict.reason, why, current)
        status = signal_to_status(signal)
        try:
            await self.write_active(namespace, name, status)
        except Exception as exc:  # not written: let the sender retry the same id
            await self.seen.forget(key, signal.id)
            return SignalOutcome("Unavailable", f"cannot write the book's status: {exc}", current)
        target = (f"hedge ratio {signal.hedge_ratio}" if signal.hedge_ratio is not None else
                  "target delta " + ", ".join(f"{a} {v}" for a, v in sorted(signal.target_delta.items())))
        return SignalOutcome("Accepted", f"signal {signal.id}: {target} until {signal.expires_at.isoformat()}",
                             status)

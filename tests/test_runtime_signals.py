"""The TradingView signal desk against real Redis (de-duplication), with the book kept in a dict: every
refusal is a 4xx with a reason that never writes the book, re-sent alerts are refused after a restart too,
and a higher-priority signal replaces a live one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.signals import RedisSeenSignals, SignalDesk

from .conftest import free_port
from .runtime_fixtures import book

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PASS = "correct horse battery staple"


class Cluster:
    """The book and its Secret, as the operator would read and write them through the API server."""

    def __init__(self, enabled: bool = True) -> None:
        b = book().model_dump(mode="json", exclude_none=True)
        b["spec"]["signals"] = {"tradingView": {"enabled": enabled, "secretRef": {"name": "tv"},
                                                "maxAgeSeconds": 300}}
        self.books: dict[tuple[str, str], dict[str, Any]] = {(b["metadata"]["namespace"], b["metadata"]["name"]): b}
        self.secrets = {"tv": {"passphrase": PASS}}
        self.writes = 0
        self.fail_writes = False

    async def read(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.books.get((namespace, name))

    async def write(self, namespace: str, name: str, active: dict[str, Any]) -> None:
        if self.fail_writes:
            raise ConnectionError("API server unreachable")
        self.writes += 1
        self.books[(namespace, name)].setdefault("status", {})["activeSignal"] = active

    async def secret(self, namespace: str, name: str) -> Mapping[str, str]:
        return self.secrets[name]

    @property
    def key(self) -> tuple[str, str]:
        return next(iter(self.books))


def alert(sid: str, *, at: datetime = NOW, passphrase: str = PASS, **extra: Any) -> bytes:
    body = {"id": sid, "passphrase": passphrase, "time": at.isoformat(), "hedgeRatio": 0.5, **extra}
    return json.dumps(body).encode()


def desk(c: Cluster, client: aioredis.Redis) -> tuple[SignalDesk, Metrics, InMemoryJournal]:
    metrics, journal = Metrics(), InMemoryJournal()
    return SignalDesk(c.read, c.write, c.secret, RedisSeenSignals(client), journal, metrics), metrics, journal


async def test_accepted_signal_lands_in_status_and_a_resent_one_is_a_duplicate_even_after_a_restart(
        redis_client: aioredis.Redis) -> None:
    c = Cluster()
    d, metrics, journal = desk(c, redis_client)
    ns, name = c.key
    out = await d.receive(ns, name, alert("tv-1", ttlSeconds=600), NOW)
    assert (out.http_status, out.outcome) == (202, "Accepted")
    active = c.books[c.key]["status"]["activeSignal"]
    assert active["id"] == "tv-1" and active["hedgeRatio"] == "0.5" and PASS not in json.dumps(active)
    assert active["expiresAt"] == (NOW + timedelta(seconds=600)).isoformat()
    # A new process (new desk) sharing the same Redis still knows the id.
    again, _, _ = desk(c, redis_client)
    dup = await again.receive(ns, name, alert("tv-1", ttlSeconds=600), NOW + timedelta(seconds=5))
    assert (dup.http_status, dup.outcome) == (409, "Duplicate") and dup.active == active
    assert c.writes == 1
    stream = next(iter(journal.streams.values()))
    assert [e["outcome"] for _, e in stream] == ["Accepted"] and PASS not in json.dumps(stream)
    assert metrics.registry.get_sample_value("hedgeops_signals_total",
                                             {"namespace": ns, "book": name, "outcome": "Accepted"}) == 1


async def test_priority_decides_conflicts(redis_client: aioredis.Redis) -> None:
    c = Cluster()
    d, _, _ = desk(c, redis_client)
    ns, name = c.key
    assert (await d.receive(ns, name, alert("hi", priority="high", ttlSeconds=3600), NOW)).outcome == "Accepted"
    later = NOW + timedelta(seconds=10)
    low = await d.receive(ns, name, alert("lo", at=later, priority="normal"), later)
    assert (low.http_status, low.outcome) == (409, "Conflict") and "hi" in low.message
    urgent = await d.receive(ns, name, alert("em", at=later, priority="emergency", hedgeRatio=1), later)
    assert urgent.outcome == "Accepted" and c.books[c.key]["status"]["activeSignal"]["id"] == "em"
    # Once the live signal has expired, a normal one is taken again.
    much_later = NOW + timedelta(seconds=400)
    after = await d.receive(ns, name, alert("n2", at=much_later), much_later)
    assert after.outcome == "Accepted"


@pytest.mark.parametrize(("body", "status", "outcome"), [
    (alert("x", passphrase="guess"), 401, "Unauthenticated"),
    (b"{not json", 400, "Malformed"),
    (b"[1, 2]", 400, "Malformed"),
    (alert("x", hedgeRatio=None, targetDelta=None), 400, "Malformed"),
    (alert("x", hedgeRatio=2), 400, "Malformed"),
    (alert("x", priority="urgent"), 400, "Malformed"),
    (alert("x", at=NOW - timedelta(seconds=301)), 422, "Expired"),
    (b"x" * 20000, 400, "Malformed"),
])
async def test_refused_requests_never_write_the_book(redis_client: aioredis.Redis, body: bytes, status: int,
                                                     outcome: str) -> None:
    c = Cluster()
    d, _, journal = desk(c, redis_client)
    out = await d.receive(*c.key, body, NOW)
    assert (out.http_status, out.outcome) == (status, outcome) and out.message
    assert c.writes == 0 and "status" not in c.books[c.key]
    assert [e["outcome"] for _, e in next(iter(journal.streams.values()))] == [outcome]
    # A refused id is not burnt: the sender may fix the request and send the same id.
    if outcome != "Unauthenticated":
        assert (await d.receive(*c.key, alert("x"), NOW)).outcome == "Accepted"


async def test_unknown_book_and_disabled_signals(redis_client: aioredis.Redis) -> None:
    c = Cluster(enabled=False)
    d, metrics, _ = desk(c, redis_client)
    missing = await d.receive("default", "nope", alert("a"), NOW)
    assert (missing.http_status, missing.outcome) == (404, "UnknownBook")
    # Requests for books that do not exist are counted without the URL's names (bounded labels).
    assert metrics.registry.get_sample_value("hedgeops_signals_total",
                                             {"namespace": "", "book": "", "outcome": "UnknownBook"}) == 1
    off = await d.receive(*c.key, alert("a"), NOW)
    assert (off.http_status, off.outcome) == (403, "SignalsDisabled") and c.writes == 0


async def test_fails_closed_when_redis_or_the_api_server_is_down(redis_client: aioredis.Redis) -> None:
    c = Cluster()
    dead = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    d, _, _ = desk(c, dead)
    out = await d.receive(*c.key, alert("r1"), NOW)
    assert (out.http_status, out.outcome) == (503, "Unavailable") and "de-duplication" in out.message
    assert c.writes == 0
    await dead.aclose()
    # The status write fails: the id is released so that TradingView's next delivery of it can be taken.
    d, _, _ = desk(c, redis_client)
    c.fail_writes = True
    assert (await d.receive(*c.key, alert("w1"), NOW)).outcome == "Unavailable"
    c.fail_writes = False
    assert (await d.receive(*c.key, alert("w1"), NOW)).outcome == "Accepted"

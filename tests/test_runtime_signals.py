"""The TradingView signal desk against real Redis (de-duplication), with the books kept in a dict: every
refusal is a 4xx that never writes the book; a caller who does not hold the passphrase gets one answer
whether the book exists, takes signals or not (nothing to probe); re-sent alerts are refused after a restart
too, and a higher-priority signal replaces a live one."""

from __future__ import annotations

import asyncio
import copy
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

    def __init__(self, enabled: bool = True, passphrase: str = PASS) -> None:
        b = book().model_dump(mode="json", exclude_none=True)
        b["spec"]["signals"] = {"tradingView": {"enabled": enabled, "secretRef": {"name": "tv"},
                                                "maxAgeSeconds": 300}}
        b["metadata"]["resourceVersion"] = "1"
        self.books: dict[tuple[str, str], dict[str, Any]] = {(b["metadata"]["namespace"], b["metadata"]["name"]): b}
        self.secrets = {"tv": {"passphrase": passphrase}}
        self.writes = 0
        self.reads: list[tuple[str, str]] = []
        self.fail_writes = False

    async def read(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        self.reads.append((namespace, name))
        b = self.books.get((namespace, name))
        return None if b is None else copy.deepcopy(b)  # a snapshot, as an API read is

    async def write(self, namespace: str, name: str, active: dict[str, Any], read: Mapping[str, Any]) -> bool:
        """As the API server takes the webhook's write: whole, and only onto the resourceVersion read."""
        if self.fail_writes:
            raise ConnectionError("API server unreachable")
        stored = self.books[(namespace, name)]
        if read["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]:
            return False
        self.writes += 1
        stored.setdefault("status", {})["activeSignal"] = active
        stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1)
        return True

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
    assert (dup.http_status, dup.outcome) == (409, "Duplicate") and dup.body()["activeSignal"] is None
    assert c.writes == 1
    stream = next(iter(journal.streams.values()))
    assert [e["outcome"] for _, e in stream] == ["Accepted"] and PASS not in json.dumps(stream)
    assert metrics.registry.get_sample_value("hedgeops_signals_total",
                                             {"namespace": ns, "name": name, "mode": "Paper",
                                              "outcome": "Accepted"}) == 1


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


@pytest.mark.parametrize(("body", "status", "answer", "journalled"), [
    # Not authenticated (wrong passphrase, or no body to read one from): the one anonymous refusal, journalled
    # with the real reason for the book's owner.
    (alert("x", passphrase="guess"), 404, "Refused", "Unauthenticated"),
    (b"{not json", 404, "Refused", "Malformed"),
    (b"[1, 2]", 404, "Refused", "Malformed"),
    # Authenticated: the reason is the sender's to know.
    (alert("x", hedgeRatio=None, targetDelta=None), 400, "Malformed", "Malformed"),
    (alert("x", hedgeRatio=2), 400, "Malformed", "Malformed"),
    (alert("x", hedgeRatio=None, targetDelta={"BTC": 1}), 400, "Malformed", "Malformed"),  # the book has no BTC leg
    (alert("x", hedgeRatio=None, targetDelta={"SOL": 1e30}), 400, "Malformed", "Malformed"),
    (alert("x", priority="urgent"), 400, "Malformed", "Malformed"),
    (alert("x", at=NOW - timedelta(seconds=301)), 422, "Expired", "Expired"),
    # Too large for any book: refused before the book is looked up, so nothing is journalled.
    (b"x" * 20000, 413, "TooLarge", None),
])
async def test_refused_requests_never_write_the_book(redis_client: aioredis.Redis, body: bytes, status: int,
                                                     answer: str, journalled: str | None) -> None:
    c = Cluster()
    d, _, journal = desk(c, redis_client)
    out = await d.receive(*c.key, body, NOW)
    assert (out.http_status, out.body()["outcome"]) == (status, answer) and out.body()["message"]
    assert out.body()["activeSignal"] is None
    assert c.writes == 0 and "status" not in c.books[c.key]
    assert [e["outcome"] for s in journal.streams.values() for _, e in s] == ([journalled] if journalled else [])
    # A refused id is not burnt: the sender may fix the request and send the same id.
    if journalled != "Unauthenticated":
        assert (await d.receive(*c.key, alert("x"), NOW)).outcome == "Accepted"


async def test_one_answer_for_unknown_disabled_unauthenticated_and_bad_names(redis_client: aioredis.Redis) -> None:
    """Whoever lacks the passphrase learns nothing: not whether a book exists, takes signals, or which part of
    the request was wrong. Requests naming no book that takes signals are counted without the URL's names."""
    c = Cluster()
    off = Cluster(enabled=False)
    c.books[("other", "quiet")] = {**off.books[off.key], "metadata": {"name": "quiet", "namespace": "other"}}
    d, metrics, journal = desk(c, redis_client)
    answers = {
        "unknown": await d.receive("default", "nope", alert("a"), NOW),
        "disabled": await d.receive("other", "quiet", alert("a"), NOW),
        "wrong passphrase": await d.receive(*c.key, alert("a", passphrase="guess"), NOW),
        "garbage": await d.receive(*c.key, b"close all now", NOW),
        "traversal": await d.receive("default", "../../other/hedgebooks/quiet", alert("a"), NOW),
        "upper case": await d.receive("DEFAULT", c.key[1], alert("a"), NOW),
    }
    seen = {(out.http_status, json.dumps(out.body(), sort_keys=True)) for out in answers.values()}
    assert len(seen) == 1, seen
    code, body = seen.pop()
    assert code == 404 and json.loads(body)["outcome"] == "Refused" and json.loads(body)["activeSignal"] is None
    assert c.writes == 0
    # A bad name never reaches the API server.
    assert ("default", "../../other/hedgebooks/quiet") not in c.reads and ("DEFAULT", c.key[1]) not in c.reads
    for outcome, times in (("UnknownBook", 1), ("SignalsDisabled", 1), ("BadName", 2)):
        assert metrics.registry.get_sample_value("hedgeops_signals_total",
                                                 {"namespace": "", "name": "", "mode": "", "outcome": outcome}) == times
    assert list(journal.streams) == ["hedgeops:journal:hedgebook:" + "/".join(c.key)]  # only the real book's


async def test_per_book_state_only_for_books_that_take_signals(redis_client: aioredis.Redis) -> None:
    """2,000 posts to unknown books and 200 spellings of one book's path leave no lock, journal stream or
    metric series behind: that state is made only for a book that exists and takes signals."""
    c = Cluster()
    d, metrics, journal = desk(c, redis_client)
    ns, name = c.key
    for i in range(2000):
        await d.receive(ns, f"book-{i}", alert(f"u{i}"), NOW)
    aliases = [f"..%2F{ns}%2F{name}", f"../{ns}/hedgebooks/{name}", f"{name}/", f"{name}%00", name.upper(),
               f"./{name}", f"{name}/status", f" {name}", f"{name}?x", f"{name}#"]
    for i in range(200):
        await d.receive(ns, aliases[i % len(aliases)] + "/" * (i // len(aliases)), alert(f"a{i}"), NOW)
    assert (await d.receive(ns, name, alert("real"), NOW)).outcome == "Accepted"
    assert len(d._locks) == 0  # per-book locks live only while a request holds them
    assert list(journal.streams) == [f"hedgeops:journal:hedgebook:{ns}/{name}"]
    series = {tuple(sorted(s.labels.items())) for m in metrics.registry.collect() if m.name == "hedgeops_signals"
              for s in m.samples if s.name == "hedgeops_signals_total"}
    assert {dict(x)["name"] for x in series} == {"", name}
    assert len(series) == 3  # UnknownBook, BadName (unlabelled) and the book's Accepted


async def test_two_alerts_at_once_are_compared_with_each_other(redis_client: aioredis.Redis) -> None:
    """The per-book lock (held only while requests use it) still serialises them: of two equal signals sent
    together, the second sees the first and loses the conflict."""
    c = Cluster()
    d, _, _ = desk(c, redis_client)
    outs = await asyncio.gather(*(d.receive(*c.key, alert(f"t{i}", ttlSeconds=600), NOW) for i in range(2)))
    assert sorted(o.outcome for o in outs) == ["Accepted", "Conflict"] and c.writes == 1


async def test_non_ascii_passphrases(redis_client: aioredis.Redis) -> None:
    """compare_digest raised TypeError on non-ASCII text (a 500): compared as UTF-8 bytes they simply match
    or do not."""
    c = Cluster(passphrase="mot-de-passe-élevé-✓")
    d, _, _ = desk(c, redis_client)
    wrong = await d.receive(*c.key, alert("n1", passphrase="mot-de-passe-élevé-✗"), NOW)
    assert (wrong.http_status, wrong.body()["outcome"]) == (404, "Refused")
    ascii_guess = await d.receive(*c.key, alert("n1", passphrase="guess"), NOW)
    assert ascii_guess.body() == wrong.body()
    assert (await d.receive(*c.key, alert("n1", passphrase="mot-de-passe-élevé-✓"), NOW)).outcome == "Accepted"


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


async def test_a_name_the_watch_does_not_know_is_refused_without_an_api_read(redis_client: aioredis.Redis) -> None:
    """In the operator the desk knows from the watch which books take signals: a made-up name costs no API call
    (a stranger spraying names cost one each, and a namespace the operator may not read answered 403)."""
    c = Cluster()
    metrics, journal = Metrics(), InMemoryJournal()
    ns, name = c.key
    d = SignalDesk(c.read, c.write, c.secret, RedisSeenSignals(redis_client), journal, metrics,
                   known=lambda n, b: (n, b) == (ns, name))
    out = await d.receive("kube-system", "anything", alert("k1"), NOW)
    assert (out.http_status, out.body()["outcome"]) == (404, "Refused") and c.reads == []
    assert (await d.receive(ns, name, alert("k2"), NOW)).outcome == "Accepted" and c.reads


async def test_a_deeply_nested_body_is_an_answer_not_a_500(redis_client: aioredis.Redis) -> None:
    c = Cluster()
    d, _, _ = desk(c, redis_client)
    out = await d.receive(*c.key, b"[" * 15_000, NOW)  # json.loads raised RecursionError: a 500 and a traceback
    assert (out.http_status, out.outcome) == (404, "Malformed") and c.writes == 0


async def test_a_strangers_refusals_cannot_push_a_books_orders_out_of_its_journal(
        redis_client: aioredis.Redis) -> None:
    """The book's stream is trimmed oldest first: refusals of callers without the passphrase are journalled within
    a budget per book (counted in the metric every time), and the next one journalled says how many were not."""
    from hedgeops.runtime.signals import REFUSALS_JOURNALLED_BURST, REFUSALS_JOURNALLED_PER_MINUTE

    c = Cluster()
    t = [0.0]
    metrics, journal = Metrics(), InMemoryJournal()
    d = SignalDesk(c.read, c.write, c.secret, RedisSeenSignals(redis_client), journal, metrics,
                   monotonic=lambda: t[0])
    ns, name = c.key
    for i in range(500):
        assert (await d.receive(ns, name, alert(f"g{i}", passphrase="guess"), NOW)).http_status == 404
    stream = next(iter(journal.streams.values()))
    assert len(stream) == REFUSALS_JOURNALLED_BURST
    assert metrics.registry.get_sample_value("hedgeops_signals_total", {
        "namespace": ns, "name": name, "mode": "Paper", "outcome": "Unauthenticated"}) == 500
    t[0] += 60 / REFUSALS_JOURNALLED_PER_MINUTE
    await d.receive(ns, name, alert("g-late", passphrase="guess"), NOW)
    assert "490 more refusals" in stream[-1][1]["message"]
    assert (await d.receive(ns, name, alert("ok"), NOW)).outcome == "Accepted"  # the owner's always journalled
    assert stream[-1][1]["outcome"] == "Accepted"


async def test_an_unreadable_book_tells_a_stranger_nothing_of_the_operator(redis_client: aioredis.Redis) -> None:
    async def forbidden(namespace: str, name: str) -> Mapping[str, Any] | None:
        raise RuntimeError('hedgebooks.hedgeops.io "x" is forbidden: User "system:serviceaccount:hedgeops:hedgeops"')

    c = Cluster()
    d = SignalDesk(forbidden, c.write, c.secret, RedisSeenSignals(redis_client), InMemoryJournal(), Metrics())
    out = await d.receive(*c.key, alert("u1"), NOW)
    assert out.http_status == 503 and "serviceaccount" not in json.dumps(out.body())

    async def no_secret(namespace: str, name: str) -> Mapping[str, str]:
        raise ConnectionError("api server down")

    d = SignalDesk(c.read, c.write, no_secret, RedisSeenSignals(redis_client), InMemoryJournal(), Metrics())
    out = await d.receive(*c.key, alert("u2"), NOW)
    assert out.http_status == 503 and "tv" not in out.body()["message"].split()  # the Secret's name is the owner's

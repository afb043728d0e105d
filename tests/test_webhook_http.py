"""The webhook over real HTTP (aiohttp on a loopback port, the desk on real Redis with the books in a dict):
what aiohttp decodes from the URL never reaches a lookup unless it is a Kubernetes name, every source is
rate-limited per book before anything is read, and a non-ASCII passphrase is an answer, not a 500."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp.web
import pytest
import redis.asyncio as aioredis

from hedgeops.operator.ratelimit import BURST, PER_MINUTE, SourceLimiter
from hedgeops.operator.webhook import serve, webhook_app
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.signals import MAX_BODY_BYTES

from .conftest import ROOT
from .runtime_fixtures import Monotonic
from .test_runtime_signals import NOW, Cluster, alert, desk

SECOND = timedelta(seconds=1)


@dataclass
class Served:
    cluster: Cluster
    port: int
    clock: Monotonic
    metrics: Metrics

    def post(self, path: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Sent byte for byte: http.client does not normalise or re-quote the path."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, json.loads(response.read()), dict(response.getheaders())
        finally:
            conn.close()


@pytest.fixture
async def served(redis_client: aioredis.Redis) -> AsyncIterator[Served]:
    c = Cluster(passphrase="mot-de-passe-élevé-✓")
    d, metrics, _ = desk(c, redis_client)
    clock = Monotonic()
    runner: aiohttp.web.AppRunner
    runner, port = await serve(webhook_app(d, lambda: NOW, SourceLimiter(per_minute=60, burst=5, monotonic=clock)),
                               "127.0.0.1", 0)
    try:
        yield Served(c, port, clock, metrics)
    finally:
        await runner.cleanup()


async def test_a_decoded_slash_never_reaches_a_lookup(served: Served) -> None:
    ns, name = served.cluster.key
    for path in (f"/tradingview/{ns}/..%2F..%2Fother%2Fhedgebooks%2F{name}",
                 f"/tradingview/{ns}/{name}%2Fstatus", f"/tradingview/..%2F{ns}/{name}"):
        code, body, _ = await asyncio.to_thread(served.post, path, alert("t1", passphrase="mot-de-passe-élevé-✓"))
        assert (code, body["outcome"], body["activeSignal"]) == (404, "Refused", None), (path, body)
    assert served.cluster.reads == [] and served.cluster.writes == 0


async def test_non_ascii_passphrase_is_an_answer_not_a_500(served: Served) -> None:
    path = "/tradingview/{}/{}".format(*served.cluster.key)
    code, body, _ = await asyncio.to_thread(served.post, path, alert("n1", passphrase="mot-de-passe-élevé-✗"))
    assert (code, body["outcome"]) == (404, "Refused")
    code, body, _ = await asyncio.to_thread(served.post, path, alert("n1", passphrase="mot-de-passe-élevé-✓"))
    assert (code, body["outcome"]) == (202, "Accepted") and body["activeSignal"]["id"] == "n1"


async def test_each_source_is_rate_limited_before_anything_is_read(served: Served) -> None:
    path = "/tradingview/default/nobody"
    codes = [(await asyncio.to_thread(served.post, path, alert(f"r{i}")))[0] for i in range(5)]
    assert codes == [404] * 5
    reads = len(served.cluster.reads)
    code, body, headers = await asyncio.to_thread(served.post, path, alert("r5"))
    assert (code, body["outcome"]) == (429, "RateLimited"), (code, body, headers)
    assert headers["Retry-After"] == "1" and "retry" in body["message"]
    assert len(served.cluster.reads) == reads  # refused before the API server was asked anything
    assert served.metrics.registry.get_sample_value("hedgeops_signals_total",
                                                    {"namespace": "", "name": "", "mode": "",
                                                     "outcome": "RateLimited"}) == 1
    served.clock.t += 1  # one token a second at 60 a minute
    assert (await asyncio.to_thread(served.post, path, alert("r6")))[0] == 404
    assert (await asyncio.to_thread(served.post, path, alert("r7")))[0] == 429


async def test_one_books_flood_never_uses_up_another_books_alerts(served: Served) -> None:
    """TradingView sends every tenant's alerts from the same few addresses (and without trusted proxies every
    request is the Ingress's): the limit is per source and book, so junk aimed at other names, or a burst at one
    book, leaves a genuine alert for this book its own bucket."""
    for i in range(10):
        await asyncio.to_thread(served.post, f"/tradingview/default/junk{i % 2}", alert(f"j{i}"))
    assert (await asyncio.to_thread(served.post, "/tradingview/default/junk0", alert("j10")))[0] == 429
    path = "/tradingview/{}/{}".format(*served.cluster.key)
    code, body, _ = await asyncio.to_thread(served.post, path, alert("g1", passphrase="mot-de-passe-élevé-✓"))
    assert (code, body["outcome"]) == (202, "Accepted")


async def test_a_strangers_flood_at_a_book_leaves_its_authenticated_sender_a_bucket_of_its_own(
        served: Served) -> None:
    """Without trusted proxies every caller is the Ingress: junk at the book used up the bucket its real alerts
    needed. A caller presenting the passphrase the book's last authenticated caller sent is a source of its own;
    one presenting another is not, and a vouched caller is still authenticated in full."""
    path = "/tradingview/{}/{}".format(*served.cluster.key)
    good = "mot-de-passe-élevé-✓"
    assert (await asyncio.to_thread(served.post, path, alert("v1", passphrase=good)))[0] == 202  # vouches
    codes = [(await asyncio.to_thread(served.post, path, alert(f"x{i}", passphrase="guess")))[0] for i in range(6)]
    assert codes == [404] * 4 + [429] * 2  # the stranger's bucket: 5 tokens, one spent by v1 from this source
    code, body, _ = await asyncio.to_thread(served.post, path, alert("v2", passphrase=good, at=NOW + SECOND))
    assert (code, body["outcome"]) == (202, "Accepted")
    assert (await asyncio.to_thread(served.post, path, alert("x9", passphrase="guess")))[0] == 429
    served.cluster.secrets["tv"]["passphrase"] = "rotated"  # rotated: the old one vouches once more, then is refused
    assert (await asyncio.to_thread(served.post, path, alert("v3", passphrase=good, at=NOW + 2 * SECOND)))[0] == 404
    assert (await asyncio.to_thread(served.post, path, alert("v4", passphrase=good)))[0] == 429


async def test_a_body_over_the_limit_is_413_counted_and_never_read_further(served: Served) -> None:
    path = "/tradingview/{}/{}".format(*served.cluster.key)
    code, body, _ = await asyncio.to_thread(served.post, path, b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert (code, body["outcome"], body["activeSignal"]) == (413, "TooLarge", None)
    assert served.cluster.reads == [] and served.cluster.writes == 0
    assert served.metrics.registry.get_sample_value("hedgeops_signals_total",
                                                    {"namespace": "", "name": "", "mode": "",
                                                     "outcome": "TooLarge"}) == 1
    code, body, _ = await asyncio.to_thread(served.post, path, alert("s1", passphrase="mot-de-passe-élevé-✓"))
    assert (code, body["outcome"]) == (202, "Accepted")  # a body within the limit is read as ever


def test_the_default_limit_is_the_readmes_30_a_minute_in_bursts_of_30() -> None:
    clock = Monotonic()
    limiter = SourceLimiter(monotonic=clock)
    assert [limiter.take("10.0.0.1") for _ in range(PER_MINUTE)] == [0] * PER_MINUTE == [0] * BURST
    assert limiter.take("10.0.0.1") == pytest.approx(60 / PER_MINUTE)  # the 31st waits for the next token
    clock.t += 60  # a minute refills 30 tokens
    assert [limiter.take("10.0.0.1") for _ in range(PER_MINUTE)] == [0] * PER_MINUTE
    assert limiter.take("10.0.0.1") > 0
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"429 `RateLimited` (more than {PER_MINUTE} requests a minute, bursts of {BURST}, from one source "
            "address for one book" in readme)
    assert f"413 `TooLarge` (body over {MAX_BODY_BYTES // 1024} KiB)" in readme


def test_the_limiter_keeps_a_bounded_map_of_sources() -> None:
    clock = Monotonic()
    limiter = SourceLimiter(per_minute=30, burst=2, max_sources=1000, monotonic=clock)
    assert [limiter.take("10.0.0.1") for _ in range(3)][:2] == [0, 0] and limiter.take("10.0.0.1") > 0
    for i in range(50_000):
        limiter.take(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter) == 1000
    clock.t += 120  # buckets refill to the burst, never beyond it
    assert [limiter.take("192.0.2.1") for _ in range(3)] == [0, 0, pytest.approx(2.0)]
    with pytest.raises(ValueError):
        SourceLimiter(per_minute=0)

"""The webhook behind an Ingress: only a trusted proxy is believed about X-Forwarded-For, so the rate limit
falls on each client instead of on the Ingress as a whole, and a client cannot pick its own bucket."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import AsyncIterator, Callable

import aiohttp.web
import pytest
import redis.asyncio as aioredis

from hedgeops.operator.ratelimit import SourceLimiter, client_address, parse_networks
from hedgeops.operator.webhook import serve, webhook_app

from .runtime_fixtures import Monotonic
from .test_runtime_signals import NOW, Cluster, desk

INGRESS = parse_networks("10.0.0.0/8, 127.0.0.1")


def test_only_a_trusted_peer_names_the_client() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", INGRESS) == "203.0.113.9"  # not our Ingress: ignored
    assert client_address("10.1.2.3", "198.51.100.1", INGRESS) == "198.51.100.1"
    # The client wrote the left part itself; the rightmost untrusted hop is what our Ingress saw.
    assert client_address("10.1.2.3", "1.1.1.1, 198.51.100.1, 10.9.9.9", INGRESS) == "198.51.100.1"
    assert client_address("10.1.2.3", "not-an-ip", INGRESS) == "10.1.2.3"
    assert client_address("10.1.2.3", None, INGRESS) == "10.1.2.3"
    assert client_address("10.1.2.3", "198.51.100.1", []) == "10.1.2.3"  # no proxies trusted: the peer


def test_bad_proxy_lists_are_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0/33'"):
        parse_networks("10.0.0.0/8, 10.0.0/33")


@pytest.fixture
async def behind_ingress(redis_client: aioredis.Redis) -> AsyncIterator[Callable[[str], int]]:
    d, _, _ = desk(Cluster(), redis_client)
    app = webhook_app(d, lambda: NOW, SourceLimiter(per_minute=60, burst=2, monotonic=Monotonic()),
                      trusted_proxies=INGRESS)
    runner: aiohttp.web.AppRunner
    runner, port = await serve(app, "127.0.0.1", 0)

    def post(client: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/tradingview/default/nobody", body=b"{}",
                         headers={"Content-Type": "application/json", "X-Forwarded-For": client})
            return conn.getresponse().status
        finally:
            conn.close()

    try:
        yield post
    finally:
        await runner.cleanup()


async def test_each_client_behind_the_ingress_has_its_own_bucket(behind_ingress: Callable[[str], int]) -> None:
    codes = [await asyncio.to_thread(behind_ingress, "198.51.100.1") for _ in range(3)]
    assert codes == [404, 404, 429]  # a burst of 2, then that client waits
    assert await asyncio.to_thread(behind_ingress, "198.51.100.2") == 404  # another client is not held back

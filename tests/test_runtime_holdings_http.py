"""Holdings source Http: a real HTTP server on loopback, read by dotted paths, refreshed on schedule, and a
book that never trades when the source cannot be read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp.web
import pytest
from pydantic import ValidationError

from hedgeops.api import HedgeBook
from hedgeops.api.hedgebook import HttpHoldings
from hedgeops.engine.hedge.held import HoldingsUnavailable
from hedgeops.engine.hedge.holdings import HoldingsDocumentError, units_from_document
from hedgeops.runtime.holdings_http import HttpHoldingsSource

from .runtime_fixtures import START, Rig, book, policy, rig

D = Decimal


class Source:
    """A JSON endpoint whose answer the test sets."""

    def __init__(self) -> None:
        self.doc: Any = {"data": {"pool": [{"sol": "100"}, {"eth": 3}]}}
        self.status = 200
        self.raw: bytes | None = None
        self.hits = 0
        self.url = ""
        self.port = 0
        self.redirect = ""

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.hits += 1
        if self.redirect:
            raise aiohttp.web.HTTPFound(self.redirect)
        if self.raw is not None:
            return aiohttp.web.Response(body=self.raw, status=self.status)
        return aiohttp.web.json_response(self.doc, status=self.status)


@pytest.fixture
async def source() -> AsyncIterator[Source]:
    src = Source()
    app = aiohttp.web.Application()
    app.router.add_get("/holdings", src.handle)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    src.port = port
    src.url = f"http://127.0.0.1:{port}/holdings?token=s3cr3t"
    yield src
    await runner.cleanup()


def http_book(src: Source, refresh: int = 600) -> HedgeBook:
    return book(holdings={"source": "Http", "http": {"url": src.url, "refreshSeconds": refresh,
                                                     "paths": {"SOL": "data.pool.0.sol", "ETH": "data.pool.1.eth"}}})


def trusting_rig() -> Rig:
    """A rig whose Http holdings may read loopback, as local mode's may (the test server is on loopback): the
    operator's setting allows private addresses only, never loopback."""
    r = rig()
    r.reconciler.s.http_holdings = HttpHoldingsSource(allow_private=True, allow_loopback=True)
    return r


async def step(r: Rig, b: HedgeBook) -> HedgeBook:
    result = await r.reconciler.reconcile(b, r.clock.now(), None, policy())
    return b.model_copy(update={"status": result.status})


def ready(b: HedgeBook) -> tuple[str, str, str]:
    assert b.status is not None
    c = next(c for c in b.status.conditions if c.type == "Ready")
    return c.status.value, c.reason, c.message


async def positions(r: Rig) -> dict[str, Decimal]:
    venue = r.venues.paper("okx", "b1")
    assert venue is not None
    snap = await venue.snapshot(["SOL/USDT:USDT", "ETH/USDT:USDT"])
    return {s: p.qty for s, p in snap.positions.items()}


async def test_the_book_hedges_what_the_endpoint_says_and_refreshes_on_schedule(source: Source) -> None:
    r = trusting_rig()
    b = await step(r, http_book(source))
    assert ready(b)[:2] == ("True", "Reconciled")
    assert await positions(r) == {"SOL/USDT:USDT": D(-100), "ETH/USDT:USDT": D(-3)}
    # The pool grows; the cached answer is used until refreshSeconds have passed.
    source.doc = {"data": {"pool": [{"sol": 110.5}, {"eth": "3"}]}}
    r.clock.advance(300)
    b = await step(r, b)
    assert source.hits == 1 and (await positions(r))["SOL/USDT:USDT"] == D(-100)
    r.clock.advance(300)
    b = await step(r, b)
    assert source.hits == 2 and (await positions(r))["SOL/USDT:USDT"] == D("-110.50")


@pytest.mark.parametrize(("status", "raw", "doc", "says"), [
    (500, None, None, "HTTP 500"),
    (200, b"<html>", None, "not JSON"),
    (200, b"[" * 100_000, None, "not JSON"),  # RecursionError escaped every cycle: a traceback, no condition
    (200, None, {"data": {"pool": [{"sol": 1}]}}, "ETH: path 'data.pool.1.eth' not found"),
    (200, None, {"data": {"pool": [{"sol": {"x": 1}}, {"eth": 1}]}}, "SOL: 'data.pool.0.sol' is an object"),
])
async def test_an_unreadable_source_is_a_condition_and_no_order(source: Source, status: int, raw: bytes | None,
                                                                 doc: Any, says: str) -> None:
    source.status, source.raw = status, raw
    if doc is not None:
        source.doc = doc
    r = trusting_rig()
    b = await step(r, http_book(source))
    state, reason, message = ready(b)
    assert (state, reason) == ("False", "HoldingsUnavailable") and says in message, message
    assert "s3cr3t" not in message and "/holdings" in message  # the query (a token) never reaches status
    venue = r.venues.paper("okx", "b1")
    assert venue is None or not venue.account.orders


@pytest.mark.parametrize("url", ["http://user:s3cr3t@127.0.0.1:1/holdings", "http://exämple..com/h?token=s3cr3t",
                                 "http://example.com:99999/holdings?token=s3cr3t"])
async def test_a_bad_url_is_a_condition_that_never_shows_its_credentials(url: str) -> None:
    """aiohttp's error text repeats the URL (its password and query): status and events get the class only. A port
    out of range raised ValueError outside any handler: a traceback every cycle."""
    r = trusting_rig()
    b = await step(r, book(holdings={"source": "Http", "http": {"url": url, "paths": {"SOL": "a", "ETH": "b"}}}))
    state, reason, message = ready(b)
    assert (state, reason) == ("False", "HoldingsUnavailable") and "s3cr3t" not in message, message


async def test_a_dead_source_fails_closed_even_after_it_answered_once(source: Source) -> None:
    r = trusting_rig()
    b = await step(r, http_book(source, refresh=60))
    source.status = 503
    source.doc = {"data": {"pool": [{"sol": 500}, {"eth": 3}]}}
    r.clock.advance(300)
    b = await step(r, b)
    assert ready(b)[1] == "HoldingsUnavailable"
    assert (await positions(r))["SOL/USDT:USDT"] == D(-100)  # nothing traded on a stale or unknown answer


def test_dotted_paths_read_objects_and_arrays_and_name_what_failed() -> None:
    doc = {"a": [{"b": "1.5"}, {"c": 2}], "n": None, "t": True}
    assert units_from_document(doc, {"X": "a.0.b", "Y": "a.1.c", "Z": "a.-1.c"}) == {"X": D("1.5"), "Y": D(2),
                                                                                    "Z": D(2)}
    for paths, says in (({"X": "a.5.b"}, "not found"), ({"X": "n"}, "is null"), ({"X": "t"}, "is a boolean"),
                        ({"X": "a"}, "is an array")):
        with pytest.raises(HoldingsDocumentError, match=says):
            units_from_document(doc, paths)
    with pytest.raises(HoldingsDocumentError, match="not a number"):
        units_from_document({"x": "abc"}, {"X": "x"})
    with pytest.raises(HoldingsDocumentError, match="finite"):
        units_from_document({"x": "NaN"}, {"X": "x"})


@pytest.mark.parametrize(("doc", "says"), [
    ({"a": {"s": "SUPERSECRET-token"}}, "SOL: 'a.s' is a string, not a number"),
    ({"a": {"s": {"password": "SUPERSECRET"}}}, "SOL: 'a.s' is an object, not a number"),
    ({"a": {"s": ["SUPERSECRET"]}}, "SOL: 'a.s' is an array, not a number"),
    ({"a": {"s": "Infinity"}}, "SOL: 'a.s' is a string holding infinity or NaN, not a finite number"),
])
def test_a_value_that_is_not_a_number_is_named_by_its_json_type_never_shown(doc: Any, says: str) -> None:
    """An Http source pointed at an internal service must not echo its values into status and events: the message
    names the path and the JSON type found there."""
    with pytest.raises(HoldingsDocumentError) as refused:
        units_from_document(doc, {"SOL": "a.s"})
    assert str(refused.value) == says and "SUPERSECRET" not in says


@pytest.mark.parametrize("url", ["http://[::1/holdings?token=s3cr3t", "http://[s3cr3t/holdings"])
async def test_an_unparseable_url_is_a_condition_not_a_traceback(url: str) -> None:
    """`http://[::1` passes the CRD's pattern; urlsplit raised ValueError outside any handler, every tick. The
    models refuse it now, but an object stored before (or applied without them) still gets a condition."""
    source = HttpHoldings.model_construct(url=url, paths={"SOL": "a"}, refreshSeconds=60)
    with pytest.raises(HoldingsUnavailable, match="does not parse") as refused:
        await HttpHoldingsSource().units(source, START)
    assert "s3cr3t" not in str(refused.value)
    with pytest.raises(ValidationError) as invalid:
        HttpHoldings.model_validate({"url": url, "paths": {"SOL": "a"}})
    assert "does not parse" in str(invalid.value.errors()[0]["msg"])
    assert all("s3cr3t" not in str(e["msg"]) for e in invalid.value.errors())


def http_source(url: str) -> HttpHoldings:
    return HttpHoldings.model_validate({"url": url, "paths": {"SOL": "data.pool.0.sol"}})


async def test_a_private_source_is_refused_by_default_before_any_request(source: Source) -> None:
    """The default source never reaches loopback: the book is not Ready and the server saw nothing."""
    r = rig()
    b = await step(r, http_book(source))
    state, reason, message = ready(b)
    assert (state, reason) == ("False", "HoldingsUnavailable") and "loopback" in message, message
    assert "HEDGEOPS_HTTP_HOLDINGS_ALLOW_PRIVATE" in message and "s3cr3t" not in message
    assert source.hits == 0


@pytest.mark.parametrize(("host", "says"), [
    ("127.0.0.1", "loopback"),
    ("localhost", "loopback"),  # a name is resolved and every address it resolves to is checked
    ("[::1]", "loopback"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service: credentials for the node's role
    ("[fe80::1]", "link-local"),
    ("10.1.2.3", "private"),
    ("172.16.0.9", "private"),
    ("192.168.1.1", "private"),
    ("[fc00::1]", "private"),
    ("[::ffff:10.0.0.1]", "private"),
    ("[64:ff9b::a00:1]", "private"),  # NAT64: the cluster's translator forwards it to 10.0.0.1
    ("[64:ff9b::a9fe:a9fe]", "link-local"),  # ... and this to the metadata service
    ("[64:ff9b:1::1]", "local-use NAT64"),
    ("[2002:a9fe:a9fe::1]", "link-local"),  # 6to4 carrying 169.254.169.254
    ("0.0.0.0", "unspecified"),
    ("[::]", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "multicast"),
])
async def test_private_link_local_and_special_destinations_are_refused(source: Source, host: str,
                                                                       says: str) -> None:
    url = f"http://{host}:{source.port}/holdings?token=s3cr3t"
    with pytest.raises(HoldingsUnavailable) as refused:
        await HttpHoldingsSource(timeout_s=2).units(http_source(url), START)
    message = str(refused.value)
    assert says in message and "refused" in message and "s3cr3t" not in message, message
    assert source.hits == 0


@pytest.mark.parametrize(("host", "says"), [
    ("127.0.0.1", "loopback"),  # the operator's own ports (metrics, webhook) and a sidecar's
    ("localhost", "loopback"),
    ("[::1]", "loopback"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("[fe80::1]", "link-local"),
    ("[fd00:ec2::254]", "metadata"),  # AWS's IPv6 metadata service: unique-local, yet never "private"
    ("[64:ff9b::a9fe:a9fe]", "link-local"),  # NAT64 to the metadata service
    ("[2002:7f00:1::1]", "loopback"),  # 6to4 carrying 127.0.0.1
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "loopback"),  # Teredo, its client 127.0.0.1 (bits inverted)
    ("[::7f00:1]", "IPv4-compatible"),
    ("100.100.100.200", "metadata"),  # Alibaba Cloud's metadata service
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
])
async def test_allowing_private_addresses_never_allows_loopback_link_local_or_metadata(
        source: Source, host: str, says: str) -> None:
    """HEDGEOPS_HTTP_HOLDINGS_ALLOW_PRIVATE=true is for an in-cluster holdings service on a private address: it
    gave a plain connector, so a book reached the operator's own ports and the cloud metadata service."""
    url = f"http://{host}:{source.port}/holdings?token=s3cr3t"
    with pytest.raises(HoldingsUnavailable) as refused:
        await HttpHoldingsSource(timeout_s=2, allow_private=True).units(http_source(url), START)
    message = str(refused.value)
    assert says in message and "refused" in message and "s3cr3t" not in message, message
    assert "always" in message and "private" not in message.split(": ")[1], message
    assert source.hits == 0


@pytest.mark.parametrize("address", ["10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.7", "fd12:3456::1",
                                     "::ffff:10.0.0.1", "64:ff9b::a00:1"])
def test_allowing_private_addresses_allows_rfc1918_and_unique_local(address: str) -> None:
    from hedgeops.runtime.destinations import refusal

    assert refusal(address) is not None
    assert refusal(address, allow_private=True) is None


async def test_a_private_name_is_checked_at_resolution_when_private_is_allowed(
        source: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that resolves to loopback is refused when private addresses are allowed: the resolver and the
    connection's address are checked in every mode."""
    import asyncio
    import socket

    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def to_loopback(host: object, port: object, *args: Any, **kwargs: Any) -> Any:
        if host != "holdings.internal":
            return await real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(loop, "getaddrinfo", to_loopback)
    with pytest.raises(HoldingsUnavailable, match="loopback"):
        await HttpHoldingsSource(allow_private=True).units(
            http_source(f"http://holdings.internal:{source.port}/holdings"), START)
    assert source.hits == 0


async def test_a_loopback_address_in_a_short_form_is_not_fetched(source: Source) -> None:
    with pytest.raises(HoldingsUnavailable):
        await HttpHoldingsSource().units(http_source(f"http://127.1:{source.port}/holdings"), START)
    assert source.hits == 0


async def test_a_name_is_resolved_once_and_the_connection_goes_to_the_checked_address(
        source: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: a name that answers a public address when checked and loopback a moment later must not
    reach loopback: the connection uses the addresses that were checked, not a second lookup."""
    import asyncio
    import socket

    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    answers: list[str] = []

    async def rebinding(host: object, port: object, *args: Any, **kwargs: Any) -> Any:
        if host != "holdings.example":
            return await real(host, port, *args, **kwargs)
        answers.append("public" if not answers else "loopback")
        ip = "93.184.215.14" if answers[-1] == "public" else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    url = f"http://holdings.example:{source.port}/holdings"
    with pytest.raises(HoldingsUnavailable):
        await HttpHoldingsSource(timeout_s=1).units(http_source(url), START)  # 93.184.215.14 is unreachable here
    assert source.hits == 0 and answers == ["public"]


async def test_redirects_are_not_followed(source: Source) -> None:
    """A redirect could lead anywhere (the metadata address): it is a failure, not a hop."""
    source.redirect = "/holdings"
    with pytest.raises(HoldingsUnavailable, match="redirect"):
        await HttpHoldingsSource(allow_private=True, allow_loopback=True).units(http_source(source.url), START)
    assert source.hits == 1


def test_the_setting_allows_private_destinations_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from hedgeops.operator.settings import OperatorSettings

    monkeypatch.delenv("HEDGEOPS_HTTP_HOLDINGS_ALLOW_PRIVATE", raising=False)
    assert OperatorSettings.from_env().http_holdings_allow_private is False
    monkeypatch.setenv("HEDGEOPS_HTTP_HOLDINGS_ALLOW_PRIVATE", "true")
    assert OperatorSettings.from_env().http_holdings_allow_private is True

"""The webhook's book read through kopf's session against an API server on a loopback port answering as the real
one does: a namespace the operator may not read (403 under watchNamespaces) is no such book, asked once. kopf's
default backoffs retried that 403 for 54 s with 9 API calls per anonymous request, and the answer echoed the
API's message (the operator's service account, which namespaces it watches)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import kopf
import pytest
from kopf._cogs.clients import auth as kopf_auth
from kopf._cogs.structs import credentials

from hedgeops.operator.gateway import WEBHOOK_READ_TIMEOUT, book_gateway
from hedgeops.operator.webhook import serve
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.signals import InMemorySeenSignals, SignalDesk

from .conftest import ROOT
from .test_runtime_signals import NOW, alert

FORBIDDEN = 'hedgebooks.hedgeops.io "x" is forbidden: User "system:serviceaccount:hedgeops:hedgeops" cannot get'


class ApiServer:
    def __init__(self) -> None:
        self.hits: list[str] = []

    async def book(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        ns = request.match_info["ns"]
        self.hits.append(ns)
        if ns == "forbidden":
            return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                              "message": FORBIDDEN, "reason": "Forbidden", "code": 403}, status=403)
        return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                          "message": "not found", "reason": "NotFound", "code": 404}, status=404)


@pytest.fixture
async def api() -> AsyncIterator[tuple[ApiServer, Any]]:
    server = ApiServer()
    web = aiohttp.web.Application()
    web.router.add_get("/apis/hedgeops.io/v1alpha1/namespaces/{ns}/hedgebooks/{name}", server.book)
    runner, port = await serve(web, "127.0.0.1", 0)
    vault = credentials.Vault()
    await vault.populate({"k": credentials.ConnectionInfo(server=f"http://127.0.0.1:{port}", token="t")})
    kopf_auth.vault_var.set(vault)
    try:
        yield server, book_gateway(kopf.OperatorSettings(), logging.getLogger("test"))
    finally:
        await runner.cleanup()


async def test_a_forbidden_namespace_is_no_such_book_asked_once(api: tuple[ApiServer, Any]) -> None:
    server, (read, write) = api
    started = time.monotonic()
    assert await read("forbidden", "x") is None and await read("default", "nobody") is None
    assert server.hits == ["forbidden", "default"] and time.monotonic() - started < 5
    assert WEBHOOK_READ_TIMEOUT.total == 5

    async def no_secret(namespace: str, name: str) -> dict[str, str]:
        raise KeyError(name)

    desk = SignalDesk(read, write, no_secret, InMemorySeenSignals(), InMemoryJournal(), Metrics())
    out = await desk.receive("forbidden", "x", alert("f1"), NOW)
    assert (out.http_status, out.body()["outcome"]) == (404, "Refused") and "serviceaccount" not in str(out.body())


def test_the_watch_keeps_the_books_taking_signals() -> None:
    """The operator's `known` set (handlers.signal_books): added while enabled with a Secret, gone when switched
    off or deleted; the README states the journal budget it documents."""
    from hedgeops.operator.handlers import track_signal_book
    from hedgeops.runtime.signals import REFUSALS_JOURNALLED_PER_MINUTE

    def event(kind: str | None, enabled: bool, secret: bool = True) -> dict[str, Any]:
        tv: dict[str, Any] = {"enabled": enabled, **({"secretRef": {"name": "tv"}} if secret else {})}
        return {"type": kind, "object": {"metadata": {"namespace": "team-a", "name": "jlp"},
                                         "spec": {"signals": {"tradingView": tv}}}}

    books: set[str] = set()
    track_signal_book(books, event(None, True))  # the initial listing
    assert books == {"team-a/jlp"}
    track_signal_book(books, event("MODIFIED", False))
    assert books == set()
    track_signal_book(books, event("ADDED", True, secret=False))
    assert books == set()
    track_signal_book(books, event("MODIFIED", True))
    track_signal_book(books, event("DELETED", True))
    assert books == set()
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"at most {REFUSALS_JOURNALLED_PER_MINUTE} a minute per book" in readme
    assert "once, within 5 s" in readme

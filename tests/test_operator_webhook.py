"""The TradingView webhook end to end: kopf on kmock, the operator's HTTP endpoint, the passphrase from a real
Secret, de-duplication in real Redis. An accepted signal lands in status.activeSignal (the spec is untouched)
and the book trades to it at once; refused requests get their 4xx and never trade; a caller without the
passphrase gets one answer whatever the reason, and no URL reaches another namespace's book."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from .conftest import free_port
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, SECRETS, example, status_of, wait_for

pytestmark = pytest.mark.slow
PASS = "tv-webhook-passphrase"
PORT = free_port()


@pytest.fixture
def operator_env() -> dict[str, str]:
    # 60x: a signal's 5-minute freshness window is 5 wall seconds, long enough to be sent.
    return {"HEDGEOPS_WEBHOOK_PORT": str(PORT), "HEDGEOPS_REPLAY_SPEED": "60"}


def post(path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Sent byte for byte (http.client neither normalises nor re-quotes the path: `..%2F` arrives as sent)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def secret(namespace: str, passphrase: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tv", "namespace": namespace},
            "type": "Opaque", "data": {"passphrase": base64.b64encode(passphrase.encode()).decode()}}


def raw_book(kube: ClusterEmulator, namespace: str, name: str) -> dict[str, Any]:
    return next(o.raw for (res, ns, n), o in kube.objects.items()
                if res.plural == "hedgebooks" and ns == namespace and n == name)


def target(status: dict[str, Any], asset: str) -> tuple[float, float]:
    e = next(e for e in status.get("exposures", []) if e["asset"] == asset)
    return float(e["targetHedgeQty"]), float(e["hedgeQty"])


async def test_signal_overrides_the_hedge_ratio_and_refusals_never_trade(cluster: tuple[ClusterEmulator, str],
                                                                         operator: dict[str, Any]) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=secret("default", PASS))).status == 201
    assert (await kube.post(POLICIES, json=example("rebalancepolicy-compact.yaml"))).status == 201
    book = example("hedgebook-spot.yaml")  # SOL 25 hedged 70%, ETH 1.2 hedged 50%
    book["spec"]["signals"] = {"tradingView": {"enabled": True, "secretRef": {"name": "tv"}}}
    assert (await kube.post(BOOKS, json=book)).status == 201
    hedged = await wait_for(lambda: (s := status_of(kube, "hedgebooks", "spot-bag")).get("rebalancesTotal", 0) >= 1
                            and s, what="the first hedge")
    assert target(hedged, "SOL")[0] == pytest.approx(-17.5)

    def alert(sid: str, passphrase: str = PASS, **extra: Any) -> bytes:
        now = datetime.fromisoformat(status_of(kube, "hedgebooks", "spot-bag")["lastCheck"])  # replay time
        return json.dumps({"id": sid, "passphrase": passphrase, "time": now.isoformat(), "hedgeRatio": 1,
                           "ttlSeconds": 86400, **extra}).encode()

    path = "/tradingview/default/spot-bag"
    # Wrong passphrase, a body with none, a book that does not exist: one answer (nothing to probe).
    wrong = await asyncio.to_thread(post, path, alert("s1", passphrase="nope"))
    garbage = await asyncio.to_thread(post, path, b"close all now")
    missing = await asyncio.to_thread(post, "/tradingview/default/nobody", alert("s1"))
    assert wrong == garbage == missing and wrong[0] == 404 and wrong[1]["outcome"] == "Refused"
    assert "activeSignal" not in status_of(kube, "hedgebooks", "spot-bag") or \
        status_of(kube, "hedgebooks", "spot-bag")["activeSignal"] is None

    code, accepted = await asyncio.to_thread(post, path, alert("s1"))
    assert (code, accepted["outcome"]) == (202, "Accepted"), accepted
    code, dup = await asyncio.to_thread(post, path, alert("s1"))
    assert (code, dup["outcome"], dup["activeSignal"]) == (409, "Duplicate", None)  # the signal only with a 202

    # The book trades to the signal's hedge ratio (1) on its next tick, not at its next policy interval.
    full = await wait_for(lambda: (s := status_of(kube, "hedgebooks", "spot-bag"))
                          and target(s, "SOL") == (-25.0, -25.0) and s, timeout=30, what="fully hedged by the signal")
    assert full["activeSignal"]["id"] == "s1" and target(full, "ETH")[0] == pytest.approx(-1.2)
    stored = next(o.raw for (res, _, name), o in kube.objects.items() if res.plural == "hedgebooks")
    assert stored["spec"]["objective"]["hedgeRatio"] == 0.7  # git owns the spec; the signal lives in status
    assert PASS not in json.dumps(stored)

    entries = await operator["redis"].xrange("hedgeops:journal:hedgebook:default/spot-bag")
    outcomes = [json.loads(f[b"e"])["outcome"] for _, f in entries if json.loads(f[b"e"])["type"] == "signal"]
    assert outcomes == ["Unauthenticated", "Malformed", "Accepted", "Duplicate"]
    url = f"http://127.0.0.1:{operator['metrics_port']}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'hedgeops_signals_total{mode="Paper",name="spot-bag",namespace="default",outcome="Accepted"} 1.0' in text
    assert 'hedgeops_signals_total{mode="",name="",namespace="",outcome="UnknownBook"} 1.0' in text


async def test_no_url_reaches_another_namespaces_book(cluster: tuple[ClusterEmulator, str],
                                                      operator: dict[str, Any]) -> None:
    """`..%2F` decoded by aiohttp used to walk the API path: the attacker's own passphrase (in a Secret named
    like the victim's) set the victim's status.activeSignal. Refused now, before any lookup, with the same
    answer as an unknown book, a book whose signals are off, or a wrong passphrase."""
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=secret("default", PASS))).status == 201  # the attacker's
    assert (await kube.post(POLICIES, json=example("rebalancepolicy-compact.yaml"))).status == 201
    mine = example("hedgebook-spot.yaml")
    mine["spec"]["signals"] = {"tradingView": {"enabled": True, "secretRef": {"name": "tv"}}}
    assert (await kube.post(BOOKS, json=mine)).status == 201
    victim_books = BOOKS.replace("/default/", "/victim/")
    assert (await kube.post(SECRETS.replace("/default/", "/victim/"), json=secret("victim", "victim-only"))).status \
        == 201
    for name, enabled in (("vbook", True), ("vquiet", False)):
        book = example("hedgebook-spot.yaml")
        book["metadata"] = {"name": name, "namespace": "victim"}
        book["spec"]["exchange"]["account"] = name
        book["spec"]["signals"] = {"tradingView": {"enabled": enabled, "secretRef": {"name": "tv"}}}
        assert (await kube.post(victim_books, json=book)).status == 201
    checked = await wait_for(lambda: status_of(kube, "hedgebooks", "spot-bag").get("lastCheck"), what="a cycle")
    now = datetime.fromisoformat(checked)

    def alert(sid: str, passphrase: str = PASS) -> bytes:
        return json.dumps({"id": sid, "passphrase": passphrase, "time": now.isoformat(), "hedgeRatio": 0,
                           "ttlSeconds": 86400}).encode()

    answers = {
        "traversal": await asyncio.to_thread(
            post, "/tradingview/default/..%2F..%2Fvictim%2Fhedgebooks%2Fvbook", alert("x1")),
        "traversal in the namespace": await asyncio.to_thread(
            post, "/tradingview/default%2F..%2Fvictim/vbook", alert("x2")),
        "victim's book, attacker's passphrase": await asyncio.to_thread(post, "/tradingview/victim/vbook",
                                                                        alert("x3")),
        "signals off": await asyncio.to_thread(post, "/tradingview/victim/vquiet", alert("x4", "victim-only")),
        "unknown": await asyncio.to_thread(post, "/tradingview/victim/nobody", alert("x5")),
        "wrong passphrase": await asyncio.to_thread(post, "/tradingview/default/spot-bag", alert("x6", "nope")),
    }
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, answers
    code, body = answers["traversal"]
    assert (code, body["outcome"], body["activeSignal"]) == (404, "Refused", None)
    await asyncio.sleep(1)  # several ticks: nothing may have landed late either
    for name in ("vbook", "vquiet"):
        assert (raw_book(kube, "victim", name).get("status") or {}).get("activeSignal") is None
    assert (raw_book(kube, "default", "spot-bag").get("status") or {}).get("activeSignal") is None
    # The victim's own passphrase on the victim's own path still works.
    code, ok = await asyncio.to_thread(post, "/tradingview/victim/vbook", alert("v1", "victim-only"))
    assert (code, ok["outcome"]) == (202, "Accepted")
    assert raw_book(kube, "victim", "vbook")["status"]["activeSignal"]["id"] == "v1"

"""The TradingView webhook end to end: kopf on kmock, the operator's HTTP endpoint, the passphrase from a real
Secret, de-duplication in real Redis. An accepted signal lands in status.activeSignal (the spec is untouched)
and the book trades to it at once; refused requests get their 4xx and never trade."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
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
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def target(status: dict[str, Any], asset: str) -> tuple[float, float]:
    e = next(e for e in status.get("exposures", []) if e["asset"] == asset)
    return float(e["targetHedgeQty"]), float(e["hedgeQty"])


async def test_signal_overrides_the_hedge_ratio_and_refusals_never_trade(cluster: tuple[ClusterEmulator, str],
                                                                         operator: dict[str, Any]) -> None:
    kube, _ = cluster
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tv", "namespace": "default"},
              "type": "Opaque", "data": {"passphrase": base64.b64encode(PASS.encode()).decode()}}
    assert (await kube.post(SECRETS, json=secret)).status == 201
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
    code, wrong = await asyncio.to_thread(post, path, alert("s1", passphrase="nope"))
    assert (code, wrong["outcome"]) == (401, "Unauthenticated")
    code, garbage = await asyncio.to_thread(post, path, b"close all now")
    assert (code, garbage["outcome"]) == (400, "Malformed")
    code, missing = await asyncio.to_thread(post, "/tradingview/default/nobody", alert("s1"))
    assert (code, missing["outcome"]) == (404, "UnknownBook")
    assert "activeSignal" not in status_of(kube, "hedgebooks", "spot-bag") or \
        status_of(kube, "hedgebooks", "spot-bag")["activeSignal"] is None

    code, accepted = await asyncio.to_thread(post, path, alert("s1"))
    assert (code, accepted["outcome"]) == (202, "Accepted"), accepted
    code, dup = await asyncio.to_thread(post, path, alert("s1"))
    assert (code, dup["outcome"]) == (409, "Duplicate")

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
    assert 'hedgeops_signals_total{book="spot-bag",namespace="default",outcome="Accepted"} 1.0' in text
    assert 'hedgeops_signals_total{book="",namespace="",outcome="UnknownBook"} 1.0' in text

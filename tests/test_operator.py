"""kopf for real against the kmock Kubernetes emulator: a RebalancePolicy and a Paper HedgeBook are applied;
status appears; replayed price moves breach the band and the rebalance shows in status, journal (Redis)
and metrics; bad input becomes Ready=False with a reason and never an order."""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from .conftest import ROOT, free_port
from .kube_emulator import ClusterEmulator

pytestmark = pytest.mark.slow
BOOKS = "/apis/hedgeops.io/v1alpha1/namespaces/default/hedgebooks"
POLICIES = "/apis/hedgeops.io/v1alpha1/namespaces/default/rebalancepolicies"


def example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "manifests" / "examples" / name).read_text()))


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[ClusterEmulator, str]]:
    import kmock

    async with ClusterEmulator() as emulator, kmock.Server(emulator) as server:
        emulator.declare_crds(ROOT / "crds")
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "emu",
            "clusters": [{"name": "emu", "cluster": {"server": str(server.url).rstrip("/")}}],
            "users": [{"name": "emu", "user": {"token": "test"}}],
            "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "emu"}}],
        }))
        yield emulator, str(kubeconfig)


@pytest.fixture
async def operator(cluster: tuple[ClusterEmulator, str], redis_url: str,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    """The real operator (hedgeops.operator.handlers) on kopf, in this event loop, logging in through the
    kubeconfig like it would against a cluster. Replay runs at 3000x: one wall second = 50 minutes."""
    import kopf

    _, kubeconfig = cluster
    port = free_port()
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setenv("HEDGEOPS_REDIS_URL", redis_url)
    monkeypatch.setenv("HEDGEOPS_METRICS_PORT", str(port))
    monkeypatch.setenv("HEDGEOPS_METRICS_ADDR", "127.0.0.1")
    monkeypatch.setenv("HEDGEOPS_TICK_SECONDS", "0.2")
    monkeypatch.setenv("HEDGEOPS_REPLAY_START", "2025-03-01T00:00:00")
    monkeypatch.setenv("HEDGEOPS_REPLAY_SPEED", "3000")
    # A fresh registry and a fresh import: the handlers read their settings from the environment at import.
    registry = kopf.OperatorRegistry()
    previous = kopf.get_default_registry()
    kopf.set_default_registry(registry)
    try:
        sys.modules.pop("hedgeops.operator.handlers", None)
        importlib.import_module("hedgeops.operator.handlers")
    finally:
        kopf.set_default_registry(previous)
    # kopf treats every task created after its start-up as its own and cancels them all when it stops, so it
    # gets its own thread and event loop (as kopf.testing.KopfRunner does); the emulator stays in this loop.
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(kopf.operator(registry=registry, clusterwide=True, standalone=True, stop_flag=stop))
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, name="kopf-operator", daemon=True)
    thread.start()
    try:
        yield {"metrics_port": port, "redis": client}
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 30)
        await client.aclose()
    assert not thread.is_alive(), "the operator did not stop within 30 s"
    assert not failure, f"the operator failed: {failure[0]!r}"


async def wait_for(fn: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = fn()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(emulator: ClusterEmulator, plural: str, name: str) -> dict[str, Any]:
    key = (f"hedgeops.io/v1alpha1/{plural}", "default", name)
    for (res, ns, n), obj in emulator.objects.items():
        if f"{res.group}/{res.version}/{res.plural}" == key[0] and ns == "default" and n == name:
            return dict(obj.raw.get("status") or {})
    return {}


def ready(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)


async def test_hedgebook_reconciled_end_to_end(cluster: tuple[ClusterEmulator, str],
                                               operator: dict[str, Any]) -> None:
    emulator, _ = cluster
    policy = example("rebalancepolicy-adaptive.yaml")
    book = example("hedgebook-jlp.yaml")
    assert (await emulator.post(POLICIES, json=policy)).status == 201
    assert (await emulator.post(BOOKS, json=book)).status == 201

    status = await wait_for(lambda: (s := status_of(emulator, "hedgebooks", "jlp")).get("rebalancesTotal", 0) >= 3
                            and s, timeout=60, what="three rebalances")
    assert ready(status)["status"] == "True"  # type: ignore[index]
    assert {e["asset"] for e in status["exposures"]} == {"SOL", "ETH", "BTC"}
    assert status["observedGeneration"] == 1
    assert status["lastRebalance"]["reason"] in ("AssetDeviation", "TotalDeviation", "StaleDeviation",
                                                 "EmergencyAssetDeviation", "EmergencyTotalDeviation")
    assert all(e["bandRatio"] > 0 for e in status["exposures"])  # the adaptive bands in force are reported
    policy_status = status_of(emulator, "rebalancepolicies", "adaptive")
    assert ready(policy_status)["reason"] == "Valid"  # type: ignore[index]

    # Journal in Redis: plans, orders, fills, rebalances, each with a fencing token.
    entries = await operator["redis"].xrange("hedgeops:journal:hedgebook:default/jlp")
    kinds = [yaml.safe_load(f[b"e"])["type"] for _, f in entries]
    assert kinds.count("rebalance") >= 3 and "plan" in kinds and "order" in kinds

    # Events were posted for the rebalances.
    events = [o.raw for (res, _, _), o in emulator.objects.items() if res.plural == "events"]
    assert any(e.get("reason") == "Rebalanced" for e in events)

    # Metrics.
    url = f"http://127.0.0.1:{operator['metrics_port']}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'hedgeops_exposure_quote{asset="SOL",book="jlp",namespace="default"}' in text
    assert 'hedgeops_deviation_ratio{asset="BTC",book="jlp",namespace="default"}' in text
    assert "hedgeops_rebalances_total{" in text


async def test_bad_input_is_a_condition_not_a_crash_loop(cluster: tuple[ClusterEmulator, str],
                                                         operator: dict[str, Any]) -> None:
    emulator, _ = cluster
    orphan = example("hedgebook-spot.yaml")
    orphan["metadata"]["name"] = "orphan"
    orphan["spec"]["policyRef"]["name"] = "missing"
    unknown = example("hedgebook-spot.yaml")
    unknown["metadata"]["name"] = "unknown-symbol"
    unknown["spec"]["holdings"]["static"] = {"DOGE": 1000}
    unknown["spec"]["objective"] = {"hedgeRatio": 1}
    unknown["spec"]["legs"] = [{"asset": "DOGE", "symbol": "DOGE/USDT:USDT"}]
    unknown["spec"]["policyRef"]["name"] = "compact"
    await emulator.post(POLICIES, json=example("rebalancepolicy-compact.yaml"))
    for body in (orphan, unknown):
        assert (await emulator.post(BOOKS, json=body)).status == 201
    s1 = await wait_for(lambda: ready(status_of(emulator, "hedgebooks", "orphan")), what="orphan status")
    s2 = await wait_for(lambda: ready(status_of(emulator, "hedgebooks", "unknown-symbol")), what="doge status")
    assert (s1["status"], s1["reason"]) == ("False", "PolicyNotFound")
    assert (s2["status"], s2["reason"]) == ("False", "UnknownSymbol") and "DOGE/USDT:USDT" in s2["message"]
    assert await operator["redis"].xlen("hedgeops:journal:hedgebook:default/unknown-symbol") == 0
    # The operator keeps running and keeps reporting (no crash loop): the condition stays put.
    await asyncio.sleep(1)
    assert ready(status_of(emulator, "hedgebooks", "orphan"))["reason"] == "PolicyNotFound"  # type: ignore[index]

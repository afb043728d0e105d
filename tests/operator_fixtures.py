"""kopf for real against the kmock Kubernetes emulator, in this test's event loop's neighbour thread: the
cluster, the operator (with extra environment from the `operator_env` fixture) and helpers to watch status."""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from .conftest import ROOT, free_port
from .kube_emulator import ClusterEmulator, write_kubeconfig

BOOKS = "/apis/hedgeops.io/v1alpha1/namespaces/default/hedgebooks"
POLICIES = "/apis/hedgeops.io/v1alpha1/namespaces/default/rebalancepolicies"
SECRETS = "/api/v1/namespaces/default/secrets"


@pytest.fixture
def operator_env() -> dict[str, str]:
    """Extra HEDGEOPS_* settings for the operator under test (a test module may override this fixture)."""
    return {}


def example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "manifests" / "examples" / name).read_text()))


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[ClusterEmulator, str]]:
    import kmock

    async with ClusterEmulator() as emulator, kmock.Server(emulator) as server:
        emulator.declare_crds(ROOT / "crds")
        kubeconfig = tmp_path / "kubeconfig"
        write_kubeconfig(kubeconfig, str(server.url), "test")
        yield emulator, str(kubeconfig)


@pytest.fixture
async def operator(cluster: tuple[ClusterEmulator, str], redis_url: str, monkeypatch: pytest.MonkeyPatch,
                   operator_env: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
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
    monkeypatch.setenv("HEDGEOPS_WEBHOOK_PORT", "0")  # a free port unless the test names one
    monkeypatch.setenv("HEDGEOPS_WEBHOOK_ADDR", "127.0.0.1")
    # The Lease the chart's Deployment names for a release called hedgeops: the emulator grants the operator only
    # what the chart's RBAC does (tests/kube_emulator.py), and the leader-election Role names its Lease.
    monkeypatch.setenv("HEDGEOPS_LEASE_NAME", "hedgeops")
    for key, value in operator_env.items():
        monkeypatch.setenv(key, value)
    registry = handlers_registry()
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
        # Tests scrape right away: hand the operator over only once its metrics server listens.
        deadline = time.monotonic() + 30
        while True:
            if failure:
                raise AssertionError(f"the operator failed while starting: {failure[0]!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the operator's metrics server did not listen on port {port} within 30 s")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            break
        yield {"metrics_port": port, "redis": client}
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 30)
        await client.aclose()
    assert not thread.is_alive(), "the operator did not stop within 30 s"
    assert not failure, f"the operator failed: {failure[0]!r}"


def static_book(name: str, mode: str, account: str, secret: str | None) -> dict[str, Any]:
    """A HedgeBook of 100 SOL and 3 ETH held statically on the OKX emulator, hedged by the compact policy."""
    exchange: dict[str, Any] = {"name": "okx", "account": account}
    if secret:
        exchange["credentialsSecretRef"] = {"name": secret}
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook", "metadata": {"name": name},
            "spec": {"mode": mode, "exchange": exchange,
                     "holdings": {"source": "Static", "static": {"SOL": 100, "ETH": 3}},
                     "legs": [{"asset": "SOL", "symbol": "SOL/USDT:USDT"},
                              {"asset": "ETH", "symbol": "ETH/USDT:USDT"}],
                     "policyRef": {"name": "compact"}}}


def handlers_registry() -> Any:  # kopf.OperatorRegistry (kopf is imported late, as in the fixture)
    """A fresh registry and a fresh import of the handlers on it: they read their settings from the environment
    at import, and kopf's default registry is left as it was."""
    import kopf

    registry = kopf.OperatorRegistry()
    previous = kopf.get_default_registry()
    kopf.set_default_registry(registry)
    try:
        sys.modules.pop("hedgeops.operator.handlers", None)
        importlib.import_module("hedgeops.operator.handlers")
    finally:
        kopf.set_default_registry(previous)
    return registry


async def wait_for(fn: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = fn()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def events(emulator: ClusterEmulator) -> list[dict[str, Any]]:
    return [o.raw for (res, _, _), o in emulator.objects.items() if res.plural == "events"]


async def events_posted(emulator: ClusterEmulator, *reasons: str, timeout: float = 15) -> list[dict[str, Any]]:
    """Wait until events with every one of `reasons` exist. kopf posts events from a background queue, so an
    event can land after the status patch that a test has just seen; checking at once would be a race."""
    wanted = set(reasons)
    await wait_for(lambda: wanted <= {e.get("reason") for e in events(emulator)}, timeout=timeout,
                   what=f"events {sorted(wanted - {e.get('reason') for e in events(emulator)})}")
    return events(emulator)


def status_of(emulator: ClusterEmulator, plural: str, name: str, namespace: str = "default") -> dict[str, Any]:
    key = (f"hedgeops.io/v1alpha1/{plural}", namespace, name)
    for (res, ns, n), obj in emulator.objects.items():
        if f"{res.group}/{res.version}/{res.plural}" == key[0] and ns == namespace and n == name:
            return dict(obj.raw.get("status") or {})
    return {}


def ready(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)

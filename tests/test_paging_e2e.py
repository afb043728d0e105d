"""Paging end to end with the real programs (issue 18). Prometheus scrapes two things:
- the real operator (kopf on kmock, its own real redis-server, real ccxt to the OKX emulator);
- a `hedgeops local` run on the bundled examples (every kind, Paper).
It loads the shipped rules and sends to Alertmanager running the shipped routing. A webhook receiver stands for the
pager and the chat (tests/monitoring_stack.py).

The scenario:
1. A Live book and a Paper book start unhedged: both rebalance in an emergency. The Live one pages, with its labels
   and annotations. The Paper one reaches only the chat.
2. Redis is stopped. The lock store alert pages. Every object turns Degraded and Prometheus fires that alert too, but
   Alertmanager holds it back (inhibited) and it never arrives.
3. Every query of the shipped Grafana dashboard returns data from what was scraped."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, free_port, start_redis
from .emulator_fixtures import Rig, credentials_secret, live_operator_env
from .kube_emulator import ClusterEmulator
from .monitoring_stack import Stack, dashboard_queries, start_stack, stop_stack
from .operator_fixtures import BOOKS, POLICIES, SECRETS, example, static_book

pytestmark = pytest.mark.slow


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """This test's own redis-server: the scenario stops it (the session's is shared by other tests)."""
    port = free_port()
    proc = start_redis(port, tmp_path)
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(own_redis: tuple[subprocess.Popen[bytes], str]) -> str:
    return own_redis[1]


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    return live_operator_env(exchange.url)


@pytest.fixture
def local_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """`hedgeops local` on the bundled examples, long enough to outlast the test (stopped with Ctrl+C)."""
    port, err = free_port(), tmp_path / "local.err"
    proc = subprocess.Popen([sys.executable, "-m", "hedgeops.cli", "local", "manifests/examples/", "--for", "60d",
                             "--json", "--metrics-port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=err.open("w"), text=True)
    yield proc, port, err
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
async def stack(tmp_path: Path, operator: dict[str, Any],
                local_run: tuple[subprocess.Popen[str], int, Path]) -> AsyncIterator[Stack]:
    targets = {"hedgeops-metrics": f"127.0.0.1:{operator['metrics_port']}",
               "hedgeops-local": f"127.0.0.1:{local_run[1]}"}
    running, runner = await start_stack(tmp_path, targets)
    yield running
    await stop_stack(running, runner)


async def _until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _starts(alert: dict[str, Any], key: str = "startsAt") -> datetime:
    """Alertmanager's and Prometheus's RFC 3339 times (nanoseconds cut to what Python reads)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", alert[key]).replace("Z", "+00:00")
    return datetime.fromisoformat(text)


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


async def test_live_pages_paper_chats_and_inhibited_alerts_stay_quiet(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], stack: Stack,
        own_redis: tuple[subprocess.Popen[bytes], str], local_run: tuple[subprocess.Popen[str], int, Path]) -> None:
    kube, _ = cluster
    hook = stack.webhook
    policy = example("rebalancepolicy-compact.yaml")
    policy["spec"]["checkIntervalSeconds"] = 2  # Live books run on the wall clock: look every 2 s, not every minute
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(POLICIES, json=policy)).status == 201
    for body in (static_book("live", "Live", "live", "okx-creds"), static_book("paper", "Paper", "paper", None)):
        assert (await kube.post(BOOKS, json=body)).status == 201

    # 1. The emergency: the latency is from the counter first being served to the page arriving.
    emergency = 'hedgeops_alerts_total{alert="EmergencyRebalance",mode="Live",name="live",namespace="default"}'
    await _until(lambda: emergency in _scrape(operator["metrics_port"]), "the live book's emergency", 90)
    served = time.monotonic()
    page = (await _until(lambda: hook.named("HedgeBookEmergencyRebalance", "/pager"), "the page", 60))[0]
    latency = page.at - served
    print(f"\nalert to webhook: {latency:.1f} s (rule for: 1 s here, 1 min shipped; evaluation and scrape 1 s; "
          "Alertmanager group_wait 1 s)")
    labels, notes = page.alert["labels"], page.alert["annotations"]
    assert labels == {"alertname": "HedgeBookEmergencyRebalance", "namespace": "default", "name": "live",
                      "mode": "Live", "severity": "critical", "source": "hedgeops"}
    assert "default/live" in notes["summary"] and "taker" in notes["description"]
    assert notes["runbook_url"].endswith("/docs/runbooks.md#hedgebookemergencyrebalance")
    await _until(lambda: [r for r in hook.named("HedgeBookEmergencyRebalance", "/chat")
                          if r.alert["labels"]["name"] == "paper"], "the paper book's emergency in the chat", 60)

    # 2. Redis goes away: one page for the lock store; the per-object Degraded alerts are held back.
    redis, _ = own_redis
    stopped = datetime.now(UTC)
    redis.terminate()
    await asyncio.to_thread(redis.wait, 10)
    await _until(lambda: [r for r in hook.named("HedgeOpsLockStoreDown", "/pager") if _starts(r.alert) > stopped],
                 "the lock-store page", 60)

    def degraded_held_back() -> bool:
        fired = [a for a in stack.firing() if a["labels"]["alertname"] == "HedgeOpsObjectDegraded"
                 and a["labels"].get("name") == "live" and _starts(a, "activeAt") > stopped]
        held = [a for a in stack.alertmanager_alerts() if a["labels"]["alertname"] == "HedgeOpsObjectDegraded"
                and a["labels"].get("name") == "live" and _starts(a) > stopped
                and a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]]
        return bool(fired and held)

    await _until(degraded_held_back, "Alertmanager to hold back the firing Degraded alert", 60)
    await asyncio.sleep(3)  # past group_wait and group_interval: had it not been held back, it would be here
    # Only what Redis's absence caused: an object can be Degraded for seconds at start-up (the emulator loading its
    # data), which the test's minutes-as-seconds turns into an alert that production's 5 minutes would not.
    assert [r.alert["labels"]["name"] for r in hook.named("HedgeOpsObjectDegraded") if _starts(r.alert) > stopped] == []
    # Nothing but the Live book (and the operator's own alerts, which name no object) ever paged: not the Paper
    # book, not the local run's Paper objects, whatever their series said of their mode.
    paged = {r.alert["labels"].get("name") for r in hook.alerts if r.path == "/pager"}
    assert paged <= {"live", None}, f"paged for {paged}"

    # 3. The dashboard: every panel's query (and variable) returns data from what was scraped.
    assert local_run[0].poll() is None, f"the local run ended: {local_run[2].read_text()[-1500:]}"
    await _until(lambda: stack.query('hedgeops_position_base{kind="MarketMaker"}')
                 and stack.query("hedgeops_margin_ratio"), "the local run's market maker and carry", 60)
    empty = [title for title, expr in dashboard_queries() if not stack.query(expr)]
    assert empty == [], f"dashboard panels with no data: {empty}"

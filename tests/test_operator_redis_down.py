"""Redis unreachable (DESIGN §5): the operator fails closed. With its Redis killed, a book whose holdings grew
does not trade, reports Degraded (LockUnavailable) and the alert metric drops to 0; with Redis back, the book
trades again on its own. kopf on kmock, a real redis-server killed and restarted on the same port."""

from __future__ import annotations

import asyncio
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import free_port, start_redis
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, example, status_of, wait_for

pytestmark = pytest.mark.slow

@pytest.fixture
def redis_port() -> int:
    """Picked when the test starts, not when the module is collected: a port free minutes earlier may since be an
    emulator's or another test's, and the operator would then talk to something that is not this Redis."""
    return free_port()



@pytest.fixture
def own_redis(tmp_path: Path, redis_port: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [start_redis(redis_port, tmp_path)]
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def operator_env(own_redis: list[subprocess.Popen[bytes]], redis_port: int) -> dict[str, str]:
    return {"HEDGEOPS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "HEDGEOPS_REPLAY_SPEED": "600"}


def condition(status: dict[str, Any], type_: str) -> tuple[str, str] | None:
    c = next((c for c in status.get("conditions", []) if c["type"] == type_), None)
    return None if c is None else (c["status"], c["reason"])


def sol(status: dict[str, Any]) -> float:
    return float(next(e["hedgeQty"] for e in status.get("exposures", []) if e["asset"] == "SOL"))


async def metrics(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())


async def test_redis_down_means_no_orders_degraded_and_the_alert_metric(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], own_redis: list[subprocess.Popen[bytes]],
        tmp_path: Path, redis_port: int) -> None:
    kube, _ = cluster
    assert (await kube.post(POLICIES, json=example("rebalancepolicy-compact.yaml"))).status == 201
    assert (await kube.post(BOOKS, json=example("hedgebook-spot.yaml"))).status == 201
    first = await wait_for(lambda: (s := status_of(kube, "hedgebooks", "spot-bag")).get("exposures")
                           and sol(s) == pytest.approx(-17.5) and s, what="the first hedge observed")
    assert 'hedgeops_lock_store_up{store="redis"} 1.0' in await metrics(operator["metrics_port"])

    own_redis[0].kill()
    own_redis[0].wait(10)
    # The owner bought 15 SOL more: the book now wants to sell 10.5 SOL of perps, and must not.
    patch = {"spec": {"holdings": {"static": {"SOL": 40, "ETH": 1.2}}}}
    assert (await kube.patch(f"{BOOKS}/spot-bag", json=patch,
                             headers={"Content-Type": "application/merge-patch+json"})).status == 200
    down = await wait_for(lambda: condition(s := status_of(kube, "hedgebooks", "spot-bag"), "Degraded")
                          == ("True", "LockUnavailable") and s, what="Degraded: LockUnavailable")
    assert condition(down, "Ready") == ("False", "LockUnavailable")
    text = await metrics(operator["metrics_port"])
    assert 'hedgeops_lock_store_up{store="redis"} 0.0' in text
    assert 'hedgeops_degraded{kind="HedgeBook",mode="Paper",name="spot-bag",namespace="default"} 1.0' in text
    assert ('hedgeops_lock_acquisitions_total{account="spot",exchange="okx",namespace="default",'
            'outcome="unavailable"}') in text
    await asyncio.sleep(1.5)  # a dozen more ticks, several policy intervals of replay time: still nothing traded
    still = status_of(kube, "hedgebooks", "spot-bag")
    assert sol(still) == pytest.approx(-17.5) and still["rebalancesTotal"] == first["rebalancesTotal"]

    own_redis.append(start_redis(redis_port, tmp_path))  # back, empty: the fencing counter starts again
    healed = await wait_for(lambda: sol(s := status_of(kube, "hedgebooks", "spot-bag")) == pytest.approx(-28.0)
                            and s, timeout=30, what="the hedge to follow the holdings once Redis is back")
    assert condition(healed, "Degraded") == ("False", "Healthy")
    assert 'hedgeops_lock_store_up{store="redis"} 1.0' in await metrics(operator["metrics_port"])

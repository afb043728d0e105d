"""Failover of the operator's active replica, measured (issue 14 item 10): the scenario shared by
tests/test_operator_processes.py and bench/failover.py.

Two real `hedgeops operator` processes on kopf and the kmock API server, a Live book through real ccxt to the OKX
emulator, one real Redis. The active one (holding the Lease) is SIGKILLed at the worst moment: one leg of a plan is
answered, the other is at the exchange but its answer never reaches the process. Measured from the kill, on this
process's monotonic clock, by polling the standby's /metrics and the book's status every 0.1 s:

- `takeover_s`: the standby holds the Lease (its hedgeops_leader is 1);
- `first_cycle_s`: the standby's first completed cycle (its hedgeops_reconcile_duration_seconds count grows);
- `recovered_s`: the plan the dead process left half-sent is completed (status.rebalancesTotal is 1).

And what must not happen: an order sent twice (the emulator's accepted orders and the book's positions say), or the
standby running any cycle while the active one lives."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from .emulator_fixtures import KEY, Rig, credentials_secret, live_operator_env
from .kube_emulator import ClusterEmulator
from .operator_process import OperatorProcess, spawn

ROOT = Path(__file__).resolve().parent.parent
BOOKS = "/apis/hedgeops.io/v1alpha1/namespaces/default/hedgebooks"
POLICIES = "/apis/hedgeops.io/v1alpha1/namespaces/default/rebalancepolicies"
SECRETS = "/api/v1/namespaces/default/secrets"
LEASE = ("coordination.k8s.io", "hedgeops", "hedgeops")  # group, the operator namespace, the Lease the chart names
HELD = {"SOL": 100, "ETH": 3}
WANT = {"SOL/USDT:USDT": Decimal(-100), "ETH/USDT:USDT": Decimal(-3)}
POLL_S = 0.1
TARGET_S = 30.0  # issue 14: failover under 30 s


def lease_holder(kube: ClusterEmulator) -> str | None:
    for (res, ns, name), obj in list(kube.objects.items()):
        if (res.group, ns, name) == LEASE and res.plural == "leases":
            return str((obj.raw.get("spec") or {}).get("holderIdentity") or "") or None
    return None


def _status(kube: ClusterEmulator, name: str) -> dict[str, Any]:
    for (res, ns, n), obj in list(kube.objects.items()):
        if res.plural == "hedgebooks" and ns == "default" and n == name:
            return dict(obj.raw.get("status") or {})
    return {}


def positions(rig: Rig) -> dict[str, Decimal]:
    return {s: p.qty for s, p in rig.emu.account(KEY).venue.account.positions({}).items() if p.qty}


async def _until(what: str, timeout: float, check: Callable[[], bool | Awaitable[bool]]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = check()
        if await done if inspect.isawaitable(done) else done:
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def _cycles(op: OperatorProcess) -> float:
    return op.sample(await op.metrics(), "hedgeops_reconcile_duration_seconds_count")


def chart_env() -> dict[str, str]:
    """The lock and Lease timings the chart ships (values.yaml), so the figure is the one an install gets."""
    op = yaml.safe_load((ROOT / "charts" / "hedgeops" / "values.yaml").read_text())["operator"]
    election = op["leaderElection"]
    return {"HEDGEOPS_LOCK_TTL_SECONDS": str(op["lockTtlSeconds"]),
            "HEDGEOPS_LEASE_DURATION_SECONDS": str(election["leaseDurationSeconds"]),
            "HEDGEOPS_LEASE_RENEW_DEADLINE_SECONDS": str(election["renewDeadlineSeconds"]),
            "HEDGEOPS_LEASE_RETRY_SECONDS": str(election["retrySeconds"]),
            # The Lease the chart's Deployment names for a release called hedgeops: the emulator grants only what
            # the chart's RBAC does, and its leader-election Role names that Lease.
            "HEDGEOPS_LEASE_NAME": "hedgeops"}


async def measure_failover(kube: ClusterEmulator, kubeconfig: str, rig: Rig, redis_url: str, workdir: Path,
                           env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the scenario once; the figures and what was observed, for the caller to assert or print."""
    policy = yaml.safe_load((ROOT / "manifests" / "examples" / "rebalancepolicy-compact.yaml").read_text())
    policy["spec"]["checkIntervalSeconds"] = 60
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(POLICIES, json=policy)).status == 201
    full = {**live_operator_env(rig.url), "HEDGEOPS_REDIS_URL": redis_url, **chart_env(), **(env or {})}
    active = await spawn("op-a", kubeconfig, workdir, full)
    standby: OperatorProcess | None = None
    try:
        await _until("op-a to hold the Lease", 20, lambda: lease_holder(kube) == "op-a")
        standby = await spawn("op-b", kubeconfig, workdir, full)
        b = standby
        # The first leg is answered; the second goes in but its answer would come 10 s later: the process dies first.
        rig.emu.faults.stall_after_orders, rig.emu.faults.timeout_seconds = 1, 10
        book = {"apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook", "metadata": {"name": "jlp"},
                "spec": {"mode": "Live", "exchange": {"name": "okx", "account": "main",
                                                      "credentialsSecretRef": {"name": "okx-creds"}},
                         "holdings": {"source": "Static", "static": HELD},
                         "legs": [{"asset": a, "symbol": f"{a}/USDT:USDT"} for a in HELD],
                         "policyRef": {"name": "compact"}}}
        assert (await kube.post(BOOKS, json=book)).status == 201
        await _until("the second leg at the exchange", 60, lambda: rig.emu.orders_placed() >= 2)
        standby_cycles_before = await _cycles(b)
        standby_leader_before = b.sample(await b.metrics(), "hedgeops_leader")
        killed = time.monotonic()
        active.kill()
        rig.emu.faults.stall_after_orders = None
        orders_at_kill = rig.emu.orders_placed()
        marks: dict[str, float] = {}

        async def progressed() -> bool:
            text = await b.metrics()
            at = time.monotonic() - killed
            if "takeover_s" not in marks and b.sample(text, "hedgeops_leader") == 1:
                marks["takeover_s"] = at
            if "first_cycle_s" not in marks and b.sample(text, "hedgeops_reconcile_duration_seconds_count") > 0:
                marks["first_cycle_s"] = at
            if "recovered_s" not in marks and _status(kube, "jlp").get("rebalancesTotal", 0) >= 1:
                marks["recovered_s"] = at
            return len(marks) == 3

        await _until("the standby to take over and complete the plan", 90, progressed)
        await asyncio.sleep(1)  # a few more cycles on the new leader: within band, nothing more is sent
        status = _status(kube, "jlp")
        return {
            **{k: round(v, 2) for k, v in marks.items()},
            "target_s": TARGET_S,
            "standby_cycles_while_active_lived": standby_cycles_before,
            "standby_leader_while_active_lived": standby_leader_before,
            "lease_holder_after": lease_holder(kube),
            "orders_at_kill": orders_at_kill,
            "orders_total": rig.emu.orders_placed(),
            "positions_exact": positions(rig) == WANT,
            "urgency": (status.get("lastRebalance") or {}).get("urgency"),
            "standby_log": b.log,
        }
    finally:
        active.stop()
        if standby is not None:
            standby.stop()

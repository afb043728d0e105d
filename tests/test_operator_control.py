"""A person's controls, end to end: kopf on kmock with real Redis, and the `hedgeops` command as a user runs
it (a subprocess with a kubeconfig): manual approval of exactly the pending plan, and close-all."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.engine.common.ids import plan_id
from hedgeops.engine.hedge.approval import fingerprint

from .conftest import ROOT
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, events, events_posted, example, status_of, wait_for

pytestmark = pytest.mark.slow


async def hedgeops(kubeconfig: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "hedgeops.cli", *args], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60, input=stdin,
                                   env={"KUBECONFIG": kubeconfig, "PATH": "/usr/bin:/bin"})


def uid_of(emulator: ClusterEmulator, name: str) -> str:
    for (res, _ns, n), obj in emulator.objects.items():
        if res.plural == "hedgebooks" and n == name:
            return str(obj.raw["metadata"]["uid"])
    raise AssertionError(f"no hedgebook {name}")


def annotations(emulator: ClusterEmulator, name: str) -> dict[str, str]:
    for (res, _ns, n), obj in emulator.objects.items():
        if res.plural == "hedgebooks" and n == name:
            return dict(obj.raw.get("metadata", {}).get("annotations") or {})
    return {}


async def test_manual_approval_and_close_all_through_the_cli(cluster: tuple[ClusterEmulator, str],
                                                             operator: dict[str, Any]) -> None:
    emulator, kubeconfig = cluster
    policy = example("rebalancepolicy-compact.yaml")
    policy["spec"]["approval"] = "Manual"
    policy["spec"]["approvalTtlSeconds"] = 7 * 86400  # replay runs at 3000x: a week is ~3.4 min of wall time
    book = example("hedgebook-spot.yaml")
    book["metadata"]["annotations"] = {"hedgeops.io/hallt": "true"}  # a typo: halts nothing, and is told so
    assert (await emulator.post(POLICIES, json=policy)).status == 201
    assert (await emulator.post(BOOKS, json=book)).status == 201
    posted = await events_posted(emulator, "UnknownAnnotation")
    assert [e["message"] for e in posted if e["reason"] == "UnknownAnnotation"] == [
        "hedgeops.io/hallt is not a control and does nothing: did you mean hedgeops.io/halt?"]  # once, not per tick
    pending = await wait_for(lambda: (status_of(emulator, "hedgebooks", "spot-bag").get("pendingPlan") or {}),
                             timeout=30, what="a plan awaiting approval")
    # Exactly the plan the unhedged book needs: its first (seq 1), hedging 70% of SOL and 50% of ETH at once
    # (100% off target is an emergency: taker orders), under the id naming that plan and those orders.
    expected_orders = [("SOL/USDT:USDT", "sell", Decimal("17.5"), "taker"),
                       ("ETH/USDT:USDT", "sell", Decimal("0.6"), "taker")]
    assert pending["state"] == "Proposed"
    assert [(o["symbol"], o["side"], Decimal(o["amount"]), o["type"]) for o in pending["orders"]] == expected_orders
    seq1 = plan_id(uid_of(emulator, "spot-bag"), 1)
    assert pending["id"] == f"{seq1[:8]}-{fingerprint((s, side, a) for s, side, a, _ in expected_orders)[:8]}"
    assert pending["reasons"] == ["emergency rebalance: SOL deviates 100.00% (> 4.00%)",
                                  "emergency rebalance: ETH deviates 100.00% (> 6.00%)",
                                  "emergency rebalance: total deviation 100.00% (> 3.00%)"]
    assert status_of(emulator, "hedgebooks", "spot-bag").get("rebalancesTotal", 0) == 0

    wrong = await hedgeops(kubeconfig, "approve", "hedgebook/spot-bag", "00000000-00000000")
    assert wrong.returncode == 1 and "not 00000000-00000000" in wrong.stderr  # a refusal, not a usage error

    ok = await hedgeops(kubeconfig, "approve", "hedgebook/spot-bag", pending["id"])
    assert ok.returncode == 0, ok.stderr
    status = await wait_for(lambda: (s := status_of(emulator, "hedgebooks", "spot-bag")).get("rebalancesTotal", 0)
                            >= 1 and s, timeout=30, what="the approved plan executed")
    assert status["pendingPlan"]["id"] == pending["id"] or status["pendingPlan"]["state"] == "Proposed"
    entries = await operator["redis"].xrange("hedgeops:journal:hedgebook:default/spot-bag")
    assert any(b'"approval"' in f[b"e"] and b'"by"' in f[b"e"] for _, f in entries)
    await wait_for(lambda: "hedgeops.io/approve" not in annotations(emulator, "spot-bag"), what="approval consumed")

    # close-all: refused without a terminal or --yes, then done with --yes.
    refused = await hedgeops(kubeconfig, "close-all", "hedgebook/spot-bag")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "hedgeops.io/close-all" not in annotations(emulator, "spot-bag")
    done = await hedgeops(kubeconfig, "close-all", "hedgebook/spot-bag", "--yes")
    assert done.returncode == 0, done.stderr
    await events_posted(emulator, "ClosedAll", timeout=30)  # the book flattened and held flat
    entries = await operator["redis"].xrange("hedgeops:journal:hedgebook:default/spot-bag")
    assert any(b'"CloseAll"' in f[b"e"] for _, f in entries)
    missing = await hedgeops(kubeconfig, "close-all", "hedgebook/nope", "--yes")
    assert missing.returncode == 2 and "not found" in missing.stderr
    # Told once for the whole run (many ticks since), not at every tick.
    assert sum(e.get("reason") == "UnknownAnnotation" for e in events(emulator)) == 1

"""RebalancePolicy and its books, kopf on kmock: a change to a policy is acted on by its books at once (not at
their next interval), and a policy deleted from under its books is a clear condition on each of them at once
(Ready=False PolicyNotFound), never a guess at another policy."""

from __future__ import annotations

from typing import Any

import pytest

from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, example, ready, status_of, wait_for

pytestmark = pytest.mark.slow
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"HEDGEOPS_REPLAY_SPEED": "60"}  # the policy's hour-long interval is a wall minute


def sol_band(status: dict[str, Any]) -> float | None:
    return next((float(e["bandRatio"]) for e in status.get("exposures", []) if e["asset"] == "SOL"), None)


def exists(kube: ClusterEmulator, plural: str, name: str) -> bool:
    return any(res.plural == plural and n == name and not o.deleted for (res, _, n), o in kube.objects.items())


async def test_policy_changes_apply_at_once_and_a_policy_in_use_is_kept(cluster: tuple[ClusterEmulator, str],
                                                                       operator: dict[str, Any]) -> None:
    kube, _ = cluster
    policy = example("rebalancepolicy-compact.yaml")
    policy["spec"]["checkIntervalSeconds"] = 3600
    assert (await kube.post(POLICIES, json=policy)).status == 201
    assert (await kube.post(BOOKS, json=example("hedgebook-spot.yaml"))).status == 201
    await wait_for(lambda: sol_band(status_of(kube, "hedgebooks", "spot-bag")) == 0.015, what="the first check")

    widen = {"spec": {"assetOverrides": {"SOL": {"ratio": 0.03, "emergencyRatio": 0.06}}}}
    assert (await kube.patch(f"{POLICIES}/compact", json=widen, headers=MERGE)).status == 200
    await wait_for(lambda: sol_band(status_of(kube, "hedgebooks", "spot-bag")) == 0.03, timeout=15,
                   what="the book to use the changed policy long before its hourly check")

    # Deleted from under its book: the book says so at once (Ready=False PolicyNotFound) and trades nothing.
    assert (await kube.delete(f"{POLICIES}/compact")).status == 200
    gone = await wait_for(lambda: (r := ready(status_of(kube, "hedgebooks", "spot-bag")))
                          and r["reason"] == "PolicyNotFound" and r, timeout=15, what="PolicyNotFound")
    assert gone["status"] == "False" and "does not trade" in gone["message"]

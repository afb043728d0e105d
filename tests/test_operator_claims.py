"""Two objects owning one position on one account (kopf on kmock): each would count the other's trades as its own.
One position, one owner: the older keeps trading, the newer is Ready=False SharedPositions and sends nothing; both
are told (condition SharedPositions naming the other, a Warning event, a metric the HedgeOpsSharedPositions alert
pages on), and when the newer moves to its own account it trades and everything clears."""

from __future__ import annotations

import asyncio
import copy
import urllib.request
from typing import Any

import pytest

from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, events_posted, example, ready, status_of, wait_for

pytestmark = pytest.mark.slow
MERGE = {"Content-Type": "application/merge-patch+json"}
MM = "/apis/hedgeops.io/v1alpha1/namespaces/default/marketmakers"


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"HEDGEOPS_REPLAY_SPEED": "60"}  # a 60 s policy interval is a wall second


def shared(kube: ClusterEmulator, plural: str, name: str) -> dict[str, Any] | None:
    return next((c for c in status_of(kube, plural, name).get("conditions", []) if c["type"] == "SharedPositions"),
                None)


async def test_books_sharing_a_position_are_told_and_cleared(cluster: tuple[ClusterEmulator, str],
                                                            operator: dict[str, Any]) -> None:
    kube, _ = cluster
    policy = example("rebalancepolicy-compact.yaml")
    policy["spec"]["checkIntervalSeconds"] = 60
    assert (await kube.post(POLICIES, json=policy)).status == 201
    first = example("hedgebook-spot.yaml")
    second = copy.deepcopy(first)
    second["metadata"]["name"] = "spot-bag-2"
    second["spec"]["legs"] = [{"asset": "SOL", "symbol": "SOL/USDT:USDT"}]  # one leg in common, on one account
    second["spec"]["holdings"]["static"] = {"SOL": 10}
    second["spec"]["objective"].pop("hedgeRatioOverrides")
    assert (await kube.post(BOOKS, json=first)).status == 201
    await asyncio.sleep(1.1)  # creation times have one-second resolution: the first is the older
    assert (await kube.post(BOOKS, json=second)).status == 201

    def both_shared() -> bool:
        return all((c := shared(kube, "hedgebooks", n)) and c["status"] == "True" for n in ("spot-bag", "spot-bag-2"))

    await wait_for(both_shared, timeout=30, what="SharedPositions on both books")
    await wait_for(lambda: status_of(kube, "hedgebooks", "spot-bag").get("rebalancesTotal", 0) >= 1, timeout=30,
                   what="the older book trading")
    owner = shared(kube, "hedgebooks", "spot-bag")
    assert owner is not None and owner["reason"] == "SharedWithOthers"
    assert "SOL/USDT:USDT with HedgeBook/default/spot-bag-2" in owner["message"] and "okx/spot" in owner["message"]
    assert "ETH" not in owner["message"]  # the leg only one of them trades is not shared
    newer = status_of(kube, "hedgebooks", "spot-bag-2")
    refused = shared(kube, "hedgebooks", "spot-bag-2")
    assert refused is not None and refused["reason"] == "OwnedByAnother"
    assert "owned by HedgeBook/default/spot-bag" in refused["message"]
    assert ready(newer) is not None and ready(newer)["reason"] == "SharedPositions"  # type: ignore[index]
    assert not newer.get("exposures") and not newer.get("rebalancesTotal")  # never observed, never traded
    await events_posted(kube, "SharedPositions")

    # A market maker quoting the same perp on that account, created later: refused too.
    maker = example("marketmaker-sol.yaml")
    maker["spec"]["exchange"] = {"name": "okx", "account": "spot"}
    assert (await kube.post(MM, json=maker)).status == 201
    name = maker["metadata"]["name"]
    await wait_for(lambda: (c := shared(kube, "marketmakers", name)) and c["reason"] == "OwnedByAnother",
                   timeout=30, what="the market maker refused")
    assert "HedgeBook/default/spot-bag" in shared(kube, "marketmakers", name)["message"]  # type: ignore[index]
    assert ready(status_of(kube, "marketmakers", name))["reason"] == "SharedPositions"  # type: ignore[index]
    assert not status_of(kube, "marketmakers", name).get("quotes")

    url = f"http://127.0.0.1:{operator['metrics_port']}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'hedgeops_shared_positions{kind="HedgeBook",mode="Paper",name="spot-bag-2",namespace="default"} 1.0' in text

    # The second book and the market maker move to their own accounts: cleared on every object.
    assert (await kube.patch(f"{BOOKS}/spot-bag-2", json={"spec": {"exchange": {"account": "spot-2"}}},
                             headers=MERGE)).status == 200
    assert (await kube.patch(f"{MM}/{name}", json={"spec": {"exchange": {"account": "mm"}}},
                             headers=MERGE)).status == 200

    def all_clear() -> bool:
        return all((c := shared(kube, p, n)) and c["status"] == "False" and c["reason"] == "SoleOwner"
                   for p, n in (("hedgebooks", "spot-bag"), ("hedgebooks", "spot-bag-2"), ("marketmakers", name)))

    await wait_for(all_clear, timeout=30, what="SharedPositions cleared")
    await wait_for(lambda: status_of(kube, "hedgebooks", "spot-bag-2").get("rebalancesTotal", 0) >= 1, timeout=30,
                   what="the once-refused book trading on its own account")

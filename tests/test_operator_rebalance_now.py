"""hedgeops.io/rebalance-now and the opportunity in the operator: kopf on the strict test API server, a Live
Allocation book through real ccxt to the OKX emulator's spot markets, real Redis. A book inside its bands trades
only when asked; one annotation value is one rebalance (reason Manual) however long it stays; the outcome is in
status.rebalanceNow and an event. Then, given an opportunity rule, the same book inside its band rebalances early
because the trade is cheap (reason Opportunity)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .emulator_fixtures import KEY, Rig, credentials_secret, live_operator_env
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, SECRETS, events_posted, status_of, wait_for
from .test_operator_allocation import POLICY, index_book

pytestmark = pytest.mark.slow
D = Decimal
MERGE = {"Content-Type": "application/merge-patch+json"}
FAST = {**POLICY, "spec": {**POLICY["spec"], "checkIntervalSeconds": 1}}


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    return live_operator_env(exchange.url)


async def test_rebalance_now_trades_once_per_request_and_an_opportunity_trades_early_when_cheap(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(POLICIES, json=FAST)).status == 201
    assert (await kube.post(BOOKS, json=index_book())).status == 201
    sent = exchange.emu.account(KEY).ord_ids

    def status() -> dict[str, Any]:
        return status_of(kube, "hedgebooks", "index")

    await wait_for(lambda: status().get("rebalancesTotal", 0) >= 1, timeout=60, what="the book invested")
    assert len(sent) == 2
    # Aimed 3 points elsewhere: inside the 5-point band, so the book holds.
    targets = {"objective": {"type": "Allocation", "targetWeights": {"BTC": 0.43, "ETH": 0.27, "USDT": 0.3}}}
    assert (await kube.patch(f"{BOOKS}/index", json={"spec": targets}, headers=MERGE)).status == 200
    await wait_for(lambda: any(w["asset"] == "BTC" and w["targetWeight"] == 0.43 for w in status().get("weights", [])),
                   timeout=30, what="the new targets observed")
    assert len(sent) == 2 and status()["rebalancesTotal"] == 1

    ask = {"metadata": {"annotations": {"hedgeops.io/rebalance-now": "2025-06-01T00:00:00Z"}}}
    assert (await kube.patch(f"{BOOKS}/index", json=ask, headers=MERGE)).status == 200
    done = await wait_for(lambda: status() if (status().get("rebalanceNow") or {}).get("state") == "Done" else None,
                          timeout=30, what="the request done")
    assert done["rebalanceNow"]["value"] == "2025-06-01T00:00:00Z" and done["lastRebalance"]["reason"] == "Manual"
    assert done["rebalancesTotal"] == 2 and len(sent) == 4
    await events_posted(kube, "RebalanceNowDone")
    # The annotation stays: three more looks (every second) and nothing more is sent.
    checked = done["lastCheck"]
    seen: list[str] = []

    def three_more_looks() -> bool:
        last = status().get("lastCheck")
        if last != checked and last not in seen:
            seen.append(last)
        return len(seen) >= 3

    await wait_for(three_more_looks, timeout=30, what="three more cycles")
    assert len(sent) == 4 and status()["rebalancesTotal"] == 2
    weights = {w["asset"]: D(str(w["weight"])) for w in status()["weights"]}
    assert abs(weights["BTC"] - D("0.43")) < D("0.01") and abs(weights["ETH"] - D("0.27")) < D("0.01"), weights

    # Back to 40/30/30: 3 points, inside the band; with an opportunity rule (half the band, at most 1% of what is
    # traded: the emulator's taker fee is 0.05%) the operator rebalances now, not at the band.
    back = {"objective": {"type": "Allocation", "targetWeights": {"BTC": 0.4, "ETH": 0.3, "USDT": 0.3}}}
    assert (await kube.patch(f"{BOOKS}/index", json={"spec": back}, headers=MERGE)).status == 200
    rule = {"spec": {"allocation": {"opportunity": {"minDriftFraction": 0.5, "maxCostRatio": 0.01}}}}
    assert (await kube.patch(f"{POLICIES}/index-fund", json=rule, headers=MERGE)).status == 200
    early = await wait_for(lambda: status() if status()["lastRebalance"]["reason"] == "Opportunity" else None,
                           timeout=30, what="an opportunity rebalance")
    assert early["rebalancesTotal"] == 3 and len(sent) == 6

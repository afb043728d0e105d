"""kopf for real against the kmock Kubernetes emulator: a RebalancePolicy and a Paper HedgeBook are applied;
status appears; replayed price moves breach the band and the rebalance shows in status, journal (Redis)
and metrics; bad input becomes Ready=False with a reason and never an order."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import pytest
import yaml

from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, events_posted, example, ready, status_of, wait_for

pytestmark = pytest.mark.slow


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
    await events_posted(emulator, "Rebalanced")

    # Metrics.
    url = f"http://127.0.0.1:{operator['metrics_port']}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'hedgeops_exposure_quote{asset="SOL",mode="Paper",name="jlp",namespace="default"}' in text
    assert 'hedgeops_deviation_ratio{asset="BTC",mode="Paper",name="jlp",namespace="default"}' in text
    assert 'hedgeops_band_ratio{asset="BTC",mode="Paper",name="jlp",namespace="default"}' in text  # alerts compare
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

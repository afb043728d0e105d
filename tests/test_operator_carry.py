"""kopf on kmock with real Redis: a Paper FundingArbitrage (seed 004) opens both legs on replayed real ETH
prices, books real funding, is halted by a cluster-wide halt ConfigMap, and is flattened by close-all."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest

from .kube_emulator import ClusterEmulator
from .operator_fixtures import events_posted, example, ready, status_of, wait_for

pytestmark = pytest.mark.slow
CARRY = "/apis/hedgeops.io/v1alpha1/namespaces/default/fundingarbitrages"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"HEDGEOPS_REPLAY_START": "2025-01-02T00:00:00"}  # ETH funding at 0.01% per 8 h: entry holds


async def test_funding_arbitrage_end_to_end(cluster: tuple[ClusterEmulator, str], operator: dict[str, Any]) -> None:
    emulator, _ = cluster
    body = example("fundingarbitrage-eth.yaml")
    assert (await emulator.post(CARRY, json=body)).status == 201

    status = await wait_for(lambda: (s := status_of(emulator, "fundingarbitrages", "eth-carry")).get("phase")
                            == "Open" and s, timeout=60, what="both legs open")
    assert ready(status)["status"] == "True"  # type: ignore[index]
    assert status["bootstrap"]["passed"] is True
    leg = status["legs"][0]
    assert float(leg["spotQty"]) > 0 and float(leg["perpQty"]) == -float(leg["spotQty"])

    # 3000x replay: an 8-hour settlement every ~10 s of wall time, booked from the venue's bills.
    status = await wait_for(lambda: (s := status_of(emulator, "fundingarbitrages", "eth-carry")).get(
        "fundingEarnedQuote", 0) > 0 and s, timeout=60, what="funding booked")
    assert status["cadence"]["settle"] is not None

    # Cluster-wide halt: a labelled ConfigMap halts every object within a cycle; the position is kept.
    halt = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "hedgeops-halt", "labels": {"hedgeops.io/halt": "true"}},
            "data": {"reason": "exchange incident"}}
    assert (await emulator.post(CONFIGMAPS, json=halt)).status == 201
    status = await wait_for(lambda: (s := status_of(emulator, "fundingarbitrages", "eth-carry")).get("phase")
                            == "Halted" and s, timeout=30, what="halted")
    halted = next(c for c in status["conditions"] if c["type"] == "Halted")
    assert halted["status"] == "True" and "exchange incident" in halted["message"]
    assert float(status["legs"][0]["spotQty"]) > 0

    # close-all (what `hedgeops close-all` sets): both legs closed, the perp reduce-only, and it stays flat.
    resp = await emulator.patch(f"{CARRY}/eth-carry", data=json.dumps(
        {"metadata": {"annotations": {"hedgeops.io/close-all": "true"}}}),
        headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status == 200
    status = await wait_for(lambda: (s := status_of(emulator, "fundingarbitrages", "eth-carry")).get("phase")
                            == "Closed" and s, timeout=30, what="closed")
    assert float(status["legs"][0]["spotQty"]) == 0 and float(status["legs"][0]["perpQty"]) == 0

    entries = await operator["redis"].xrange("hedgeops:journal:fundingarbitrage:default/eth-carry")
    kinds = [json.loads(f[b"e"])["type"] for _, f in entries]
    assert "funding" in kinds and kinds.count("order") >= 4 and "decision" in kinds
    await events_posted(emulator, "BootstrapPassed", "Entry", "Opened", "Halted", "CloseAll", "Closed")

    url = f"http://127.0.0.1:{operator['metrics_port']}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    earned = 'hedgeops_funding_earned_quote{mode="Paper",name="eth-carry",namespace="default",symbol="ETH/USDT:USDT"}'
    assert earned in text
    assert "hedgeops_margin_ratio{" in text and "hedgeops_breaker_tripped{" in text

"""kopf on kmock with real Redis: the example Paper MarketMaker (seed 003) quotes SOL on replayed real prices,
books its fills, is halted by its annotation (quotes cancelled) and stops after its duration."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .kube_emulator import ClusterEmulator
from .operator_fixtures import example, status_of, wait_for

pytestmark = pytest.mark.slow
MAKERS = "/apis/hedgeops.io/v1alpha1/namespaces/default/marketmakers"
MERGE = {"Content-Type": "application/merge-patch+json"}


def cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


async def test_market_maker_end_to_end(cluster: tuple[ClusterEmulator, str], operator: dict[str, Any]) -> None:
    emulator, _ = cluster
    body = example("marketmaker-sol.yaml")
    body["spec"]["durationSeconds"] = 6 * 3600  # six replayed hours: about 7 s of wall time at 3000x
    body["spec"]["intervalSeconds"] = 300
    body["spec"]["spreadRatio"] = 0.002
    assert (await emulator.post(MAKERS, json=body)).status == 201

    status = await wait_for(lambda: (s := status_of(emulator, "marketmakers", "sol-mm")).get("quotes") and s,
                            timeout=30, what="quotes resting")
    assert cond(status, "Ready")["status"] == "True" and 1 <= len(status["quotes"]) <= 4  # one may fill at once

    resp = await emulator.patch(f"{MAKERS}/sol-mm", data=json.dumps(
        {"metadata": {"annotations": {"hedgeops.io/halt": "true"}}}), headers=MERGE)
    assert resp.status == 200
    status = await wait_for(lambda: (s := status_of(emulator, "marketmakers", "sol-mm")).get("reason") == "Halted"
                            and s, timeout=30, what="halted")
    assert status["quotes"] == [] and cond(status, "Halted")["status"] == "True"

    resp = await emulator.patch(f"{MAKERS}/sol-mm", data=json.dumps(
        {"metadata": {"annotations": {"hedgeops.io/halt": None}}}), headers=MERGE)
    status = await wait_for(lambda: cond(s := status_of(emulator, "marketmakers", "sol-mm"), "Finished").get(
        "status") == "True" and s, timeout=60, what="finished after its duration")
    assert status["quotes"] == [] and status["cycle"] >= 2
    entries = await operator["redis"].xrange("hedgeops:journal:marketmaker:default/sol-mm")
    kinds = [json.loads(f[b"e"])["type"] for _, f in entries]
    assert kinds.count("order") >= 8 and kinds.count("cancel") >= 4

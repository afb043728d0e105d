"""kopf on kmock: a book whose leg is not its asset's linear swap, and a carry whose pair is not delta-neutral, never
trade. The API server refuses them (tests/test_strict_apiserver.py); these are stored as objects created before the
CRD had these rules (STORED_BEFORE_RULES), so the operator's own models must refuse them: Ready=False InvalidSpec,
nothing journalled, no position on the paper account."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .kube_emulator import STORED_BEFORE_RULES, ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, example, ready, status_of, wait_for

pytestmark = pytest.mark.slow

CARRIES = "/apis/hedgeops.io/v1alpha1/namespaces/default/fundingarbitrages"


def _book(name: str, symbol: str) -> dict[str, Any]:
    body = example("hedgebook-spot.yaml")
    body["metadata"] = {"name": name}
    body["spec"]["holdings"] = {"source": "Static", "static": {"SOL": 25}}
    body["spec"]["objective"] = {"hedgeRatio": 1}
    body["spec"]["legs"] = [{"asset": "SOL", "symbol": symbol}]
    body["spec"]["policyRef"]["name"] = "compact"
    return body


async def test_specs_that_would_trade_what_they_do_not_hold_are_refused(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any]) -> None:
    emulator, _ = cluster
    await emulator.post(POLICIES, json=example("rebalancepolicy-compact.yaml"))
    carry = example("fundingarbitrage-eth.yaml")
    carry["metadata"]["name"] = "btc-vs-eth"
    carry["spec"]["pairs"] = [{"spot": "BTC/USDT", "perp": "ETH/USDT:USDT"}]
    posted = [("hedgebooks", BOOKS, _book("sol-with-btc", "BTC/USDT:USDT"), "legs.0"),
              ("hedgebooks", BOOKS, _book("sol-as-spot", "SOL/USDT"), "legs.0"),
              ("fundingarbitrages", CARRIES, carry, "pairs.0")]
    for _, url, body, _ in posted:
        assert (await emulator.post(url, json=body, headers=STORED_BEFORE_RULES)).status == 201
    for plural, _, body, field in posted:
        name = body["metadata"]["name"]
        cond = await wait_for(lambda p=plural, n=name: ready(status_of(emulator, p, n)), what=f"{name} status")
        assert (cond["status"], cond["reason"]) == ("False", "InvalidSpec"), cond
        assert field in cond["message"], cond
    await asyncio.sleep(2)  # several ticks: still nothing
    redis = operator["redis"]
    for key in ("hedgebook:default/sol-with-btc", "hedgebook:default/sol-as-spot",
                "fundingarbitrage:default/btc-vs-eth"):
        assert await redis.xlen(f"hedgeops:journal:{key}") == 0
    assert ready(status_of(emulator, "hedgebooks", "sol-with-btc"))["reason"] == "InvalidSpec"  # type: ignore[index]

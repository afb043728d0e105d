"""Deleting an object cancels what it left resting before it goes (the operator's finalizer): kopf on the strict
cluster emulator, a Live MarketMaker quoting through real ccxt on the OKX emulator. While the exchange is down the
deletion waits (the object stays, Terminating, its quotes untouched); once it answers, the quotes come off, the
journal says why, and the object is gone. Before, the quotes kept resting and filling with no stop-loss."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from .emulator_fixtures import KEY, Rig, credentials_secret, live_operator_env
from .kube_emulator import ClusterEmulator
from .operator_fixtures import SECRETS, events_posted, example, status_of, wait_for

pytestmark = pytest.mark.slow
MAKERS = "/apis/hedgeops.io/v1alpha1/namespaces/default/marketmakers"


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    return live_operator_env(exchange.url)


def stored(kube: ClusterEmulator, plural: str, name: str) -> dict[str, Any] | None:
    for (res, ns, n), obj in kube.objects.items():
        if res.plural == plural and ns == "default" and n == name and not obj.deleted:
            return dict(obj.raw)
    return None


async def test_deleting_a_live_market_maker_cancels_its_quotes_waiting_out_an_exchange_outage(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    body = example("marketmaker-sol.yaml")
    body["spec"].update(mode="Live", exchange={"name": "okx", "account": "main",
                                               "credentialsSecretRef": {"name": "okx-creds"}},
                        intervalSeconds=3600, spreadRatio=0.02)  # wide and slow: the quotes rest
    assert (await kube.post(MAKERS, json=body)).status == 201
    venue = exchange.emu.account(KEY).venue

    await wait_for(lambda: len(status_of(kube, "marketmakers", "sol-mm").get("quotes") or []) == 4, timeout=60,
                   what="four quotes resting")
    quotes = {o.client_order_id for o in venue.account.open_orders()}
    assert len(quotes) == 4
    assert (stored(kube, "marketmakers", "sol-mm") or {})["metadata"].get("finalizers")  # kopf's, for the handler

    exchange.emu.faults.maintenance = 10**6  # every REST call answered 503
    assert (await kube.delete(f"{MAKERS}/sol-mm")).status == 200
    await wait_for(lambda: (stored(kube, "marketmakers", "sol-mm") or {}).get("metadata", {}).get(
        "deletionTimestamp"), what="the deletion to be marked")
    # kopf's first try and its retry (FINALIZE_RETRY_S) both meet the outage: the object and its quotes stay.
    await asyncio.sleep(7)
    assert stored(kube, "marketmakers", "sol-mm") is not None
    assert {o.client_order_id for o in venue.account.open_orders()} == quotes

    exchange.emu.faults.maintenance = 0
    await wait_for(lambda: stored(kube, "marketmakers", "sol-mm") is None, timeout=30, what="the object to go")
    assert not venue.account.open_orders()
    entries = await operator["redis"].xrange("hedgeops:journal:marketmaker:default/sol-mm")
    cancelled = [json.loads(f[b"e"]) for _, f in entries]
    assert {e["clientOrderId"] for e in cancelled if e["type"] == "cancel" and e["reason"] == "Deleted"} == quotes
    posted = await events_posted(kube, "OrdersCancelled")
    assert any("4 resting order(s) cancelled" in e.get("message", "") for e in posted)

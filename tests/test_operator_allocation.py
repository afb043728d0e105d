"""An Allocation book in the operator: kopf on kmock, Live through real ccxt to the OKX emulator's spot markets,
real Redis. The cash account is invested to its target weights, reported per asset, and then held; close-all
sells everything back to the quote currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .emulator_fixtures import KEY, Rig, credentials_secret, live_operator_env
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, SECRETS, events, events_posted, ready, status_of, wait_for

pytestmark = pytest.mark.slow
D = Decimal


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    return live_operator_env(exchange.url)


POLICY: dict[str, Any] = {
    "apiVersion": "hedgeops.io/v1alpha1", "kind": "RebalancePolicy", "metadata": {"name": "index-fund"},
    "spec": {"checkIntervalSeconds": 2, "execution": {"normal": "Taker"},
             "allocation": {"driftRatio": 0.05, "maxCostRatio": 0.01}}}


def index_book(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook",
            "metadata": {"name": "index", **({"annotations": annotations} if annotations else {})},
            "spec": {"mode": "Live", "exchange": {"name": "okx", "account": "main",
                                                  "credentialsSecretRef": {"name": "okx-creds"}},
                     "holdings": {"source": "ExchangeBalance", "exchangeBalance": {"assets": ["BTC", "ETH", "USDT"]}},
                     "objective": {"type": "Allocation", "targetWeights": {"BTC": 0.4, "ETH": 0.3, "USDT": 0.3}},
                     "policyRef": {"name": "index-fund"}}}


async def test_allocation_book_is_invested_to_its_weights_then_closed_all(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(POLICIES, json=POLICY)).status == 201
    assert (await kube.post(BOOKS, json=index_book())).status == 201

    def settled() -> dict[str, Any] | None:
        s = status_of(kube, "hedgebooks", "index")
        within = next((c for c in s.get("conditions", []) if c["type"] == "WithinBand"), None)
        return s if s.get("rebalancesTotal", 0) >= 1 and within and within["status"] == "True" else None

    status = await wait_for(settled, timeout=60, what="the index book invested and within its bands")
    assert ready(status)["status"] == "True"  # type: ignore[index]
    weights = {w["asset"]: D(str(w["weight"])) for w in status["weights"]}
    assert abs(weights["BTC"] - D("0.4")) < D("0.01") and abs(weights["ETH"] - D("0.3")) < D("0.01"), weights
    account = exchange.emu.account(KEY).venue.account
    assert account.assets["BTC"] > 0 and account.assets["ETH"] > 0
    orders = list(exchange.emu.account(KEY).ord_ids)
    assert len(orders) == 2 and all(cid.startswith("ho") for cid in orders)  # one buy per asset, nothing doubled
    await events_posted(kube, "Rebalancing", "Rebalanced")

    # close-all: everything is sold to the quote currency, reduce-only in spirit (sells of what is held).
    patch = {"metadata": {"annotations": {"hedgeops.io/close-all": "true"}}}
    assert (await kube.patch(f"{BOOKS}/index", json=patch,
                             headers={"Content-Type": "application/merge-patch+json"})).status == 200
    await wait_for(lambda: any(e.get("reason") == "ClosedAll" for e in events(kube)), timeout=60,
                   what="the book closed all")
    assert account.assets.get("BTC", D(0)) == 0 and account.assets.get("ETH", D(0)) == 0
    assert len(exchange.emu.account(KEY).ord_ids) == 4

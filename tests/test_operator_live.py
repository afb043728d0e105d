"""The operator trading for real through ccxt: kopf on kmock, a Live HedgeBook whose credentials are in a
Kubernetes Secret, real ccxt to the OKX emulator on loopback; and a Paper book on the same exchange's live
prices, which never reaches the exchange's private API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .emulator_fixtures import KEY, SECRET, Rig, credentials_secret, live_operator_env
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, SECRETS, example, ready, static_book, status_of, wait_for

pytestmark = pytest.mark.slow
D = Decimal


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    return live_operator_env(exchange.url)


async def test_live_and_live_priced_paper_books(cluster: tuple[ClusterEmulator, str], operator: dict[str, Any],
                                                exchange: Rig) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(POLICIES, json=example("rebalancepolicy-compact.yaml"))).status == 201
    for body in (static_book("live", "Live", "main", "okx-creds"), static_book("paper", "Paper", "paper", None)):
        assert (await kube.post(BOOKS, json=body)).status == 201
    # Another tenant names the same exchange, account label and Secret name, but holds no such Secret in its own
    # namespace: it must never reach the client built from the first tenant's Secret.
    attacker = BOOKS.replace("/namespaces/default/", "/namespaces/attacker/")
    policy = example("rebalancepolicy-compact.yaml")
    policy["metadata"]["namespace"] = "attacker"
    assert (await kube.post(POLICIES.replace("/default/", "/attacker/"), json=policy)).status == 201
    intruder = static_book("nokey", "Live", "main", "okx-creds")
    intruder["metadata"]["namespace"] = "attacker"
    intruder["spec"]["holdings"]["static"] = {"SOL": 500, "ETH": 30}

    live = await wait_for(lambda: (s := status_of(kube, "hedgebooks", "live")).get("rebalancesTotal", 0) >= 1 and s,
                          timeout=60, what="the live book's first rebalance")
    assert ready(live)["status"] == "True"  # type: ignore[index]
    positions = exchange.emu.account(KEY).venue.account.positions({})
    assert positions["SOL/USDT:USDT"].qty == D(-100) and positions["ETH/USDT:USDT"].qty == D(-3)
    orders = exchange.emu.account(KEY).ord_ids
    assert len(orders) == 2 and all(cid.startswith("ho") for cid in orders)

    paper = await wait_for(lambda: (s := status_of(kube, "hedgebooks", "paper")).get("rebalancesTotal", 0) >= 1
                           and s, timeout=60, what="the paper book's first rebalance")
    assert ready(paper)["status"] == "True"  # type: ignore[index]
    assert len(exchange.emu.account(KEY).ord_ids) == 2  # the paper book traded nothing on the exchange

    assert (await kube.post(attacker, json=intruder)).status == 201
    nokey = await wait_for(lambda: ready(status_of(kube, "hedgebooks", "nokey", "attacker")),
                           what="the other tenant's status")
    assert (nokey["status"], nokey["reason"]) == ("False", "VenueUnavailable")
    assert "attacker/okx-creds not found" in nokey["message"]
    assert len(exchange.emu.account(KEY).ord_ids) == 2  # nothing of the intruder's on the first tenant's account
    for name, ns in (("live", "default"), ("paper", "default"), ("nokey", "attacker")):
        assert SECRET not in str(status_of(kube, "hedgebooks", name, ns))


def test_settings_that_cannot_work_together_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from hedgeops.operator.settings import OperatorSettings

    monkeypatch.setenv("HEDGEOPS_LIVE_TRADING", "true")
    monkeypatch.setenv("HEDGEOPS_EXCHANGE_URLS", "okx=http://127.0.0.1:1, binance=http://127.0.0.1:2")
    settings = OperatorSettings.from_env()
    assert settings.exchange_urls == {"okx": "http://127.0.0.1:1", "binance": "http://127.0.0.1:2"}
    assert settings.problems() == ["HEDGEOPS_LIVE_TRADING=true needs HEDGEOPS_PRICES=live (Live books run on the "
                                   "wall clock)"]
    monkeypatch.setenv("HEDGEOPS_EXCHANGE_URLS", "okx")
    with pytest.raises(ValueError, match="name=url"):
        OperatorSettings.from_env()

"""Seed 001 through the operator: kopf on the strict test API server, a Live HedgeBook naming the emulator's
synthetic dated future and option (a spot balance is counted in tests/test_runtime_book_instruments.py: never beside
a BTC-settled option, whose value OKX's BTC balance includes), real ccxt to the OKX emulator. The Seed001 risk limits
refuse the first hedge (seed 001's 30% concentration: one asset is all of this book), told as an event with nothing
sent; an explicit limit over the preset lets it trade, and the status shows the delta instrument by instrument. A
venue that stops reporting the option's greek makes the book Degraded, naming the option."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig, credentials_secret, live_operator_env, start
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, SECRETS, events_posted, ready, status_of, wait_for

pytestmark = pytest.mark.slow
D = Decimal
PERP, FUTURE, OPTION = "BTC/USDT:USDT", "BTC/USDT:USDT-260327", "BTC/USD:BTC-260327-100000-C"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
async def exchange() -> AsyncIterator[Rig]:
    async for r in start():
        for symbol in (PERP, "BTC/USDT", FUTURE, OPTION):  # loaded here, not inside a request ccxt times out
            r.emu.replay.series(symbol)
        r.emu.account(KEY).venue.account.quote_balance = D(1_000_000)
        yield r


class EmulatorTimeline:
    """Wall time moved onto the emulator's replay (it starts at the emulator's time and runs at wall speed). The
    operator judges an instrument's expiry on its clock: on the wall clock the emulator's synthetic 2026-03-27
    series, listed as live on the replay's 2025, would have expired (issue 19 gives the emulator and the operator
    one clock)."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


@pytest.fixture
def operator_env(exchange: Rig, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr("hedgeops.runtime.app.WallClock", lambda: EmulatorTimeline(exchange.clock()))
    return live_operator_env(exchange.url)


def policy() -> dict[str, Any]:
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "RebalancePolicy", "metadata": {"name": "seed"},
            "spec": {"preset": "Compact", "checkIntervalSeconds": 2, "minOrder": {"BTC": 0.0005},
                     "limits": {"preset": "Seed001"}}}


def btc_book() -> dict[str, Any]:
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook", "metadata": {"name": "btc"},
            "spec": {"mode": "Live",
                     "exchange": {"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}},
                     "holdings": {"source": "Static", "static": {"BTC": 1}},
                     "legs": [{"asset": "BTC", "symbol": PERP}],
                     "instruments": [{"asset": "BTC", "kind": "Future", "symbol": FUTURE},
                                     {"asset": "BTC", "kind": "Option", "symbol": OPTION}],
                     "policyRef": {"name": "seed"}}}


async def test_the_operator_counts_every_instrument_and_applies_the_seed_limits(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    ex = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                   "options": {"fetchMarkets": {"types": ["spot", "swap", "future", "option"]}}})
    ex.urls["api"] = {"rest": exchange.url}
    ex.has["fetchCurrencies"] = False
    try:
        await ex.create_order("BTC/USDT", "market", "buy", 0.5, None, {"tgtCcy": "base_ccy"})
        await ex.create_order(OPTION, "limit", "buy", 10, (await ex.fetch_ticker(OPTION))["ask"])
        await ex.create_order(FUTURE, "market", "sell", 30)
    finally:
        await ex.close()
    account = exchange.emu.account(KEY).venue.account
    placed = exchange.emu.orders_placed()

    # The API server refuses an instrument without its symbol, naming the field.
    bad = btc_book()
    bad["metadata"]["name"] = "bad"
    bad["spec"]["instruments"][1].pop("symbol")
    refused = await kube.post(BOOKS, json=bad)
    assert refused.status == 422 and "instruments[1].symbol" in await refused.text()
    # ... and a Spot balance beside the BTC-settled option (OKX's BTC balance includes the option's value).
    bad = btc_book()
    bad["metadata"]["name"] = "bad"
    bad["spec"]["instruments"].append({"asset": "BTC", "kind": "Spot"})
    refused = await kube.post(BOOKS, json=bad)
    assert refused.status == 422 and "details.eq" in await refused.text()

    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(POLICIES, json=policy())).status == 201
    assert (await kube.post(BOOKS, json=btc_book())).status == 201
    await events_posted(kube, "ConcentrationLimit", timeout=60)
    assert exchange.emu.orders_placed() == placed  # the seed's limit held the plan back: nothing sent

    limits = {"spec": {"limits": {"preset": "Seed001", "maxConcentrationRatio": 1}}}
    assert (await kube.patch(f"{POLICIES}/seed", json=limits, headers=MERGE)).status == 200
    status = await wait_for(lambda: (s := status_of(kube, "hedgebooks", "btc")).get("rebalancesTotal", 0) >= 1
                            and s, timeout=60, what="the book's first rebalance")
    [btc] = status["exposures"]
    assert [(i["symbol"], i["kind"]) for i in btc["instruments"]] == [
        (PERP, "Perp"), (FUTURE, "Future"), (OPTION, "Option")]
    observed = sum((D(str(i["delta"])) for i in btc["instruments"][1:]), D(0))
    assert abs(account.positions({})[PERP].qty - (-1 - observed)) < D("0.0001")
    assert {o.symbol for o in account.orders.values()} - {"BTC/USDT", FUTURE, OPTION} == {PERP}

    exchange.emu.faults.no_greeks = True
    degraded = await wait_for(
        lambda: next((c for c in status_of(kube, "hedgebooks", "btc").get("conditions", [])
                      if c["type"] == "Degraded" and c["status"] == "True"), None), timeout=60, what="Degraded")
    assert degraded["reason"] == "DeltaUnavailable" and OPTION in degraded["message"]
    assert ready(status_of(kube, "hedgebooks", "btc"))["status"] == "False"  # type: ignore[index]

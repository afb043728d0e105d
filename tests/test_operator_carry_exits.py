"""Seed 004's risk exits end to end: kopf on kmock, real Redis, a Live FundingArbitrage trading through real ccxt
against the OKX emulator, each exit driven by an emulator control (a price shock, the next funding rate) or by a
person's trade on the account. One operator run: leg realignment and collateral top-up on ETH, stop-loss on BTC,
take-profit on SOL, negative funding on ETH; then, re-entered, margin below the emergency ratio on ETH. The
operator's clock is the wall clock and its scan every 5 minutes: every exit here is seen by the per-tick watch."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay

from .emulator_controls import control
from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock, Rig, credentials_secret, okx
from .kube_emulator import ClusterEmulator
from .operator_fixtures import SECRETS, events_posted, status_of, wait_for

pytestmark = pytest.mark.slow
CARRY = "/apis/hedgeops.io/v1alpha1/namespaces/default/fundingarbitrages"
BASES = ("ETH", "BTC", "SOL")


@pytest.fixture
async def exchange() -> AsyncIterator[Rig]:
    """The emulator with its test controls on."""
    clock = Clock()
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, PASSPHRASE)})
    async with serving(emu, controls=True) as (app, url):
        yield Rig(emu, app, clock, url)


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    # The emulator stamps its quotes in replay time (2025) while Live runs on the wall clock: no age check here.
    return {"HEDGEOPS_PRICES": "live", "HEDGEOPS_LIVE_TRADING": "true", "HEDGEOPS_EXCHANGE_URLS": f"okx={exchange.url}",
            "HEDGEOPS_MAX_DATA_AGE_SECONDS": "off"}


def carry() -> dict[str, Any]:
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "FundingArbitrage", "metadata": {"name": "exits"},
            "spec": {"mode": "Live",
                     "exchange": {"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}},
                     "pairs": [{"spot": f"{b}/USDT", "perp": f"{b}/USDT:USDT"} for b in BASES],
                     # 5000 per pair of a 10000 spot share (the rest is free to top the margin up), 5000 collateral
                     "capital": {"amountQuote": 60000, "spotRatio": 0.5, "perpRatio": 0.25,
                                 "maxPerPositionQuote": 5000},
                     "entry": {"minFundingRate": 0.00001},
                     "exit": {"stopLossRatio": -0.02, "takeProfitRatio": 0.05, "negativeFundingPeriods": 1},
                     "rebalance": {"compoundMarginRatio": None},
                     "liquidity": {"minDepthQuote": 10000}}}


async def positive_funding(url: str) -> None:
    for b in BASES:  # the coming settlement inside the entry range, whatever the real rate was then
        assert (await control(url, "/emulator/funding", {"instId": f"{b}-USDT-SWAP", "rate": "0.0001"}))[0] == 200


async def shock(url: str, inst: str, ratio: str) -> None:
    """One instrument (BTC-USDT-SWAP) or both legs of a base at one instant (ETH-USDT, as instFamily)."""
    key = "instId" if inst.endswith("SWAP") else "instFamily"
    assert (await control(url, "/emulator/shock", {key: inst, "ratio": ratio}))[0] == 200


def leg(kube: ClusterEmulator, base: str) -> dict[str, Any]:
    legs = status_of(kube, "fundingarbitrages", "exits").get("legs") or []
    return next((x for x in legs if x["perp"] == f"{base}/USDT:USDT"), {})


async def until(kube: ClusterEmulator, base: str, phase: str, reason: str | None = None,
                timeout: float = 30) -> dict[str, Any]:
    def ok() -> dict[str, Any] | None:
        x = leg(kube, base)
        return x if x.get("phase") == phase and (reason is None or x.get("reason") == reason) else None
    return dict(await wait_for(ok, timeout=timeout, what=f"{base} {phase} {reason or ''}: {leg(kube, base)}"))


async def test_every_carry_exit_on_the_operator_against_the_emulator(cluster: tuple[ClusterEmulator, str],
                                                                      operator: dict[str, Any],
                                                                      exchange: Rig) -> None:
    kube, _ = cluster
    url = exchange.url
    await positive_funding(url)
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(CARRY, json=carry())).status == 201
    for b in BASES:
        opened = await until(kube, b, "Open", timeout=60)
        assert float(opened["spotQty"]) > 0 and float(opened["perpQty"]) == -float(opened["spotQty"])

    # Leg realignment: a person sells one more ETH contract on the account; the perp is brought back to the spot.
    person = okx(url)
    try:
        await person.load_markets()
        await person.create_order("ETH/USDT:USDT", "market", "sell", 1, None, {"clientOrderId": "person1"})
    finally:
        await person.close()
    await events_posted(kube, "LegDeviation")
    eth = await until(kube, "ETH", "Open")
    await wait_for(lambda: float(leg(kube, "ETH")["perpQty"]) == -float(leg(kube, "ETH")["spotQty"]),
                   what="ETH legs equal again")

    # Collateral top-up: ETH up 30% on both legs: the short's margin ratio falls to ~0.54 (< 0.8, > 0.5).
    await shock(url, "ETH-USDT", "0.3")
    await events_posted(kube, "MarginTopUp")
    eth = await wait_for(lambda: (x := leg(kube, "ETH")).get("reason") == "MarginTopUp" and x, what="top-up")
    assert float(eth["marginRatio"]) >= 0.99 and eth["phase"] == "Open"

    # Stop-loss: BTC's perp 5% above its spot: the basis loss is -2.5% of the position's capital. The shock is
    # taken away once the pair is closed: another pair's plan in flight steps every pair, and BTC may re-enter.
    await shock(url, "BTC-USDT-SWAP", "0.05")
    await until(kube, "BTC", "Closed", "Closed")
    await shock(url, "BTC-USDT-SWAP", "0")
    # Take-profit: SOL's perp 12% below its spot: +6%.
    await shock(url, "SOL-USDT-SWAP", "-0.12")
    await until(kube, "SOL", "Closed", "Closed")
    await shock(url, "SOL-USDT-SWAP", "0")
    await events_posted(kube, "StopLoss", "TakeProfit")

    # Negative funding: ETH's coming settlement at -0.5%; the replay passes it; the short pays and the pair closes.
    assert (await control(url, "/emulator/funding", {"instId": "ETH-USDT-SWAP", "rate": "-0.005"}))[0] == 200
    exchange.clock.advance(8 * 3600)
    await until(kube, "ETH", "Closed", "Closed")
    await events_posted(kube, "NegativeFunding")

    # Re-entered (a spec change is acted on at the next tick), then ETH up 80%: margin ratio ~0.11 < 0.5.
    await shock(url, "ETH-USDT", "0")
    await positive_funding(url)
    resp = await kube.patch(f"{CARRY}/exits", data=json.dumps({"spec": {"entry": {"maxFundingRate": 0.009}}}),
                            headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status == 200
    await until(kube, "ETH", "Open", timeout=60)
    await shock(url, "ETH-USDT", "0.8")
    await events_posted(kube, "EmergencyMargin")
    eth = await until(kube, "ETH", "Closed", "Closed")
    assert float(eth["spotQty"]) == 0 and float(eth["perpQty"]) == 0

    entries = await operator["redis"].xrange("hedgeops:journal:fundingarbitrage:default/exits")
    decided = {json.loads(f[b"e"]).get("reason") for _, f in entries}
    assert {"LegDeviation", "MarginTopUp", "StopLoss", "TakeProfit", "NegativeFunding", "EmergencyMargin"} <= decided
    kinds = [json.loads(f[b"e"])["type"] for _, f in entries]
    assert "transfer" in kinds and "funding" in kinds
    positions = exchange.emu.account(KEY).venue.account.positions({})
    assert "ETH/USDT:USDT" not in positions or positions["ETH/USDT:USDT"].qty == 0  # closed on the exchange
    status = status_of(kube, "fundingarbitrages", "exits")
    # The object's breaker counted every pair's closes: the stop-loss's loss, and the others' fees.
    assert float(status["breaker"]["dailyLossQuote"]) > 100 and SECRET not in str(status)

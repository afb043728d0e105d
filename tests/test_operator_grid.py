"""Seed 004's second layer end to end: kopf on kmock, real Redis, a Live FundingArbitrage with a BTC grid trading
through real ccxt against the OKX emulator on the bundled real prices. The emulator's clock starts on 2025-01-06
00:00 UTC, where BTC's hourly ADX is 16.8 (a range): the grid is laid from the candles the emulator serves. The test
then moves the emulator's clock to the first bar that trades through a level (found in the data): the fill is
replaced by the opposite order one level away; and then to the first bar that closes outside the range (found in
the data too): the breakout stop cancels every order and closes the position at market, reduce-only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock, Rig, credentials_secret, live_operator_env, okx
from .kube_emulator import ClusterEmulator
from .operator_fixtures import SECRETS, events_posted, status_of, wait_for

pytestmark = pytest.mark.slow
CARRY = "/apis/hedgeops.io/v1alpha1/namespaces/default/fundingarbitrages"
BTC = "BTC/USDT:USDT"
START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)


@pytest.fixture
async def exchange() -> AsyncIterator[Rig]:
    clock = Clock(START)
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, PASSPHRASE)})
    async with serving(emu) as (app, url):
        yield Rig(emu, app, clock, url)


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    return live_operator_env(exchange.url)


def carry() -> dict[str, Any]:
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "FundingArbitrage", "metadata": {"name": "layers"},
            "spec": {"mode": "Live",
                     "exchange": {"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}},
                     "pairs": [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"}],
                     "capital": {"amountQuote": 10000},
                     "exit": {"stopLossRatio": -0.02},
                     "liquidity": {"minDepthQuote": 10000},
                     "enhancement": {"capitalShare": 0.2,
                                     "grid": {"symbol": BTC, "leverage": 2, "stopLossRatio": -0.05}}}}


def grid(kube: ClusterEmulator) -> dict[str, Any]:
    return dict(status_of(kube, "fundingarbitrages", "layers").get("grid") or {})


def first_bar(after: datetime, hit: Any) -> datetime:
    """The end of the first replayed 5-minute BTC bar after `after` for which `hit(bar)` holds."""
    series = MarketReplay().series(BTC)
    return next(b.end for b in series.bars_between(after, datetime(2025, 1, 8, tzinfo=UTC)) if hit(b))


async def resting_on_the_exchange(url: str) -> list[dict[str, Any]]:
    person = okx(url)
    try:
        await person.load_markets()
        return list(await person.fetch_open_orders(BTC))
    finally:
        await person.close()


async def test_the_grid_lays_replaces_and_stops_on_the_operator_against_the_emulator(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(CARRY, json=carry())).status == 201

    laid = await wait_for(lambda: (g := grid(kube)).get("phase") == "Running" and len(g["orders"]) == 10 and g,
                          timeout=60, what=f"the grid laid: {grid(kube)}")
    assert laid["adx"] < 25 and laid["generation"] == 1
    levels = [Decimal(str(x)) for x in laid["levels"]]
    assert len(levels) == 11 and len(await resting_on_the_exchange(exchange.url)) == 10

    # The first bar that trades through the level next to the price, while every close stays in the range.
    inner_buy, inner_sell = levels[4], levels[6]
    fill_at = first_bar(START, lambda b: b.low < inner_buy or b.high > inner_sell)
    first = first_bar(START, lambda b: b.close < levels[0] or b.close > levels[-1])
    assert fill_at < first, "the data's first fill comes after its breakout: pick another start"
    exchange.clock.t = fill_at
    filled = await wait_for(lambda: (g := grid(kube)).get("position", 0) != 0 and g.get("seq", 0) > laid["seq"] and g,
                            timeout=30, what=f"a level filled and replaced: {grid(kube)}")
    assert filled["phase"] == "Running"
    q = Decimal(str(filled["levelQty"]))
    position = Decimal(str(filled["position"]))
    # one level filled: the opposite order rests one level away from it (the classic grid), on the exchange too
    side, level = ("sell", levels[5]) if position > 0 else ("buy", levels[5])
    assert abs(position) == q
    resting = await resting_on_the_exchange(exchange.url)
    assert any(o["side"] == side and Decimal(str(o["price"])) == level for o in resting)
    assert len(resting) == 10

    # The breakout: the first bar closing outside the range; the emulator's quote is that close from its end on.
    exchange.clock.t = first
    stopped = await wait_for(lambda: (g := grid(kube)).get("phase") == "CoolingDown" and g, timeout=30,
                             what=f"the breakout stop: {grid(kube)}")
    assert stopped["stops"] == 1 and stopped["position"] == 0 and stopped["orders"] == []
    assert await resting_on_the_exchange(exchange.url) == []
    await events_posted(kube, "GridLaid", "GridBreakout", "GridStopped")

    entries = await operator["redis"].xrange("hedgeops:journal:fundingarbitrage:default/layers")
    docs = [json.loads(f[b"e"]) for _, f in entries]
    reasons = [d.get("reason") for d in docs if d["type"] == "decision"]
    assert "GridLaid" in reasons and "GridBreakout" in reasons
    assert any(d["type"] == "cancel" for d in docs) and sum(d["type"] == "order" for d in docs) >= 12

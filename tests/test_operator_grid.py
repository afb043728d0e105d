"""Seed 004's second layer end to end: kopf on kmock, real Redis, a Live FundingArbitrage with a SOL grid and a BTC
contrarian trade, through real ccxt against the OKX emulator on the bundled real prices. The emulator's clock starts
on 2025-04-21 16:00 UTC, where SOL's hourly ADX is 20.7 (a range: the grid is laid from the candles the emulator
serves) and BTC's 4-hour RSI is 72.4 under a falling daily EMA with ADX 24.1 (euphoria in a downtrend: sold, with its
stop and target). The test then moves the emulator's clock to the first bar that trades through a grid level (found
in the data): the fill is replaced by the opposite order one level away; to the first bar closing outside the range
(found in the data too): the breakout stop cancels every order and closes the grid's position at market; and to the
first BTC bar closing through the contrarian's stop (from the data as well): it is closed at market, reduce-only."""

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
SOL, BTC = "SOL/USDT:USDT", "BTC/USDT:USDT"
START = datetime(2025, 4, 21, 16, 0, tzinfo=UTC)


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
                                     "grid": {"symbol": SOL, "leverage": 2, "stopLossRatio": -0.05},
                                     "contrarian": {"symbol": BTC, "stopLossRatio": -0.03}}}}


def grid(kube: ClusterEmulator) -> dict[str, Any]:
    return dict(status_of(kube, "fundingarbitrages", "layers").get("grid") or {})


def contrarian(kube: ClusterEmulator) -> dict[str, Any]:
    return dict(status_of(kube, "fundingarbitrages", "layers").get("contrarian") or {})


def first_bar(symbol: str, after: datetime, hit: Any) -> datetime:
    """The end of the first replayed 5-minute bar of `symbol` after `after` for which `hit(bar)` holds: from then on
    the emulator's quote is that bar's close."""
    series = MarketReplay().series(symbol)
    return next(b.end for b in series.bars_between(after, datetime(2025, 4, 28, tzinfo=UTC)) if hit(b))


async def resting_on_the_exchange(url: str) -> list[dict[str, Any]]:
    person = okx(url)
    try:
        await person.load_markets()
        return list(await person.fetch_open_orders(SOL))
    finally:
        await person.close()


async def test_the_second_layer_on_the_operator_against_the_emulator(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(CARRY, json=carry())).status == 201

    laid = await wait_for(lambda: (g := grid(kube)).get("phase") == "Running" and len(g["orders"]) == 10 and g,
                          timeout=60, what=f"the grid laid: {grid(kube)}")
    assert laid["adx"] < 25 and laid["generation"] == 1
    levels = [Decimal(str(x)) for x in laid["levels"]]
    assert len(levels) == 11 and len(await resting_on_the_exchange(exchange.url)) == 10
    short = await wait_for(lambda: (c := contrarian(kube)).get("phase") == "Short" and c, timeout=30,
                           what=f"the contrarian short: {contrarian(kube)}")
    assert short["rsi"] >= 70 and short["trend"] == "Down" and short["adx"] < 25 and short["trades"] == 1
    entry, stop = Decimal(str(short["entryPrice"])), Decimal(str(short["stopPrice"]))
    assert stop == entry * Decimal("1.03") and Decimal(str(short["takeProfitPrice"])) == entry * Decimal("0.94")

    # The first bar that trades through the level next to the price, while every close stays in the range.
    inner_buy, inner_sell = levels[4], levels[6]
    fill_at = first_bar(SOL, START, lambda b: b.low < inner_buy or b.high > inner_sell)
    first = first_bar(SOL, START, lambda b: b.close < levels[0] or b.close > levels[-1])
    stopped_out = first_bar(BTC, START, lambda b: b.close >= stop)
    assert fill_at < first < stopped_out, "the data's events come in another order: pick another start"
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
    assert any(d["type"] == "cancel" for d in docs) and sum(d["type"] == "order" for d in docs) >= 13

    # The contrarian's stop: the first BTC close through it; closed at market, reduce-only, and a cool-down.
    exchange.clock.t = stopped_out
    closed = await wait_for(lambda: (c := contrarian(kube)).get("phase") == "CoolingDown" and c, timeout=30,
                            what=f"the contrarian stopped out: {contrarian(kube)}")
    assert closed["position"] == 0 and closed["pnlQuote"] < 0 and closed["trades"] == 1
    await events_posted(kube, "ContrarianEntry", "ContrarianStopLoss", "ContrarianClosed")
    state = status_of(kube, "fundingarbitrages", "layers")
    # The grid's generation and this trade are closes of the object's breaker, in that order.
    assert state["breaker"]["consecutiveLosses"] == (2 if stopped["pnlQuote"] < 0 else 1)
    assert state["breaker"]["dailyLossQuote"] >= -closed["pnlQuote"] - 1e-6

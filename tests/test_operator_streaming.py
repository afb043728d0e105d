"""The operator on the exchange's websockets (HEDGEOPS_STREAMING): kopf on kmock, real Redis, a Live HedgeBook, a Live
FundingArbitrage and a Live MarketMaker on one OKX emulator account through real ccxt.pro (the emulator's OKX v5
websockets), its REST behind them only for gaps.

- Steady state costs no REST request: the snapshot is the stream's.
- An outside fill on the account (another client's trade) pushes the book beyond its emergency band: the stream
  wakes the book at once, long before its hour-long check interval, and the hedge is restored with one order.
- The connection is dropped while REST is down (so the venue cannot reconcile) and an outside fill unhedges the
  book meanwhile: nothing is sent while the stream is untrusted and the book says Degraded StaleMarketData; once
  REST answers again the venue reconciles, trusts the stream, and the book sends exactly one order, never two.
- The market maker requotes when the touch moves beyond its tolerance (not at its interval), and the carry enters
  its pair on the stream's snapshot."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.model.orders import OrderRequest, OrderType, Side

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock, Rig, credentials_secret, live_operator_env, okx
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, SECRETS, ready, static_book, status_of, wait_for

pytestmark = pytest.mark.slow
D = Decimal
SOL, ETH = "SOL/USDT:USDT", "ETH/USDT:USDT"
MAKERS = "/apis/hedgeops.io/v1alpha1/namespaces/default/marketmakers"
CARRY = "/apis/hedgeops.io/v1alpha1/namespaces/default/fundingarbitrages"


@pytest.fixture
async def exchange() -> AsyncIterator[Rig]:
    clock = Clock()
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, PASSPHRASE)})
    async with serving(emu) as (app, url):
        yield Rig(emu, app, clock, url)


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    return {**live_operator_env(exchange.url), "HEDGEOPS_STREAMING": "true",
            "HEDGEOPS_STREAM_MIN_SPACING_SECONDS": "0.2"}


def policy() -> dict[str, Any]:
    """Compact bands, looked at once an hour by schedule: anything sooner is the stream's doing."""
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "RebalancePolicy", "metadata": {"name": "compact"},
            "spec": {"preset": "Compact", "checkIntervalSeconds": 3600, "limits": {"maxRebalancesPerDay": 1000}}}


async def metrics(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())


def triggered(text: str, kind: str, reason: str) -> float:
    pattern = rf'hedgeops_stream_triggered_cycles_total{{kind="{kind}",reason="{reason}"}} (\S+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


def perp(rig: Rig, symbol: str) -> Decimal:
    pos = rig.emu.account(KEY).venue.account.positions({}).get(symbol)
    return pos.qty if pos is not None else D(0)


async def outside_fill(rig: Rig, cid: str, side: Side, amount: str) -> None:
    """Another client's market order on the same account (the emulator's own matching, as a REST order would)."""
    await rig.emu.account(KEY).venue.place(OrderRequest(cid, SOL, side, D(amount), OrderType.MARKET))


async def moving(rig: Rig, seconds: float, step: float = 60.0) -> None:
    """The replay clock moves a minute every 0.1 s for `seconds` (real prices: tickers and books push)."""
    for _ in range(int(seconds / 0.1)):
        rig.clock.advance(step)
        await asyncio.sleep(0.1)


async def test_a_live_book_streams_reacts_to_an_outside_fill_and_never_trades_on_an_untrusted_stream(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(POLICIES, json=policy())).status == 201
    assert (await kube.post(BOOKS, json=static_book("live", "Live", "main", "okx-creds"))).status == 201
    first = await wait_for(lambda: (s := status_of(kube, "hedgebooks", "live")).get("rebalancesTotal", 0) >= 1
                           and ready(s) and ready(s)["status"] == "True" and s, timeout=60,  # type: ignore[index]
                           what="the live book's first rebalance")
    assert first["rebalancesTotal"] == 1
    await wait_for(lambda: perp(exchange, SOL) == D(-100) and perp(exchange, ETH) == D(-3), what="hedged")
    orders = len(exchange.emu.account(KEY).ord_ids)

    # Steady state: prices move, the book is within its bands; the operator asks nothing of REST.
    await asyncio.sleep(1.0)  # the first plan's last lookups are done
    before = exchange.app.requests
    await moving(exchange, 3.0)
    assert exchange.app.requests == before, "REST was polled while the stream was healthy"

    # Another client buys 10 SOL back on the account: 10 % off the hedge, beyond the 5 % emergency band.
    await outside_fill(exchange, "outside-1", Side.BUY, "10")
    await wait_for(lambda: perp(exchange, SOL) == D(-100), timeout=10, what="the hedge restored by the stream")
    assert len(exchange.emu.account(KEY).ord_ids) == orders + 1  # one order: the 10 SOL sold again
    text = await metrics(operator["metrics_port"])
    assert triggered(text, "HedgeBook", "EmergencyAssetDeviation") >= 1
    restored = await wait_for(lambda: (s := status_of(kube, "hedgebooks", "live")).get("rebalancesTotal") == 2
                              and s, what="the second rebalance in the status")
    assert restored["lastRebalance"]["urgency"] == "Emergency"

    # The connection drops while REST is down: the venue cannot reconcile, so it does not trust the stream.
    orders = len(exchange.emu.account(KEY).ord_ids)
    exchange.emu.faults.maintenance = 1_000_000
    exchange.emu.faults.ws_drop_code = 4000
    await outside_fill(exchange, "outside-2", Side.SELL, "10")  # unhedged again, the other way, during the gap
    degraded = await wait_for(lambda: (c := ready(status_of(kube, "hedgebooks", "live"))) is not None
                              and c["reason"] == "StaleMarketData" and c, timeout=20,
                              what="Degraded StaleMarketData while the stream is untrusted")
    assert "not trusted" in degraded["message"]
    await moving(exchange, 2.0)
    assert len(exchange.emu.account(KEY).ord_ids) == orders, "an order was sent on an untrusted stream"
    assert perp(exchange, SOL) == D(-110)

    # REST answers again: the venue reconciles, trusts the stream, and the book corrects once.
    exchange.emu.faults.maintenance = 0
    await wait_for(lambda: perp(exchange, SOL) == D(-100), timeout=30, what="the hedge restored after the gap")
    await wait_for(lambda: (c := ready(status_of(kube, "hedgebooks", "live"))) is not None and c["status"] == "True",
                   timeout=20, what="Ready again")
    await moving(exchange, 2.0)
    assert len(exchange.emu.account(KEY).ord_ids) == orders + 1, "nothing twice after the gap"
    assert perp(exchange, SOL) == D(-100)


def maker() -> dict[str, Any]:
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "MarketMaker", "metadata": {"name": "mm"},
            "spec": {"mode": "Live",
                     "exchange": {"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}},
                     "symbol": SOL, "spreadRatio": 0.004, "quantity": 1, "maxOrders": 1, "positionThreshold": 5,
                     "maxPosition": 10, "stopLossQuote": -500, "intervalSeconds": 3600,
                     "requoteToleranceRatio": 0.001}}


def carry() -> dict[str, Any]:
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "FundingArbitrage", "metadata": {"name": "carry"},
            "spec": {"mode": "Live",
                     "exchange": {"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}},
                     "pairs": [{"spot": "ETH/USDT", "perp": ETH}], "capital": {"amountQuote": 10000},
                     "entry": {"minFundingRate": 0.00001},  # ETH's 0.0034 % at the emulator's start
                     "exit": {"stopLossRatio": -0.02}, "liquidity": {"minDepthQuote": 10000}}}


async def test_a_market_maker_requotes_on_the_touch_and_a_carry_trades_on_the_stream(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(MAKERS, json=maker())).status == 201
    assert (await kube.post(CARRY, json=carry())).status == 201
    quoted = await wait_for(lambda: (s := status_of(kube, "marketmakers", "mm")).get("quotesPlaced", 0) >= 2 and s,
                            timeout=60, what="the maker's first quotes")
    cycle = quoted.get("cycle", 0)
    entered = await wait_for(lambda: any(leg.get("perpQty") not in (None, 0, "0")
                                         for leg in status_of(kube, "fundingarbitrages", "carry").get("legs", []))
                             and status_of(kube, "fundingarbitrages", "carry"), timeout=60,
                             what="the carry's pair entered")
    assert ready(entered)["status"] == "True"  # type: ignore[index]
    # Prices move (a minute of replay every 0.1 s): the touch leaves the 0.1 % tolerance long before the maker's
    # hour-long interval, and it requotes, over the socket: the maker's and the carry's ticks (its margin watch, its
    # funding rate, streamed too) ask nothing of REST.
    await asyncio.sleep(1.0)
    before = exchange.app.requests
    await moving(exchange, 3.0)
    assert exchange.app.requests == before, "REST was polled while the stream was healthy"
    requoted = await wait_for(lambda: (s := status_of(kube, "marketmakers", "mm")).get("cycle", 0) > cycle and s,
                              timeout=20, what="a requote on the touch")
    assert requoted["quotesPlaced"] > quoted["quotesPlaced"]
    text = await metrics(operator["metrics_port"])
    assert triggered(text, "MarketMaker", "TouchMoved") + triggered(text, "MarketMaker", "QuoteFilled") >= 1
    # The quotes the status holds are the ones resting on the exchange (none twice).
    person = okx(exchange.url)
    try:
        await person.load_markets()
        resting = [o["clientOrderId"] for o in await person.fetch_open_orders(SOL)]
    finally:
        await person.close()
    assert len(resting) == len(set(resting))

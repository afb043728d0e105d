"""Seed 002's volatility-driven parts in the operator: kopf on the strict test API server, a Live Allocation book
through real ccxt to the OKX emulator (replaying 2025-06-01), real Redis. The operator reads the daily candles
the exchange serves; the book's InverseVolatility targets and its dynamic schedule's row are checked against σ
computed here with the standard library from the bundled data file the emulator replays."""

from __future__ import annotations

import csv
import gzip
import itertools
import math
import statistics
from datetime import UTC, datetime
from typing import Any

import pytest

from .conftest import ROOT
from .emulator_fixtures import Rig, credentials_secret, live_operator_env
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, SECRETS, status_of, wait_for
from .test_operator_allocation import index_book

pytestmark = pytest.mark.slow

POLICY: dict[str, Any] = {
    "apiVersion": "hedgeops.io/v1alpha1", "kind": "RebalancePolicy", "metadata": {"name": "index-fund"},
    "spec": {"checkIntervalSeconds": 1, "execution": {"normal": "Taker"}, "allocation": {"maxCostRatio": 0.01},
             "schedule": {"dynamic": {"window": {"timeframe": "1d", "candles": 30}}}}}


@pytest.fixture
def operator_env(exchange: Rig) -> dict[str, str]:
    return live_operator_env(exchange.url)


def daily_returns(asset: str) -> list[float]:
    """Log returns of the 30 daily closes before the emulator's 2025-06-01, read from the bundled data file itself:
    each day's close is the close of its last 5-minute bar (23:55 UTC)."""
    first, end = datetime(2025, 5, 2, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    closes = []
    with gzip.open(ROOT / "data" / f"binance_spot_{asset}_USDT_5m.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            t = datetime.fromtimestamp(int(row["ts"]) / 1000, UTC)
            if first <= t < end and (t.hour, t.minute) == (23, 55):
                closes.append(float(row["close"]))
    assert len(closes) == 30
    return [math.log(b / a) for a, b in itertools.pairwise(closes)]


async def test_inverse_volatility_targets_and_the_dynamic_schedule_from_the_exchanges_candles(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any], exchange: Rig) -> None:
    kube, _ = cluster
    book = index_book()
    book["spec"]["objective"]["weighting"] = "InverseVolatility"
    assert (await kube.post(SECRETS, json=credentials_secret())).status == 201
    assert (await kube.post(POLICIES, json=POLICY)).status == 201
    resp = await kube.post(BOOKS, json=book)
    assert resp.status == 201, await resp.text()

    def weighed() -> dict[str, Any] | None:
        s = status_of(kube, "hedgebooks", "index")
        return s if s.get("schedule") and any(w.get("volatilityRatio") for w in s.get("weights", [])) else None

    status = await wait_for(weighed, timeout=60, what="the book weighed by volatility")
    rets = {a: daily_returns(a) for a in ("BTC", "ETH")}
    sigma = {a: statistics.stdev(r) * math.sqrt(365) for a, r in rets.items()}
    w = {x["asset"]: x for x in status["weights"]}
    for a in ("BTC", "ETH"):  # (the exchange quotes on the market's tick: a close may differ in its last digit)
        assert w[a]["volatilityRatio"] == pytest.approx(sigma[a], rel=1e-4)
        assert w[a]["staticWeight"] == {"BTC": 0.4, "ETH": 0.3}[a] and "InverseVolatility" in w[a]["weightingReason"]
    assert w["BTC"]["targetWeight"] / w["ETH"]["targetWeight"] == pytest.approx(sigma["ETH"] / sigma["BTC"], rel=1e-4)
    assert w["BTC"]["targetWeight"] + w["ETH"]["targetWeight"] == pytest.approx(0.7)
    assert w["USDT"]["targetWeight"] == 0.3
    # The dynamic schedule reads the book's volatility at those targets: the seed's row for it.
    x = {a: w[a]["targetWeight"] for a in rets}
    vol = math.sqrt(365 * sum(x[a] * x[b] * statistics.covariance(rets[a], rets[b]) for a in rets for b in rets))
    assert status["schedule"]["volatilityRatio"] == pytest.approx(vol, rel=1e-4)
    rows = [(0.60, "0 0 * * *"), (0.40, "0 0 * * 1"), (0.25, "0 0 1,15 * *"), (0.15, "0 0 1 * *"),
            (0.0, "0 0 1 1,4,7,10 *")]
    assert status["schedule"]["cron"] == next(c for t, c in rows if vol >= t)

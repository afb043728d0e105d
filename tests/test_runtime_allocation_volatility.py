"""Seed 002's volatility-driven parts in local mode's runtime, on the paper venue's daily candles of the bundled real
prices: InverseVolatility and RiskParity targets (shown per asset in status.weights with the reason) and the
dynamic schedule choosing its row of the volatility table. The expected figures are computed here independently,
with the standard library's statistics, from the candles the venue serves."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api import HedgeBook
from hedgeops.api.hedgebook import HedgeBookStatus

from .runtime_fixtures import Rig, book, policy, rig
from .test_runtime_allocation import alloc_book, venue_of
from .test_runtime_allocation_schedule import cycle

D = Decimal
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
STATIC = {"BTC": D("0.35"), "ETH": D("0.35"), "USDT": D("0.30")}


async def daily_returns(r: Rig, asset: str, n: int = 30) -> list[float]:
    closes = [float(c.close) for c in await venue_of(r).candles(f"{asset}/USDT", "1d", n)]
    assert len(closes) == n  # the bundled data has a month behind March 2025
    return [math.log(b / a) for a, b in itertools.pairwise(closes)]


def weighted(weighting: str, **objective: Any) -> HedgeBook:
    """A BTC/ETH/USDT cash book whose static targets are 35/35/30, weighted by `weighting`."""
    return book(holdings={"source": "ExchangeBalance", "exchangeBalance": {"assets": ["BTC", "ETH", "USDT"]}},
                legs=[], objective={"type": "Allocation", "targetWeights": {k: str(v) for k, v in STATIC.items()},
                                    "weighting": weighting, **objective})


def targets(status: HedgeBookStatus | None) -> dict[str, Any]:
    assert status is not None
    return {w.asset: w for w in status.weights}


async def test_inverse_volatility_targets_follow_one_over_sigma_within_the_static_budget() -> None:
    r = rig(START)
    b, res = await cycle(r, weighted("InverseVolatility"), policy(execution={"normal": "Taker"}))
    w = targets(b.status)
    sigma = {a: statistics.stdev(await daily_returns(r, a)) * math.sqrt(365) for a in ("BTC", "ETH")}
    for a in ("BTC", "ETH"):
        assert float(w[a].volatilityRatio) == pytest.approx(sigma[a], rel=1e-6)
        assert w[a].staticWeight == STATIC[a] and "InverseVolatility" in (w[a].weightingReason or "")
    # BTC moved less than ETH over those 30 days: it gets more of the 70% the two share; cash keeps its 30%.
    assert float(w["BTC"].targetWeight / w["ETH"].targetWeight) == pytest.approx(sigma["ETH"] / sigma["BTC"],
                                                                                 rel=1e-4)
    assert w["BTC"].targetWeight + w["ETH"].targetWeight == D("0.70") and w["USDT"].targetWeight == D("0.30")
    assert res.completed is not None  # and the cash was invested to those targets
    assert abs(w["BTC"].weight - w["BTC"].targetWeight) > D("0.1")  # (the status shows the weights seen before)
    r.clock.advance(300)
    b, _ = await cycle(r, b, policy(execution={"normal": "Taker"}))
    w = targets(b.status)
    assert all(abs(x.driftRatio) < D("0.01") for x in w.values()), w


async def test_risk_parity_targets_give_each_asset_an_equal_share_of_the_risk() -> None:
    r = rig(START)
    b, _ = await cycle(r, weighted("RiskParity", weightingWindow={"timeframe": "1d", "candles": 30}),
                       policy(execution={"normal": "Taker"}))
    w = targets(b.status)
    rets = {a: await daily_returns(r, a) for a in ("BTC", "ETH")}
    cov = {(a, c): statistics.covariance(rets[a], rets[c]) for a in rets for c in rets}
    x = {a: float(w[a].targetWeight) for a in rets}
    contribution = {a: x[a] * sum(cov[(a, c)] * x[c] for c in rets) for a in rets}
    assert contribution["BTC"] == pytest.approx(contribution["ETH"], rel=1e-4)
    assert "RiskParity" in (w["BTC"].weightingReason or "") and w["USDT"].targetWeight == D("0.30")


async def test_too_few_candles_leave_the_static_targets_and_say_why() -> None:
    r = rig(datetime(2024, 12, 31, 12, 0, tzinfo=UTC))  # the bundled spot data starts this day: no closed 1d candle
    b, _ = await cycle(r, weighted("RiskParity"), policy(execution={"normal": "Taker"}))
    w = targets(b.status)
    assert {a: x.targetWeight for a, x in w.items()} == STATIC
    assert "fewer than 3 closed 1d candles" in (w["BTC"].weightingReason or "")


async def test_the_dynamic_schedule_takes_the_row_of_the_books_volatility() -> None:
    r = rig(START)
    await cycle(r, alloc_book(), policy())  # the paper account (and its venue) exists once a book has run
    rets = {a: await daily_returns(r, a) for a in ("BTC", "ETH")}
    weights = {"BTC": 0.4, "ETH": 0.3}
    var = sum(weights[a] * weights[c] * statistics.covariance(rets[a], rets[c]) for a in rets for c in rets)
    vol = math.sqrt(var * 365)
    for threshold, cron in ((vol * 0.9, "0 0 * * *"), (vol * 1.1, "0 0 1 * *")):
        table = [{"minVolatilityRatio": 0, "cron": "0 0 1 * *"}, {"minVolatilityRatio": round(threshold, 6),
                                                                  "cron": "0 0 * * *"}]
        pol = policy(execution={"normal": "Taker"}, schedule={"dynamic": {"regimes": table}})
        b, _ = await cycle(r, alloc_book(), pol)
        assert b.status is not None and b.status.schedule is not None
        assert b.status.schedule.cron == cron
        assert float(b.status.schedule.volatilityRatio or 0) == pytest.approx(vol, rel=1e-6)
    # The seed's own table: this book's volatility in March 2025 (BTC and ETH after February's fall) is a row of it.
    b, _ = await cycle(r, alloc_book(), policy(execution={"normal": "Taker"}, schedule={"dynamic": {}}))
    seed_rows = [(0.60, "0 0 * * *"), (0.40, "0 0 * * 1"), (0.25, "0 0 1,15 * *"), (0.15, "0 0 1 * *"),
                 (0.0, "0 0 1 1,4,7,10 *")]
    assert b.status is not None and b.status.schedule is not None
    assert b.status.schedule.cron == next(c for t, c in seed_rows if vol >= t)

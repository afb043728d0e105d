"""A backtest before the candles and inside the 1-minute window (issue 17): an autoSelect carry picks among the
mark-priced pairs with no volume figure, a market maker waits for traded prices and then meets every minute's
range, and the summary says, period by period, what was replayed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hedgeops.local.runner import LocalOptions, run_local

from .conftest import ROOT

EXAMPLES = ROOT / "manifests" / "examples"


def backtest(paths: list[Path], start: datetime, days: float, **kw: Any) -> dict[str, Any]:
    return asyncio.run(run_local(LocalOptions(paths, timedelta(days=days), start=start, json=True, series=True,
                                              history=True, **kw)))


def test_an_autoselect_carry_picks_among_mark_priced_pairs(tmp_path: Path) -> None:
    doc = yaml.safe_load((EXAMPLES / "fundingarbitrage-eth.yaml").read_text())
    del doc["spec"]["pairs"]
    doc["spec"]["autoSelect"] = {"maxSymbols": 2, "minVolumeQuote": 1_000_000_000}
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(doc))
    summary = backtest([path], datetime(2020, 1, 6, tzinfo=UTC), 10)
    carry = summary["fundingArbitrages"][0]
    # SOL has no data in 2020; BTC and ETH have only their mark: no volume figure, so the filter cannot refuse them.
    assert carry["pairs"] == 2 and carry["fundingEarnedQuote"] > 0
    assert {p["symbol"] for p in summary["pricing"] if p["note"]} >= {"BTC/USDT:USDT", "ETH/USDT", "ETH/USDT:USDT"}
    assert summary["stepSeconds"] == 3600


def test_a_market_maker_waits_for_traded_prices() -> None:
    summary = backtest([EXAMPLES / "marketmaker-sol.yaml"], datetime(2024, 12, 30, tzinfo=UTC), 2)
    mm = summary["marketMakers"][0]
    first = next(t for t, _ in mm["series"]["pnlQuote"])
    assert datetime.fromisoformat(first) >= datetime(2024, 12, 31, tzinfo=UTC)  # nothing before the candles
    assert mm["cycles"] > 0


def test_a_market_maker_meets_every_minute_where_the_data_has_it() -> None:
    summary = backtest([EXAMPLES / "marketmaker-sol.yaml"], datetime(2025, 5, 10, tzinfo=UTC), 1)
    assert summary["stepSeconds"] == 60
    assert [p["source"] for p in summary["pricing"]] == ["binance_futures_SOL_USDT_1m.csv.gz"]
    mm = summary["marketMakers"][0]
    assert mm["cycles"] > 1000  # a quote check every minute of the day (the 5-minute bars would give 288)


def test_a_tripped_breaker_waits_for_a_person_unless_one_is_simulated() -> None:
    # Spring 2020: negative funding closes three ETH carries in a row at a loss and trips the seed's breaker.
    start, days = datetime(2020, 2, 1, tzinfo=UTC), 75
    declared = backtest([EXAMPLES / "fundingarbitrage-eth.yaml"], start, days)["fundingArbitrages"][0]
    assert declared["breakerTrips"] == 1 and declared["breakerTripped"] and declared["haltedHours"] > 24 * 7
    reset = backtest([EXAMPLES / "fundingarbitrage-eth.yaml"], start, days,
                     reset_breaker_after=timedelta(hours=24))["fundingArbitrages"][0]
    assert reset["breakerTrips"] >= 1
    # Each trip is out of the market for the day it waits (plus at most the hour its tick lands on).
    assert reset["haltedHours"] <= 25 * reset["breakerTrips"]
    assert reset["fills"] > declared["fills"]  # back in the market after the reset

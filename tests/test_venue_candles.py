"""Closed candles through every venue: the paper venue's aggregation of the replayed bars equals the raw data file
read here independently, real ccxt against the emulator (OKX and Binance dialects) serves the same candles, and
the bar under way is never among them."""

from __future__ import annotations

import csv
import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.emulator.binance_http import serving as binance_serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay, data_dir
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.exchange.venue import FinalVenueError
from hedgeops.model.candles import Candle, TimeframeError, timeframe_seconds

from .emulator_fixtures import KEY, SECRET, Clock, Rig, start, venue

BTC = "BTC/USDT:USDT"
NOW = datetime(2025, 6, 1, 12, 25, tzinfo=UTC)  # 25 minutes into the 12:00 hour


def hourly_from_file(hours: list[datetime]) -> dict[datetime, tuple[Decimal, Decimal, Decimal, Decimal]]:
    """Open, high, low, close of each hour, from the bundled 5-minute file read row by row (not by the replay)."""
    want = {int(h.timestamp() * 1000): h for h in hours}
    rows: dict[datetime, list[tuple[Decimal, ...]]] = {h: [] for h in hours}
    with gzip.open(data_dir() / "binance_futures_BTC_USDT_5m.csv.gz", "rt", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for r in reader:
            hour = int(r[0]) // 3_600_000 * 3_600_000
            if hour in want:
                rows[want[hour]].append(tuple(Decimal(x) for x in r[1:5]))
    out = {}
    for h, bars in rows.items():
        assert len(bars) == 12, f"{h}: the file has {len(bars)} bars in that hour"
        out[h] = (bars[0][0], max(b[1] for b in bars), min(b[2] for b in bars), bars[-1][3])
    return out


@pytest.fixture(scope="module")
def replay() -> MarketReplay:
    return MarketReplay()


async def test_paper_candles_are_the_data_files_bars_aggregated_and_only_closed_ones(replay: MarketReplay) -> None:
    clock = Clock(NOW)
    paper = PaperVenue(replay, clock)
    got = await paper.candles(BTC, "1h", 3)
    hours = [datetime(2025, 6, 1, h, tzinfo=UTC) for h in (9, 10, 11)]
    assert [c.start for c in got] == hours  # 12:00 is under way: not served
    ref = hourly_from_file(hours)
    assert [(c.open, c.high, c.low, c.close) for c in got] == [ref[h] for h in hours]
    assert all(c.volume > 0 for c in got)
    clock.t = datetime(2025, 6, 1, 13, tzinfo=UTC)  # the 12:00 hour has just closed
    assert (await paper.candles(BTC, "1h", 1))[0].start == datetime(2025, 6, 1, 12, tzinfo=UTC)
    clock.t = datetime(2025, 6, 1, 13, 4, 59, tzinfo=UTC)  # the 13:00 hour's first 5-minute bar is under way
    assert (await paper.candles(BTC, "1h", 1))[0].start == datetime(2025, 6, 1, 12, tzinfo=UTC)


async def test_paper_candles_start_where_the_data_does_and_refuse_what_cannot_be_built(replay: MarketReplay) -> None:
    first = replay.series(BTC).first
    paper = PaperVenue(replay, Clock(first + timedelta(hours=3, minutes=30)))
    got = await paper.candles(BTC, "1h", 10)
    assert got and got[0].start >= first and len(got) <= 3  # no candle from before the data, none made up
    end = replay.series(BTC).last_known  # the data ends inside a day: that day is never served whole
    after = await PaperVenue(replay, Clock(end + timedelta(days=3))).candles(BTC, "1d", 2)
    assert after and after[-1].start + timedelta(days=1) <= end
    if end.hour or end.minute:
        assert after[-1].start.date() < end.date()
    days = await PaperVenue(replay, Clock(NOW)).candles(BTC, "1d", 5)
    assert [c.start for c in days] == [datetime(2025, 5, d, tzinfo=UTC) for d in range(27, 32)]
    with pytest.raises(FinalVenueError, match="1m"):
        await paper.candles(BTC, "1m", 5)  # finer than the replayed bars at that time
    for bad in ("1x", "60", "0m"):
        with pytest.raises(FinalVenueError, match="timeframe"):
            await paper.candles(BTC, bad, 5)
    with pytest.raises(FinalVenueError, match="limit"):
        await paper.candles(BTC, "1h", 0)


def test_timeframe_names() -> None:
    assert [timeframe_seconds(t) for t in ("5m", "4h", "1d", "1w")] == [300, 14400, 86400, 604800]
    with pytest.raises(TimeframeError):
        timeframe_seconds("1M")  # months are not a fixed length: nothing here asks for them


@pytest.fixture
async def okx_rig() -> AsyncIterator[Rig]:
    async for r in start(Clock(NOW)):
        yield r


async def test_okx_emulator_serves_through_real_ccxt_the_candles_the_paper_venue_builds(
        okx_rig: Rig, replay: MarketReplay) -> None:
    ven = venue(okx_rig)
    try:
        paper = PaperVenue(replay, okx_rig.clock)
        for tf, n in (("1h", 24), ("4h", 12), ("1d", 7), ("15m", 40)):
            assert close_enough(await ven.candles(BTC, tf, n), await paper.candles(BTC, tf, n)), tf
        before = ven.requests
        await ven.candles(BTC, "1h", 24)
        assert ven.requests == before  # within a tenth of a candle the fetch serves again
        with pytest.raises(FinalVenueError):
            await ven.candles(BTC, "1h", 300)
    finally:
        await ven.close()


async def test_binance_emulator_serves_the_same_candles_through_real_ccxt(replay: MarketReplay) -> None:
    clock = Clock(NOW)
    emu = Emulator(replay, clock, {KEY: Credentials(SECRET, "")})
    async with binance_serving(emu) as (_, url):
        ven = CcxtVenue(make_client("binanceusdm", ApiCredentials(KEY, SECRET), base_url=url, rate_limit=False))
        try:
            paper = PaperVenue(replay, clock)
            assert close_enough(await ven.candles(BTC, "1h", 24), await paper.candles(BTC, "1h", 24))
        finally:
            await ven.close()


def close_enough(served: list[Candle], built: list[Candle]) -> bool:
    """Equal starts and prices; volumes equal to the exchange's printed precision (both print rounded figures)."""
    assert len(served) == len(built) > 0, (len(served), len(built))
    for a, b in zip(served, built, strict=True):
        assert (a.start, a.open, a.high, a.low, a.close) == (b.start, b.open, b.high, b.low, b.close), (a, b)
        assert abs(a.volume - b.volume) <= Decimal("0.01") * max(b.volume, Decimal(1)), (a, b)
    return True



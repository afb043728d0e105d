"""Guards MarketReplay(history=True): the hourly perp mark price stitched in front of the 5-minute candles."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from itertools import pairwise

import pytest

from hedgeops.exchange.marketdata.replay import CandleSeries, MarketReplay, data_dir

ETH_PERP, ETH_SPOT = "ETH/USDT:USDT", "ETH/USDT"
MARK = "binance_futures_ETH_USDT_mark_1h.csv.gz"
OWN = {ETH_PERP: "binance_futures_ETH_USDT_5m.csv.gz", ETH_SPOT: "binance_spot_ETH_USDT_5m.csv.gz"}
BOUNDARY = datetime(2024, 12, 31, tzinfo=UTC)  # the 5m files' first bar opens here
FIRST_MARK = datetime(2019, 12, 23, 11, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@cache
def raw(name: str) -> dict[int, list[str]]:
    """A bundled gz CSV read independently of the code under test: open time (epoch ms) -> the row's fields."""
    with gzip.open(data_dir() / name, "rt", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return {int(r[0]): r for r in reader}


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def at_ms(t: int) -> datetime:
    return datetime.fromtimestamp(t / 1000, UTC)


def close_of(name: str, opened: datetime) -> Decimal:
    return Decimal(raw(name)[ms(opened)][4])


def stitched(symbol: str) -> CandleSeries:
    return MarketReplay(history=True).series(symbol)


@pytest.mark.parametrize("symbol", [ETH_PERP, ETH_SPOT])
def test_periods_first_and_step_switch_at_the_boundary(symbol: str) -> None:
    s = stitched(symbol)
    assert s.first == FIRST_MARK == at_ms(min(raw(MARK)))
    mark, own = s.periods
    assert (mark.start, mark.end, mark.step_s, mark.source) == (FIRST_MARK, BOUNDARY, 3600, MARK)
    assert mark.note  # a report must say these prices are the mark's
    own_last = at_ms(max(raw(OWN[symbol])))
    assert (own.start, own.end, own.step_s, own.source, own.note) == (
        BOUNDARY, own_last + timedelta(minutes=5), 300, OWN[symbol], "")
    assert max(raw(MARK)) > ms(BOUNDARY)  # the mark file runs on: the stitch must cut it
    assert s.step_at(FIRST_MARK) == s.step_at(BOUNDARY - SECOND) == 3600
    assert s.step_at(BOUNDARY) == s.step_at(BOUNDARY + timedelta(days=30)) == 300


@pytest.mark.parametrize("symbol", [ETH_PERP, ETH_SPOT])
def test_last_closed_either_side_of_the_boundary(symbol: str) -> None:
    s = stitched(symbol)
    assert s.last_closed(FIRST_MARK + timedelta(minutes=59)) is None  # the first hourly bar has not closed
    cases = [(BOUNDARY - SECOND, BOUNDARY - timedelta(hours=2), MARK),  # the 22:00 hourly bar, closed at 23:00
             (BOUNDARY, BOUNDARY - timedelta(hours=1), MARK),  # the last hourly bar closes on the boundary
             (BOUNDARY + timedelta(minutes=5) - SECOND, BOUNDARY - timedelta(hours=1), MARK),
             (BOUNDARY + timedelta(minutes=5), BOUNDARY, OWN[symbol])]  # the first 5m bar
    for at, opened, name in cases:
        bar = s.last_closed(at)
        assert bar is not None and bar.start == opened, at
        assert bar.end == opened + (timedelta(hours=1) if name == MARK else timedelta(minutes=5))
        assert bar.close == close_of(name, opened), at


@pytest.mark.parametrize("symbol", [ETH_PERP, ETH_SPOT])
def test_bars_between_runs_hourly_then_five_minutely_without_gap_or_overlap(symbol: str) -> None:
    s = stitched(symbol)
    bars = list(s.bars_between(BOUNDARY - timedelta(hours=2), BOUNDARY + timedelta(minutes=15)))
    hour, five = timedelta(hours=1), timedelta(minutes=5)
    assert [(b.start, b.end - b.start) for b in bars] == [
        (BOUNDARY - 2 * hour, hour), (BOUNDARY - hour, hour), (BOUNDARY, five), (BOUNDARY + five, five),
        (BOUNDARY + 2 * five, five)]
    assert all(a.end == b.start for a, b in pairwise(bars))
    names = [MARK, MARK] + [OWN[symbol]] * 3
    assert [b.close for b in bars] == [close_of(n, b.start) for n, b in zip(names, bars, strict=True)]
    assert [b.open for b in bars] == [Decimal(raw(n)[ms(b.start)][1]) for n, b in zip(names, bars, strict=True)]
    # The whole mark period: every hourly row before the boundary, in order, none after it.
    hourly = [ms(b.start) for b in s.bars_between(FIRST_MARK, BOUNDARY)]
    assert hourly == sorted(t for t in raw(MARK) if t < ms(BOUNDARY))


def test_volume_is_unknown_in_the_mark_period_and_matches_the_raw_file_after() -> None:
    s = stitched(ETH_PERP)
    assert not s.has_volume(BOUNDARY - timedelta(days=100))
    assert not s.has_volume(BOUNDARY + timedelta(hours=23))  # its 24 h still reach into the mark period
    assert s.has_volume(BOUNDARY + timedelta(days=1))
    assert s.volume_24h(BOUNDARY - timedelta(days=100)) == (Decimal(0), Decimal(0))
    at = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    # The bars that closed in (at - 24 h, at]: 288 five-minute bars opened in [at - 24 h - 5 min, at - 5 min].
    rows = [r for t, r in raw(OWN[ETH_PERP]).items() if ms(at) - 86_400_000 < t + 300_000 <= ms(at)]
    assert len(rows) == 288
    base = sum(Decimal(r[5]) for r in rows)
    quote = sum(Decimal(r[5]) * Decimal(r[4]) for r in rows)
    got_base, got_quote = s.volume_24h(at)
    assert float(got_base) == pytest.approx(float(base), abs=1e-3)  # running float sums: a rounding step at most
    assert float(got_quote) == pytest.approx(float(quote), abs=0.05)
    assert s.volume_24h(at) == MarketReplay().series(ETH_PERP).volume_24h(at)  # the stitch adds no volume


def test_without_history_the_series_starts_at_its_own_candles() -> None:
    s = MarketReplay().series(ETH_PERP)
    assert s.first == BOUNDARY and len(s.periods) == 1
    assert (s.periods[0].step_s, s.periods[0].source, s.periods[0].note) == (300, OWN[ETH_PERP], "")
    assert s.last_closed(BOUNDARY) is None and s.has_volume(BOUNDARY + timedelta(hours=1))
    assert s.step_at(BOUNDARY - timedelta(days=1)) == 300


def test_sol_history_starts_with_its_mark_file() -> None:
    mark, own = stitched("SOL/USDT:USDT").periods[:2]
    assert (mark.start, mark.end, mark.step_s) == (datetime(2024, 1, 1, tzinfo=UTC), BOUNDARY, 3600)
    assert mark.note and (own.start, own.step_s, own.note) == (BOUNDARY, 300, "")

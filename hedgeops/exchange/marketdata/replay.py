"""Real candles replayed on a clock: the price known at time t and the bars that traded after an order."""

from __future__ import annotations

import bisect
import csv
import gzip
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path

from hedgeops.exchange.venue import UnknownSymbol


def data_dir() -> Path:
    """The project's bundled data/ (override with HEDGEOPS_DATA_DIR)."""
    env = os.environ.get("HEDGEOPS_DATA_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "data" / "README.md").exists():
            return parent / "data"
    return Path.cwd() / "data"


def _dec(x: float) -> Decimal:
    # The CSV holds short decimals; float's shortest repr gives back exactly the text that was stored.
    return Decimal(repr(x))


@dataclass(frozen=True)
class Bar:
    """One candle. `start` is the open time; the bar is known once `end` has passed."""

    start: datetime
    end: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


class CandleSeries:
    """One symbol's candles, in memory as compact arrays, looked up by time."""

    def __init__(self, symbol: str, path: Path) -> None:
        self.symbol = symbol
        self.path = path
        self.ts = array("q")
        self.o, self.h, self.l, self.c = array("d"), array("d"), array("d"), array("d")
        # Running sums of traded volume (base units, and quote valued at each bar's close): a 24 h volume is
        # then two lookups, whatever the window.
        self.cum_base, self.cum_quote = array("d", [0.0]), array("d", [0.0])
        with gzip.open(path, "rt", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            for row in reader:
                self.ts.append(int(row[0]))
                self.o.append(float(row[1]))
                self.h.append(float(row[2]))
                self.l.append(float(row[3]))
                self.c.append(float(row[4]))
                volume = float(row[5]) if len(row) > 5 and row[5] else 0.0
                self.cum_base.append(self.cum_base[-1] + volume)
                self.cum_quote.append(self.cum_quote[-1] + volume * float(row[4]))
        if len(self.ts) < 2:
            raise ValueError(f"{path}: fewer than two candles")
        self.step_ms = self.ts[1] - self.ts[0]

    @property
    def first(self) -> datetime:
        return datetime.fromtimestamp(self.ts[0] / 1000, UTC)

    @property
    def last_known(self) -> datetime:
        """When the last bar closes."""
        return datetime.fromtimestamp((self.ts[-1] + self.step_ms) / 1000, UTC)

    def _bar(self, i: int) -> Bar:
        start = self.ts[i]
        opened = datetime.fromtimestamp(start / 1000, UTC)
        closed = datetime.fromtimestamp((start + self.step_ms) / 1000, UTC)
        return Bar(opened, closed, _dec(self.o[i]), _dec(self.h[i]), _dec(self.l[i]), _dec(self.c[i]))

    def last_closed(self, at: datetime) -> Bar | None:
        """The latest bar that had closed by `at` (what a trader could know then)."""
        ms = int(at.timestamp() * 1000)
        i = bisect.bisect_right(self.ts, ms - self.step_ms) - 1
        return self._bar(i) if i >= 0 else None

    def volume_24h(self, at: datetime) -> tuple[Decimal, Decimal]:
        """Base and quote volume of the bars that closed in the 24 h before `at` (the exchange's 24 h figure)."""
        ms = int(at.timestamp() * 1000)
        hi = bisect.bisect_right(self.ts, ms - self.step_ms)
        lo = bisect.bisect_right(self.ts, ms - self.step_ms - 86_400_000)
        return (_dec(self.cum_base[hi] - self.cum_base[lo]).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN),
                _dec(self.cum_quote[hi] - self.cum_quote[lo]).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))

    def bars_between(self, after: datetime, until: datetime) -> Iterator[Bar]:
        """Bars that opened at or after `after` and had closed by `until`: trading an order could meet."""
        lo = bisect.bisect_left(self.ts, int(after.timestamp() * 1000))
        hi = bisect.bisect_right(self.ts, int(until.timestamp() * 1000) - self.step_ms)
        for i in range(lo, hi):
            yield self._bar(i)


# Which bundled file replays which ccxt symbol (Binance USDT-M perps and spot stand in for any venue's).
_FILES = {
    "BTC/USDT:USDT": "binance_futures_BTC_USDT_5m.csv.gz",
    "ETH/USDT:USDT": "binance_futures_ETH_USDT_5m.csv.gz",
    "SOL/USDT:USDT": "binance_futures_SOL_USDT_5m.csv.gz",
    "BTC/USDT": "binance_spot_BTC_USDT_5m.csv.gz",
    "ETH/USDT": "binance_spot_ETH_USDT_5m.csv.gz",
    "SOL/USDT": "binance_spot_SOL_USDT_5m.csv.gz",
}


@cache
def _load(symbol: str, directory: Path) -> CandleSeries:
    name = _FILES.get(symbol)
    if name is None or not (directory / name).exists():
        raise UnknownSymbol(f"no replay data for {symbol} (have: {', '.join(sorted(_FILES))})")
    return CandleSeries(symbol, directory / name)


class MarketReplay:
    """Replayed candles for the symbols asked for, loaded once per process."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or data_dir()

    @staticmethod
    def symbols() -> list[str]:
        return sorted(_FILES)

    def series(self, symbol: str) -> CandleSeries:
        return _load(symbol, self.directory)

    def common_window(self, symbols: list[str]) -> tuple[datetime, datetime]:
        """The span every symbol has data for."""
        series = [self.series(s) for s in symbols]
        return max(s.first for s in series), min(s.last_known for s in series)

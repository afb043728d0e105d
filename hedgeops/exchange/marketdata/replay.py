"""Real candles replayed on a clock: the price known at time t and the bars that traded after an order."""

from __future__ import annotations

import bisect
import csv
import gzip
import operator
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from itertools import accumulate
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


@dataclass(frozen=True)
class Candle:
    """An aggregated candle as known at some time: `confirmed` once every bar in it had closed."""

    start_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base units
    volume_quote: Decimal
    confirmed: bool


@dataclass(frozen=True)
class Period:
    """A stretch of a series priced one way: a report says, per period, what the prices were."""

    start: datetime
    end: datetime
    step_s: int
    source: str  # the file
    note: str  # what that means for a backtest over it ("" for the symbol's own candles)


Rows = tuple[array, array, array, array, array, array]  # type: ignore[type-arg]  # ts, open, high, low, close, volume


def _read(path: Path) -> Rows:
    """A candle file as columns (volume 0 where a file has none: mark-price klines)."""
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = list(zip(*reader, strict=True)) or [()] * len(header)
    volume = array("d", map(float, cols[5])) if len(cols) > 5 else array("d", bytes(8 * len(cols[0])))
    return (array("q", map(int, cols[0])), *(array("d", map(float, c)) for c in cols[1:5]),  # type: ignore[return-value]
            volume)


class CandleSeries:
    """One symbol's candles, in memory as compact arrays, looked up by time. Optionally stitched: an earlier,
    coarser series (`earlier`, e.g. the perp's hourly mark price) stands in before the symbol's own candles
    begin, and a finer one (`finer`, the 1-minute candles) replaces the symbol's own bars where it covers them
    whole; each bar keeps its own end, so lookups and the clock's step follow whichever period a time falls in."""

    def __init__(self, symbol: str, path: Path, earlier: tuple[Path, str] | None = None,
                 finer: Path | None = None) -> None:
        self.symbol = symbol
        self.path = path
        self.ts, self.te = array("q"), array("q")  # bar open and close times (ms)
        self.o, self.h, self.l, self.c = array("d"), array("d"), array("d"), array("d")
        # Running sums of traded volume (base units, and quote valued at each bar's close): a 24 h volume is
        # then two lookups, whatever the window.
        self.cum_base, self.cum_quote = array("d", [0.0]), array("d", [0.0])
        self.periods: list[Period] = []
        self._cached: dict[int, Bar] = {}  # the bars last built, by index
        own = _read(path)
        if len(own[0]) < 2:
            raise ValueError(f"{path}: fewer than two candles")
        self.step_ms = own[0][1] - own[0][0]  # the symbol's own candles' step
        if earlier is not None:
            before = _read(earlier[0])
            if len(before[0]) >= 2:
                step = before[0][1] - before[0][0]
                # Only bars that have closed before the symbol's own first bar opens: no overlap, no gap hidden.
                n = bisect.bisect_right(before[0], own[0][0] - step)
                self._extend(tuple(c[:n] for c in before), step, earlier[0].name, earlier[1])  # type: ignore[arg-type]
        window = _finer_window(own, self.step_ms, _read(finer)) if finer is not None else None
        if window is None:
            self._extend(own, self.step_ms, path.name, "")
            return
        (a, b), fine, fine_step = window
        assert finer is not None
        self._extend(tuple(col[:a] for col in own), self.step_ms, path.name, "")  # type: ignore[arg-type]
        self._extend(fine, fine_step, finer.name, "")
        self._extend(tuple(col[b:] for col in own), self.step_ms, path.name, "")  # type: ignore[arg-type]

    def _extend(self, rows: Rows, step: int, source: str, note: str) -> None:
        ts, o, h, lo, c, volume = rows
        if not ts:
            return
        self.ts.extend(ts)
        self.te.extend(t + step for t in ts)
        self.o.extend(o)
        self.h.extend(h)
        self.l.extend(lo)
        self.c.extend(c)
        self.cum_base.extend(accumulate(volume, initial=self.cum_base[-1]))
        self.cum_base.pop(-len(ts) - 1)  # accumulate repeats the running total it started from
        self.cum_quote.extend(accumulate(map(operator.mul, volume, c), initial=self.cum_quote[-1]))
        self.cum_quote.pop(-len(ts) - 1)
        self.periods.append(Period(_at(ts[0]), _at(ts[-1] + step), step // 1000, source, note))

    @property
    def first(self) -> datetime:
        return _at(self.ts[0])

    @property
    def last_known(self) -> datetime:
        """When the last bar closes."""
        return _at(self.te[-1])

    def step_at(self, at: datetime) -> int:
        """The bar length (seconds) of the period `at` falls in: how often prices change then."""
        for p in self.periods:
            if at < p.end:
                return p.step_s
        return self.periods[-1].step_s

    def has_volume(self, at: datetime) -> bool:
        """Whether the 24 h before `at` lie in a period with traded volume (a mark-price period has none)."""
        since = at - timedelta(days=1)
        return all(not p.note for p in self.periods if p.start < at and p.end > since)

    def _bar(self, i: int) -> Bar:
        # The same bar is asked for many times a tick (every quote, every venue): built once. A few are kept, not
        # one: a quote reads the last closed bar and the one under way, which would evict each other.
        bar = self._cached.get(i)
        if bar is None:
            if len(self._cached) >= 8:
                self._cached.clear()
            bar = self._cached[i] = Bar(_at(self.ts[i]), _at(self.te[i]), _dec(self.o[i]), _dec(self.h[i]),
                                        _dec(self.l[i]), _dec(self.c[i]))
        return bar

    def last_closed(self, at: datetime) -> Bar | None:
        """The latest bar that had closed by `at` (what a trader could know then)."""
        i = bisect.bisect_right(self.te, int(at.timestamp() * 1000)) - 1
        return self._bar(i) if i >= 0 else None

    def current(self, at: datetime) -> Bar | None:
        """The bar that has opened by `at` but not yet closed (None in a gap or outside the data). Only its open is
        known at `at`: a caller must not read its high, low or close before its end."""
        ms = int(at.timestamp() * 1000)
        i = bisect.bisect_right(self.ts, ms) - 1
        return self._bar(i) if i >= 0 and self.te[i] > ms else None

    def index_at(self, ms: int) -> int:
        """The number of bars that opened before `ms` (bars [0, i) opened strictly earlier)."""
        return bisect.bisect_left(self.ts, ms)

    def bar_at(self, i: int) -> Bar:
        """The i-th bar (0 is the first)."""
        return self._bar(i)

    def __len__(self) -> int:
        return len(self.ts)

    def range_between(self, start_ms: int, end_ms: int) -> tuple[Decimal, Decimal, Decimal] | None:
        """Open, high and low of the bars that opened at or after `start_ms` and closed by `end_ms` (None: none)."""
        lo = bisect.bisect_left(self.ts, start_ms)
        hi = bisect.bisect_right(self.te, end_ms)
        if hi <= lo:
            return None
        return _dec(self.o[lo]), _dec(max(self.h[lo:hi])), _dec(min(self.l[lo:hi]))

    def aggregate(self, start_ms: int, end_ms: int, now_ms: int) -> Candle | None:
        """One candle over [start_ms, end_ms) as known at `now_ms`: the bars closed by then, and of the bar under way
        only its open (never its high, low, close or volume). None where no bar had opened by then."""
        lo = bisect.bisect_left(self.ts, start_ms)
        opened = bisect.bisect_left(self.ts, min(end_ms, now_ms + 1))  # bars [lo, opened) had opened by now
        if opened <= lo:
            return None
        closed = min(opened, bisect.bisect_right(self.te, now_ms))  # bars [lo, closed) had closed by now
        highs, lows = list(self.h[lo:closed]), list(self.l[lo:closed])
        close = self.c[closed - 1] if closed > lo else self.o[lo]
        if closed < opened:  # the bar under way: its open is known, nothing more
            close = self.o[closed]
            highs.append(close)
            lows.append(close)
        ends_by = bisect.bisect_left(self.ts, end_ms)  # the bars the candle will hold once complete
        done = closed == ends_by and end_ms <= now_ms
        base, quote = self.cum_base[closed] - self.cum_base[lo], self.cum_quote[closed] - self.cum_quote[lo]
        return Candle(start_ms, _dec(self.o[lo]), _dec(max(highs)), _dec(min(lows)), _dec(close), _dec(base),
                      _dec(quote), done)

    def volume_at(self, i: int) -> tuple[Decimal, Decimal]:
        """The i-th bar's traded volume: base units and quote (valued at its close)."""
        return (_dec(self.cum_base[i + 1] - self.cum_base[i]), _dec(self.cum_quote[i + 1] - self.cum_quote[i]))

    def volume_24h(self, at: datetime) -> tuple[Decimal, Decimal]:
        """Base and quote volume of the bars that closed in the 24 h before `at` (the exchange's 24 h figure)."""
        ms = int(at.timestamp() * 1000)
        hi = bisect.bisect_right(self.te, ms)
        lo = bisect.bisect_right(self.te, ms - 86_400_000)
        return (_dec(self.cum_base[hi] - self.cum_base[lo]).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN),
                _dec(self.cum_quote[hi] - self.cum_quote[lo]).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))

    def bars_between(self, after: datetime, until: datetime) -> Iterator[Bar]:
        """Bars that opened at or after `after` and had closed by `until`: trading an order could meet."""
        lo = bisect.bisect_left(self.ts, int(after.timestamp() * 1000))
        hi = bisect.bisect_right(self.te, int(until.timestamp() * 1000))
        for i in range(lo, hi):
            yield self._bar(i)


def _finer_window(own: Rows, step: int, fine: Rows) -> tuple[tuple[int, int], Rows, int] | None:
    """Where finer candles replace the own ones: the own bars [a, b) lying wholly inside the finer file's span,
    and the finer rows covering exactly them. None when the finer file has a gap there (a missing minute would
    freeze the price) or covers no whole own bar."""
    if len(fine[0]) < 2:
        return None
    fine_step = fine[0][1] - fine[0][0]
    a = bisect.bisect_left(own[0], fine[0][0])
    b = bisect.bisect_right(own[0], fine[0][-1] + fine_step - step)
    if b <= a:
        return None
    lo, hi = bisect.bisect_left(fine[0], own[0][a]), bisect.bisect_left(fine[0], own[0][b - 1] + step)
    if hi - lo != (own[0][b - 1] + step - own[0][a]) // fine_step:
        return None
    return (a, b), tuple(col[lo:hi] for col in fine), fine_step  # type: ignore[return-value]


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# Which bundled file replays which ccxt symbol (Binance USDT-M perps and spot stand in for any venue's).
_FILES = {
    "BTC/USDT:USDT": "binance_futures_BTC_USDT_5m.csv.gz",
    "ETH/USDT:USDT": "binance_futures_ETH_USDT_5m.csv.gz",
    "SOL/USDT:USDT": "binance_futures_SOL_USDT_5m.csv.gz",
    "BTC/USDT": "binance_spot_BTC_USDT_5m.csv.gz",
    "ETH/USDT": "binance_spot_ETH_USDT_5m.csv.gz",
    "SOL/USDT": "binance_spot_SOL_USDT_5m.csv.gz",
}


# The hourly mark price of each perp: with `history`, it prices both of a base's markets before their own candles
# begin (no spot or index series that old was found; the basis is taken as zero there).
_MARKS = {
    "BTC/USDT:USDT": "binance_futures_BTC_USDT_mark_1h.csv.gz",
    "ETH/USDT:USDT": "binance_futures_ETH_USDT_mark_1h.csv.gz",
    "SOL/USDT:USDT": "binance_futures_SOL_USDT_mark_1h.csv.gz",
    "BTC/USDT": "binance_futures_BTC_USDT_mark_1h.csv.gz",
    "ETH/USDT": "binance_futures_ETH_USDT_mark_1h.csv.gz",
    "SOL/USDT": "binance_futures_SOL_USDT_mark_1h.csv.gz",
}
# Finer candles a backtest replays where they cover the 5-minute ones gaplessly (the BTC and ETH 1-minute perps
# miss whole days: only SOL's is gapless): a market maker's quotes then meet every minute's traded range.
_FINER = {"SOL/USDT:USDT": "binance_futures_SOL_USDT_1m.csv.gz"}
MARK_NOTE = "priced at the perp's hourly mark price (spot and perp alike: basis taken as zero, no traded volume)"


@cache
def _load(symbol: str, directory: Path, history: bool) -> CandleSeries:
    name = _FILES.get(symbol)
    if name is None:
        raise UnknownSymbol(f"no replay data for {symbol} (have: {', '.join(sorted(_FILES))})")
    if not (directory / name).exists():  # the symbol is one we replay: its file is what is missing, and where
        where = "HEDGEOPS_DATA_DIR" if os.environ.get("HEDGEOPS_DATA_DIR") else "the bundled data folder"
        raise UnknownSymbol(f"no replay data for {symbol}: {name} is not in {directory} ({where}"
                            f"{'' if directory.is_dir() else ', which does not exist'})")
    mark = _MARKS.get(symbol) if history else None
    earlier = (directory / mark, MARK_NOTE) if mark and (directory / mark).exists() else None
    fine = _FINER.get(symbol) if history else None
    return CandleSeries(symbol, directory / name, earlier,
                        directory / fine if fine and (directory / fine).exists() else None)


class MarketReplay:
    """Replayed candles for the symbols asked for, loaded once per process. With `history` (backtests), each
    series reaches back before its candles through the perp's hourly mark price (`_MARKS`)."""

    def __init__(self, directory: Path | None = None, *, history: bool = False) -> None:
        self.directory = directory or data_dir()
        self.history = history
        self._series: dict[str, CandleSeries] = {}  # asked for several times a tick: one dict lookup

    @staticmethod
    def symbols() -> list[str]:
        return sorted(_FILES)

    def series(self, symbol: str) -> CandleSeries:
        found = self._series.get(symbol)
        if found is None:
            from hedgeops.exchange.marketdata.derived import DERIVED, DerivedSeries  # synthetic, from a real series

            made: CandleSeries
            if symbol in DERIVED:  # answers every lookup a CandleSeries does
                made = DerivedSeries(symbol, self.series(DERIVED[symbol]))  # type: ignore[assignment]
            else:
                made = _load(symbol, self.directory, self.history)
            found = self._series[symbol] = made
        return found

    def common_window(self, symbols: list[str]) -> tuple[datetime, datetime]:
        """The span every symbol has data for."""
        series = [self.series(s) for s in symbols]
        return max(s.first for s in series), min(s.last_known for s in series)

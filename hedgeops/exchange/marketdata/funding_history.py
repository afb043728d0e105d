"""Real 8-hourly funding rates by perp symbol: OKX's own settlements where the bundled OKX file has them, Binance's
for every other settlement (the OKX files end in May 2025 and miss a week in January 2025)."""

from __future__ import annotations

import bisect
import csv
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from hedgeops.exchange.marketdata.replay import data_dir
from hedgeops.exchange.venue import UnknownSymbol

_BASES = {"BTC/USDT:USDT": "BTC", "ETH/USDT:USDT": "ETH", "SOL/USDT:USDT": "SOL"}


@dataclass(frozen=True)
class Settlement:
    """One funding settlement: paid long→short when the rate is positive."""

    at: datetime
    rate: Decimal
    source: str  # "okx" or "binance"


def _read(path: Path) -> dict[int, Decimal]:
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return {int(row[0]): Decimal(row[1]) for row in reader}


@cache
def _series(base: str, directory: Path) -> tuple[list[int], list[Settlement]]:
    binance = _read(directory / f"binance_futures_{base}_USDT_funding_8h.csv.gz")
    okx = _read(directory / f"okx_futures_{base}_USDT_funding_8h.csv.gz")
    stamps = sorted(set(binance) | set(okx))
    rows = [Settlement(datetime.fromtimestamp(t / 1000, UTC), okx[t] if t in okx else binance[t],
                       "okx" if t in okx else "binance") for t in stamps]
    return stamps, rows


class FundingHistory:
    """Settlements looked up by time."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or data_dir()

    @staticmethod
    def has(symbol: str) -> bool:
        return symbol in _BASES

    def _rows(self, symbol: str) -> tuple[list[int], list[Settlement]]:
        base = _BASES.get(symbol)
        if base is None:
            raise UnknownSymbol(f"no funding history for {symbol} (have: {', '.join(sorted(_BASES))})")
        return _series(base, self.directory)

    def between(self, symbol: str, after: datetime, until: datetime) -> list[Settlement]:
        """Settlements in (after, until]."""
        stamps, rows = self._rows(symbol)
        lo = bisect.bisect_right(stamps, int(after.timestamp() * 1000))
        hi = bisect.bisect_right(stamps, int(until.timestamp() * 1000))
        return rows[lo:hi]

    def next_after(self, symbol: str, at: datetime) -> Settlement | None:
        """The first settlement after `at` (its rate is what a venue shows as the current funding rate)."""
        stamps, rows = self._rows(symbol)
        i = bisect.bisect_right(stamps, int(at.timestamp() * 1000))
        return rows[i] if i < len(rows) else None

    def last_before(self, symbol: str, at: datetime, limit: int) -> list[Settlement]:
        """Up to `limit` settlements at or before `at`, newest first."""
        stamps, rows = self._rows(symbol)
        i = bisect.bisect_right(stamps, int(at.timestamp() * 1000))
        return list(reversed(rows[max(0, i - limit):i]))

"""Closed candles as the venues serve them, and the timeframe names both sides understand."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

# ccxt's unified timeframe names: a count and a unit (minutes, hours, days, weeks).
_TIMEFRAME = re.compile(r"^([1-9][0-9]{0,3})([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_CANDLES = 299  # OKX serves at most 300 candles a call, one of which is the bar under way


class TimeframeError(ValueError):
    """A timeframe name that is not a ccxt unified timeframe ("5m", "1h", "4h", "1d", ...)."""


def timeframe_seconds(timeframe: str) -> int:
    """The length of one candle of `timeframe`, in seconds; TimeframeError for a name no exchange uses."""
    m = _TIMEFRAME.match(timeframe)
    if m is None:
        raise TimeframeError(f"timeframe {timeframe!r}: expected a count and m, h, d or w (\"5m\", \"1h\", \"1d\")")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


@dataclass(frozen=True)
class Candle:
    """One closed candle. `start` is its open time (UTC); it closed at start + its timeframe."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base units

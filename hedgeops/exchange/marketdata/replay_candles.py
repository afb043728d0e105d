"""Closed candles of any timeframe from a replayed series, as an exchange would have served them at a time."""

from __future__ import annotations

from datetime import UTC, datetime

from hedgeops.exchange.marketdata.replay import CandleSeries
from hedgeops.model.candles import MAX_CANDLES, Candle, TimeframeError, timeframe_seconds

# Exchanges start weekly candles on Monday 00:00 UTC; the epoch was a Thursday, four days earlier.
_WEEK_OFFSET_MS = 4 * 86_400_000


def closed_candles(series: CandleSeries, timeframe: str, limit: int, now: datetime) -> list[Candle]:
    """The last `limit` candles of `timeframe` that had closed by `now`, oldest first, aggregated from the replayed
    bars (UTC-aligned buckets, as OKX's and Binance's UTC candles). A bucket the data starts or ends inside of is
    left out (an exchange's candle would hold bars the data lacks), as is a bucket the data has no bar in (a gap).
    TimeframeError for a name no exchange uses or a timeframe finer than the replayed bars at `now`."""
    step_s = timeframe_seconds(timeframe)
    if not 1 <= limit <= MAX_CANDLES:
        raise TimeframeError(f"candles: limit {limit} is outside 1..{MAX_CANDLES}")
    own = series.step_at(now)
    if step_s % own:
        raise TimeframeError(f"timeframe {timeframe}: the replayed {series.symbol} candles are {own // 60}m "
                             f"at {now.isoformat()}, so candles of {timeframe} cannot be built from them")
    ms = step_s * 1000
    offset = _WEEK_OFFSET_MS if timeframe.endswith("w") else 0
    now_ms = int(now.timestamp() * 1000)
    start = (now_ms - offset) // ms * ms + offset - ms  # the newest bucket that may have closed by now
    first, last = series.ts[0], series.te[-1]
    start = min(start, (last - offset) // ms * ms + offset - ms)  # nor one the data ends inside
    out: list[Candle] = []
    while len(out) < limit and start >= first:
        c = series.aggregate(start, start + ms, now_ms)
        if c is not None and c.confirmed:
            out.append(Candle(datetime.fromtimestamp(start / 1000, UTC), c.open, c.high, c.low, c.close, c.volume))
        start -= ms
    out.reverse()
    return out

"""Indicators on closed candles, in Decimal: Wilder's true range, ATR, ADX and RSI (J. Welles Wilder, "New Concepts in
Technical Trading Systems", 1978), the definitions the seed's "ADX<25" means.

For a period n over candles c_0 .. c_m (oldest first):

- TR_t = max(high_t − low_t, |high_t − close_{t−1}|, |low_t − close_{t−1}|), for t ≥ 1.
- +DM_t = high_t − high_{t−1} when that exceeds low_{t−1} − low_t and is positive, else 0; −DM_t the mirror.
- Wilder's smoothing of a sum: S_n = Σ_{t=1..n} x_t, then S_t = S_{t−1} − S_{t−1}/n + x_t.
- +DI = 100 × S(+DM) / S(TR), −DI likewise; DX = 100 × |+DI − −DI| / (+DI + −DI) (0 when both are 0).
- ADX: the mean of the first n DX values (t = n .. 2n−1), then ADX_t = (ADX_{t−1} × (n−1) + DX_t) / n.
- ATR: the mean of the first n TR values, then ATR_t = (ATR_{t−1} × (n−1) + TR_t) / n.

ADX needs 2n candles (its first value is at c_{2n−1}); seeded at the start of the window it is given, so the
runtime always hands it the same length of history (a longer window converges further from its seed)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise
from typing import Protocol

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class Bar(Protocol):
    """What an indicator reads of a candle (hedgeops.model.candles.Candle has it)."""

    @property
    def high(self) -> Decimal: ...

    @property
    def low(self) -> Decimal: ...

    @property
    def close(self) -> Decimal: ...


def true_ranges(bars: Sequence[Bar]) -> list[Decimal]:
    """TR_1 .. TR_m (the first candle has no previous close, so no true range)."""
    return [max(b.high - b.low, abs(b.high - p.close), abs(b.low - p.close)) for p, b in pairwise(bars)]


def atr(bars: Sequence[Bar], period: int) -> Decimal | None:
    """Wilder's average true range of the last candle; None with fewer than period + 1 candles."""
    trs = true_ranges(bars)
    if period < 1 or len(trs) < period:
        return None
    value = sum(trs[:period], ZERO) / period
    for tr in trs[period:]:
        value = (value * (period - 1) + tr) / period
    return value


def directional_movement(bars: Sequence[Bar]) -> list[tuple[Decimal, Decimal]]:
    """(+DM_t, −DM_t) for t = 1 .. m."""
    out: list[tuple[Decimal, Decimal]] = []
    for p, b in pairwise(bars):
        up, down = b.high - p.high, p.low - b.low
        out.append((up if up > down and up > 0 else ZERO, down if down > up and down > 0 else ZERO))
    return out


def dx_series(bars: Sequence[Bar], period: int) -> list[Decimal]:
    """DX_t for t = n .. m (one value per candle from the n-th on)."""
    trs, dms = true_ranges(bars), directional_movement(bars)
    if period < 1 or len(trs) < period:
        return []
    s_tr = sum(trs[:period], ZERO)
    s_plus = sum((d[0] for d in dms[:period]), ZERO)
    s_minus = sum((d[1] for d in dms[:period]), ZERO)
    out = [_dx(s_plus, s_minus, s_tr)]
    for tr, (plus, minus) in zip(trs[period:], dms[period:], strict=True):
        s_tr = s_tr - s_tr / period + tr
        s_plus = s_plus - s_plus / period + plus
        s_minus = s_minus - s_minus / period + minus
        out.append(_dx(s_plus, s_minus, s_tr))
    return out


def _dx(s_plus: Decimal, s_minus: Decimal, s_tr: Decimal) -> Decimal:
    if s_tr == 0:
        return ZERO
    plus, minus = HUNDRED * s_plus / s_tr, HUNDRED * s_minus / s_tr
    return ZERO if plus + minus == 0 else HUNDRED * abs(plus - minus) / (plus + minus)


def adx(bars: Sequence[Bar], period: int) -> Decimal | None:
    """Wilder's ADX of the last candle; None with fewer than 2 × period candles."""
    dxs = dx_series(bars, period)
    if len(dxs) < period:
        return None
    value = sum(dxs[:period], ZERO) / period
    for dx in dxs[period:]:
        value = (value * (period - 1) + dx) / period
    return value


def ema(values: Sequence[Decimal], period: int) -> Decimal | None:
    """The exponential moving average of the last value: seeded with the mean of the first `period` values, then
    EMA_t = EMA_{t−1} + (x_t − EMA_{t−1}) × 2 / (period + 1). None with fewer than `period` values."""
    if period < 1 or len(values) < period:
        return None
    value = sum(values[:period], ZERO) / period
    k = Decimal(2) / (period + 1)
    for x in values[period:]:
        value += (x - value) * k
    return value


def rsi(closes: Sequence[Decimal], period: int) -> Decimal | None:
    """Wilder's relative strength index of the last close: average gain and loss over the first `period` changes,
    then each smoothed as (previous × (n−1) + this) / n; RSI = 100 − 100 / (1 + gain / loss) (100 with no loss).
    None with fewer than period + 1 closes."""
    changes = [b - a for a, b in pairwise(closes)]
    if period < 1 or len(changes) < period:
        return None
    gain = sum((c for c in changes[:period] if c > 0), ZERO) / period
    loss = sum((-c for c in changes[:period] if c < 0), ZERO) / period
    for c in changes[period:]:
        gain = (gain * (period - 1) + max(c, ZERO)) / period
        loss = (loss * (period - 1) + max(-c, ZERO)) / period
    if loss == 0:
        return HUNDRED if gain > 0 else Decimal(50)
    return HUNDRED - HUNDRED / (1 + gain / loss)

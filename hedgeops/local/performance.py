"""How a strategy's PnL path reads as a track record: return a year, maximum drawdown, Sharpe and Sortino of
daily PnL, and the one-day 95% value at risk. Pure: the caller records (time, cumulative PnL) as it goes.

Conventions (the ones a Freqtrade or pyfolio user reads): days are UTC days, each day's PnL is the change of
cumulative PnL between the last observations of consecutive days (a day without observations is a day of no
change); Sharpe and Sortino are annualised with √365 (crypto trades every day) and a zero risk-free rate;
Sortino's downside deviation is the root mean square of the negative days over all days; drawdown is measured
on equity = capital + cumulative PnL from its running peak; VaR 95% is the loss of the 5th-percentile day
(nearest rank), reported as a positive number."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Performance:
    days: int
    pnl_quote: float
    return_per_year_pct: float | None  # None when there is no capital to measure against
    max_drawdown_quote: float
    max_drawdown_pct: float | None
    sharpe: float | None  # None when the daily PnL does not vary (or fewer than two days)
    sortino: float | None  # None without a losing day
    var95_daily_quote: float

    def as_json(self) -> dict[str, float | int | None]:
        def r(x: float | None, nd: int = 4) -> float | None:
            return None if x is None else round(x, nd)

        return {"days": self.days, "pnlQuote": r(self.pnl_quote), "returnPerYearPct": r(self.return_per_year_pct),
                "maxDrawdownQuote": r(self.max_drawdown_quote), "maxDrawdownPct": r(self.max_drawdown_pct),
                "sharpe": r(self.sharpe, 3), "sortino": r(self.sortino, 3),
                "var95DailyQuote": r(self.var95_daily_quote)}


def daily_pnl(points: Sequence[tuple[datetime, float]]) -> list[tuple[date, float]]:
    """Each UTC day's PnL from (time, cumulative PnL) observations in time order, from the first day to the last;
    the first day's PnL is measured from zero."""
    closes: dict[date, float] = {}
    for t, pnl in points:
        closes[t.date()] = pnl
    if not closes:
        return []
    first, last = min(closes), max(closes)
    out, prev, day = [], 0.0, first
    while day <= last:
        value = closes.get(day, prev)
        out.append((day, value - prev))
        prev = value
        day = date.fromordinal(day.toordinal() + 1)
    return out


def performance(points: Sequence[tuple[datetime, float]], capital: float | None = None) -> Performance:
    daily = [p for _, p in daily_pnl(points)]
    n = len(daily)
    total = sum(daily)
    equity, peak, worst = (capital or 0.0), (capital or 0.0), 0.0
    worst_pct = 0.0
    for p in daily:
        equity += p
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
        if capital:
            worst_pct = max(worst_pct, (peak - equity) / peak if peak > 0 else 0.0)
    mean = total / n if n else 0.0
    sd = math.sqrt(sum((p - mean) ** 2 for p in daily) / (n - 1)) if n > 1 else 0.0
    downside = math.sqrt(sum(min(p, 0.0) ** 2 for p in daily) / n) if n else 0.0
    ranked = sorted(daily)
    var = -ranked[max(0, math.ceil(0.05 * n) - 1)] if n else 0.0
    return Performance(
        days=n, pnl_quote=total,
        return_per_year_pct=(100 * total / capital * 365 / n) if capital and n else None,
        max_drawdown_quote=worst, max_drawdown_pct=100 * worst_pct if capital else None,
        sharpe=mean / sd * math.sqrt(365) if sd > 0 else None,
        sortino=mean / downside * math.sqrt(365) if downside > 0 else None,
        var95_daily_quote=max(0.0, var))


def by_period(paths: Mapping[str, Sequence[tuple[datetime, float]]], capital: float | None,
              period: str = "year") -> list[dict[str, float | str | None]]:
    """A table of calendar years (period="year") or months ("month"): for each cumulative path given (its name
    is the key: `pnl`, `funding`, ...), what it added in the period; and from `pnl`, the period's return on
    capital and its maximum drawdown (equity from the period's own peak). Times in UTC; a period starts from
    the last value of the one before (the first from zero)."""
    def key(t: datetime) -> str:
        return f"{t.year:04d}" if period == "year" else f"{t.year:04d}-{t.month:02d}"

    rows: dict[str, dict[str, float | str | None]] = {}
    for name, points in paths.items():
        prev, start = 0.0, 0.0
        current: str | None = None
        for t, v in points:
            k = key(t)
            if k != current:
                start, current = prev, k
            rows.setdefault(k, {"period": k})[f"{name}Quote"] = round(v - start, 4)
            prev = v
    pnl = paths.get("pnl", ())
    worst: dict[str, float] = {}
    peak_of: dict[str, float] = {}
    base = 0.0
    current = None
    for t, v in pnl:
        k = key(t)
        if k != current:
            current, peak_of[k] = k, (capital or 0.0) + base
        equity = (capital or 0.0) + v
        peak_of[k] = max(peak_of[k], equity)
        dd = (peak_of[k] - equity) / peak_of[k] if capital and peak_of[k] > 0 else 0.0
        worst[k] = max(worst.get(k, 0.0), dd)
        base = v
    if "pnl" not in paths:  # an attribution table: no return or drawdown to speak of
        return [rows[k] for k in sorted(rows)]
    for k, row in rows.items():
        gained = row.get("pnlQuote")
        row["returnPct"] = round(100 * float(gained) / capital, 4) if capital and isinstance(gained, int | float) \
            else None
        row["maxDrawdownPct"] = round(100 * worst[k], 4) if capital and k in worst else None
    return [rows[k] for k in sorted(rows)]

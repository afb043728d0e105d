"""Track-record figures from a PnL path, against values worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from hedgeops.local.performance import daily_pnl, performance

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def path(daily: list[float], per_day: int = 3) -> list[tuple[datetime, float]]:
    """Cumulative PnL observed `per_day` times a day, moving only at each day's last observation."""
    out, cum = [], 0.0
    for d, p in enumerate(daily):
        for k in range(per_day):
            if k == per_day - 1:
                cum += p
            out.append((T0 + timedelta(days=d, hours=8 * k + 1), cum))
    return out


def test_days_without_observations_are_days_without_change() -> None:
    pts = [(T0, 1.0), (T0 + timedelta(days=3, hours=2), 4.0)]
    assert [p for _, p in daily_pnl(pts)] == [1.0, 0.0, 0.0, 3.0]


def test_figures_match_a_hand_computed_track_record() -> None:
    daily = [10.0, -20.0, 5.0, 15.0, -5.0]
    perf = performance(path(daily), capital=1000.0)
    assert perf.days == 5 and perf.pnl_quote == pytest.approx(5.0)
    assert perf.return_per_year_pct == pytest.approx(100 * 5 / 1000 * 365 / 5)
    # Equity 1010 (peak) → 990: drawdown 20, 20/1010 of the peak.
    assert perf.max_drawdown_quote == pytest.approx(20.0)
    assert perf.max_drawdown_pct == pytest.approx(100 * 20 / 1010)
    mean = 1.0
    sd = math.sqrt(sum((p - mean) ** 2 for p in daily) / 4)
    assert perf.sharpe == pytest.approx(mean / sd * math.sqrt(365))
    downside = math.sqrt((20.0**2 + 5.0**2) / 5)
    assert perf.sortino == pytest.approx(mean / downside * math.sqrt(365))
    assert perf.var95_daily_quote == pytest.approx(20.0)  # the worst of five days is the 5th percentile


def test_degenerate_paths_say_none_rather_than_divide_by_zero() -> None:
    flat = performance(path([0.0, 0.0, 0.0]))
    assert (flat.sharpe, flat.sortino, flat.return_per_year_pct, flat.max_drawdown_pct) == (None, None, None, None)
    only_gains = performance(path([1.0, 2.0, 3.0]), capital=100.0)
    assert only_gains.sortino is None and only_gains.max_drawdown_quote == 0 and only_gains.var95_daily_quote == 0
    assert performance([]).days == 0

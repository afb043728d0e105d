"""Guards the year/month tables (performance.by_period) and summary.combine against hand-worked examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hedgeops.local.performance import by_period
from hedgeops.local.summary import combine


def t(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


CAPITAL = 1000.0
# Cumulative PnL: a 2024 peak of 100, down to 50 at the year's end, 30 on 1 Jan, 80 mid-January, 60 in February.
PNL = [(t(2024, 6, 1), 100.0), (t(2024, 12, 31), 50.0), (t(2025, 1, 1), 30.0), (t(2025, 1, 15), 80.0),
       (t(2025, 2, 1), 60.0)]
# Funding recorded at other times than the PnL, including a month the PnL path has no point in.
FUNDING = [(t(2024, 5, 20), 1.0), (t(2024, 12, 31, 12), 5.0), (t(2025, 1, 10), 12.0)]


def table(rows: list[dict[str, float | str | None]]) -> dict[str, dict[str, float | str | None]]:
    return {str(r["period"]): r for r in rows}


def test_years_split_a_path_crossing_the_year_boundary() -> None:
    rows = by_period({"pnl": PNL, "funding": FUNDING}, CAPITAL, "year")
    assert [r["period"] for r in rows] == ["2024", "2025"]
    y24, y25 = rows
    assert (y24["pnlQuote"], y24["fundingQuote"], y24["returnPct"]) == (50.0, 5.0, 5.0)
    assert (y25["pnlQuote"], y25["fundingQuote"], y25["returnPct"]) == (10.0, 7.0, 1.0)  # from 2024's last values
    assert y24["maxDrawdownPct"] == pytest.approx(round(100 * 50 / 1100, 4))  # 1100 -> 1050
    # 2025's peak starts at capital + 2024's last value (1050), not 2024's 1100: 1050 -> 1030 is the worst.
    assert y25["maxDrawdownPct"] == pytest.approx(round(100 * 20 / 1050, 4))


def test_months_measure_drawdown_from_their_own_running_peak() -> None:
    rows = table(by_period({"pnl": PNL, "funding": FUNDING}, CAPITAL, "month"))
    assert list(rows) == ["2024-05", "2024-06", "2024-12", "2025-01", "2025-02"]
    expected = {  # pnlQuote, returnPct, maxDrawdownPct
        "2024-06": (100.0, 10.0, 0.0),
        "2024-12": (-50.0, -5.0, round(100 * 50 / 1100, 4)),  # the month opens at 1100 and falls to 1050
        "2025-01": (30.0, 3.0, round(100 * 20 / 1050, 4)),  # opens at 1050, 1030, then a new peak of 1080
        "2025-02": (-20.0, -2.0, round(100 * 20 / 1080, 4)),  # opens at 1080, falls to 1060
    }
    for k, (pnl, ret, dd) in expected.items():
        assert (rows[k]["pnlQuote"], rows[k]["returnPct"]) == (pnl, ret), k
        assert rows[k]["maxDrawdownPct"] == pytest.approx(dd), k
    assert [rows[k].get("fundingQuote") for k in ("2024-05", "2024-12", "2025-01")] == [1.0, 4.0, 7.0]
    # A month only the funding path moved in has no PnL to measure a return or drawdown on.
    assert (rows["2024-05"].get("pnlQuote"), rows["2024-05"]["returnPct"], rows["2024-05"]["maxDrawdownPct"]) == (
        None, None, None)


def test_without_capital_amounts_only() -> None:
    rows = by_period({"pnl": PNL}, None, "year")
    assert [(r["pnlQuote"], r["returnPct"], r["maxDrawdownPct"]) for r in rows] == [(50.0, None, None),
                                                                                   (10.0, None, None)]
    assert by_period({}, CAPITAL) == [] and by_period({"pnl": []}, CAPITAL, "month") == []


def test_combine_holds_each_paths_latest_value_and_collapses_same_time_events() -> None:
    a = [(t(2025, 1, 1, 0), 1.0), (t(2025, 1, 1, 2), 3.0)]
    b = [(t(2025, 1, 1, 1), 10.0), (t(2025, 1, 1, 2), 20.0), (t(2025, 1, 1, 3), 30.0)]
    out = combine({"a": a, "b": b}, lambda v: v["b"] - v["a"])
    assert out == [(t(2025, 1, 1, 0), -1.0),  # b is 0 before its first point
                   (t(2025, 1, 1, 1), 9.0),
                   (t(2025, 1, 1, 2), 17.0),  # both moved at 02:00: one point, after both moves
                   (t(2025, 1, 1, 3), 27.0)]


def test_combine_same_time_points_of_one_path_keep_the_later() -> None:
    same = [(t(2025, 3, 1), 1.0), (t(2025, 3, 1), 2.0), (t(2025, 3, 2), 5.0)]
    assert combine({"x": same, "y": []}, lambda v: v["x"] + v["y"]) == [(t(2025, 3, 1), 2.0), (t(2025, 3, 2), 5.0)]
    assert combine({"x": [], "y": []}, lambda v: v["x"]) == []

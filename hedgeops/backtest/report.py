"""A backtest's report: one self-contained HTML file (no scripts, no CDN, no fonts to fetch) with, per object,
its figures in a table and its path as an inline SVG chart: a carry's or a market maker's PnL and drawdown, a
book's deviation and cost. Every figure cell carries its JSON key and value (`data-key`, `data-value`) so a test
can hold the page to the JSON it was made from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

W, H, PAD, LEFT = 720, 220, 44, 80


def line_chart(title: str, series: Sequence[tuple[str, str, Sequence[Sequence[Any]]]], unit: str = "") -> str:
    """An SVG chart of one or more (label, colour, [[iso time, value], ...]) series over a shared time axis."""
    pts = [(datetime.fromisoformat(t).timestamp(), float(v)) for _, _, s in series for t, v in s]
    if len(pts) < 2:
        return f'<p class="nochart">{escape(title)}: not enough points to draw</p>'
    t0, t1 = min(p[0] for p in pts), max(p[0] for p in pts)
    lo, hi = min(0.0, *(p[1] for p in pts)), max(0.0, *(p[1] for p in pts))
    if hi == lo:
        hi = lo + 1.0

    def sx(t: float) -> float:
        return LEFT + (t - t0) / ((t1 - t0) or 1.0) * (W - LEFT - PAD)

    def sy(v: float) -> float:
        return H - PAD + (lo - v) / (hi - lo) * (H - 2 * PAD)

    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">',
             f'<text x="{LEFT}" y="16" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{sy(0):.1f}" x2="{W - PAD}" y2="{sy(0):.1f}" stroke="#bbb"/>',
             f'<text x="{LEFT - 4}" y="{sy(hi) + 4:.1f}" text-anchor="end">{hi:,.4g}{unit}</text>',
             f'<text x="{LEFT - 4}" y="{sy(lo) + 4:.1f}" text-anchor="end">{lo:,.4g}{unit}</text>',
             f'<text x="{LEFT}" y="{H - PAD + 16}">'
             f'{escape(datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%d"))}</text>',
             f'<text x="{W - PAD}" y="{H - PAD + 16}" text-anchor="end">'
             f'{escape(datetime.fromtimestamp(t1, UTC).strftime("%Y-%m-%d"))}</text>']
    for i, (label, colour, s) in enumerate(series):
        xy = " ".join(f"{sx(datetime.fromisoformat(t).timestamp()):.1f},{sy(float(v)):.1f}" for t, v in s)
        parts.append(f'<polyline class="line" points="{xy}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(f'<text x="{W - PAD - 150 * (len(series) - i)}" y="16" fill="{colour}">{escape(label)}</text>')
    return "".join(parts) + "</svg>"


def drawdown(points: Sequence[Sequence[Any]], capital: float = 0.0) -> list[list[Any]]:
    """The drawdown path (≤ 0, quote) of a cumulative PnL path."""
    peak, out = capital, []
    for t, v in points:
        equity = capital + float(v)
        peak = max(peak, equity)
        out.append([t, round(equity - peak, 6)])
    return out


def _table(fig: Mapping[str, Any], keys: Sequence[str]) -> str:
    rows = []
    for k in keys:
        v = fig.get(k)
        shown = "–" if v is None else (f"{v:,.4g}" if isinstance(v, float) else escape(str(v)))
        rows.append(f'<tr><th>{escape(k)}</th><td data-key="{escape(k)}" data-value="{escape(str(v))}">'
                    f"{shown}</td></tr>")
    return '<table class="figures">' + "".join(rows) + "</table>"


PERF_KEYS = ("days", "pnlQuote", "returnPerYearPct", "maxDrawdownQuote", "maxDrawdownPct", "sharpe", "sortino",
             "var95DailyQuote")


def _carry(c: Mapping[str, Any]) -> str:
    pnl = c["series"]["pnlQuote"]
    return (f'<section class="object" data-object="{escape(c["fundingArbitrage"])}">'
            f'<h2>FundingArbitrage {escape(c["fundingArbitrage"])}</h2>'
            + _table(c, ("state", "phase", "pairs", "fundingEarnedQuote", "feesQuote", "pnlQuote", "breakerTripped"))
            + _table(c["performance"], PERF_KEYS)
            + line_chart("PnL (quote)", [("PnL", "#2ca02c", pnl)])
            + line_chart("Drawdown (quote)", [("drawdown", "#d62728", drawdown(pnl))]) + "</section>")


def _maker(m: Mapping[str, Any]) -> str:
    pnl = m["series"]["pnlQuote"]
    return (f'<section class="object" data-object="{escape(m["marketMaker"])}">'
            f'<h2>MarketMaker {escape(m["marketMaker"])}</h2>'
            + _table(m, ("state", "reason", "position", "boughtQty", "soldQty", "realizedPnlQuote",
                         "unrealizedPnlQuote", "feesQuote"))
            + _table(m["performance"], PERF_KEYS)
            + line_chart("PnL, realised and marked (quote)", [("PnL", "#2ca02c", pnl)])
            + line_chart("Drawdown (quote)", [("drawdown", "#d62728", drawdown(pnl))]) + "</section>")


def _book(b: Mapping[str, Any]) -> str:
    dev = [[t, 100 * float(v)] for t, v in b["series"]["deviation"]]
    return (f'<section class="object" data-object="{escape(b["book"])}"><h2>HedgeBook {escape(b["book"])}</h2>'
            + _table(b, ("state", "cycles", "rebalances", "emergencyRebalances", "costQuote",
                         "meanAbsDeviationRatio", "maxAbsDeviationRatio"))
            + line_chart("Deviation (%)", [("deviation", "#4c78a8", dev)], "%")
            + line_chart("Cumulative trading cost (quote)", [("cost", "#f58518", b["series"]["costQuote"])])
            + "</section>")


def render(summary: Mapping[str, Any], title: str) -> str:
    body = ([_book(b) for b in summary["books"]] + [_carry(c) for c in summary["fundingArbitrages"]]
            + [_maker(m) for m in summary["marketMakers"]])
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:24px;color:#222}table.figures{border-collapse:collapse;"
            "display:inline-table;margin:0 24px 12px 0;vertical-align:top}th,td{padding:2px 8px;text-align:left;"
            "border-bottom:1px solid #eee;font-size:13px}td{text-align:right}section{margin-bottom:32px}"
            "svg.chart{display:block;margin:8px 0}</style></head><body>"
            f"<h1>{escape(title)}</h1><p>{escape(summary['from'])} → {escape(summary['to'])}, "
            f"simulated in steps of {summary['stepSeconds']} s on replayed real prices, through the operator's own "
            "reconcilers.</p>" + "".join(body) + "</body></html>\n")

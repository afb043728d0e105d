"""A backtest's report: one self-contained HTML file (no scripts, no CDN, no fonts to fetch) with, per object, its
figures in tables and its path as inline SVG charts: equity split into its sources (funding, fees, slippage,
price), drawdown, a book's worst asset against its band with every rebalance marked, a market maker's inventory
with the hours it traded marked; year-by-year and month-by-month tables, a book's per-asset attribution. Every
figure cell carries its JSON path and value (`data-key="performance.sharpe"`, `data-value`; rows of a table by
their period: `byYear.2020.returnPct`), so a test can hold the page to the JSON it was made from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

W, H, PAD, LEFT = 760, 230, 44, 80
GREEN, RED, BLUE, ORANGE, PURPLE, GREY, TEAL = ("#2ca02c", "#d62728", "#4c78a8", "#f58518", "#9467bd", "#7f7f7f",
                                                "#17becf")
Series = Sequence[Sequence[Any]]  # [[iso time, value], ...]


def line_chart(title: str, series: Sequence[tuple[str, str, Series]], unit: str = "",
               marks: Sequence[tuple[str, str]] = (), dashed: Sequence[str] = ()) -> str:
    """An SVG chart of (label, colour, points) series over a shared time axis; `marks` are (iso time, colour)
    ticks along the bottom (trades, rebalances); series whose label is in `dashed` are drawn dashed (bands)."""
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
             f'<text x="{LEFT}" y="14" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{sy(0):.1f}" x2="{W - PAD}" y2="{sy(0):.1f}" stroke="#bbb"/>',
             f'<text x="{LEFT - 4}" y="{sy(hi) + 4:.1f}" text-anchor="end">{hi:,.4g}{unit}</text>',
             f'<text x="{LEFT - 4}" y="{sy(lo) + 4:.1f}" text-anchor="end">{lo:,.4g}{unit}</text>',
             f'<text x="{LEFT}" y="{H - PAD + 16}">'
             f'{escape(datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%d"))}</text>',
             f'<text x="{W - PAD}" y="{H - PAD + 16}" text-anchor="end">'
             f'{escape(datetime.fromtimestamp(t1, UTC).strftime("%Y-%m-%d"))}</text>']
    x, named = LEFT, set()
    for label, colour, s in series:
        if len(s) >= 1:
            xy = " ".join(f"{sx(datetime.fromisoformat(t).timestamp()):.1f},{sy(float(v)):.1f}" for t, v in s)
            dash = ' stroke-dasharray="4 3"' if label in dashed else ""
            parts.append(f'<polyline class="line" data-label="{escape(label)}" points="{xy}" fill="none" '
                         f'stroke="{colour}" stroke-width="1.5"{dash}/>')
        if label not in named:  # a band drawn as two lines is named once
            named.add(label)
            parts.append(f'<text x="{x}" y="28" fill="{colour}">{escape(label)}</text>')
            x += 9 + 6 * len(label)
    for t, colour in marks:
        mx = sx(datetime.fromisoformat(t).timestamp())
        parts.append(f'<line class="mark" x1="{mx:.1f}" y1="{H - PAD}" x2="{mx:.1f}" y2="{H - PAD + 6}" '
                     f'stroke="{colour}"/>')
    return "".join(parts) + "</svg>"


def drawdown(points: Series, capital: float = 0.0) -> list[list[Any]]:
    """The drawdown path (≤ 0, quote) of a cumulative PnL path."""
    peak, out = capital, []
    for t, v in points:
        equity = capital + float(v)
        peak = max(peak, equity)
        out.append([t, round(equity - peak, 6)])
    return out


def _negated(points: Series) -> list[list[Any]]:
    return [[t, -float(v)] for t, v in points]


def _shown(v: Any) -> str:
    return "–" if v is None else (f"{v:,.4g}" if isinstance(v, float) else escape(str(v)))


def _cell(path: str, v: Any) -> str:
    return f'<td data-key="{escape(path)}" data-value="{escape(str(v))}">{_shown(v)}</td>'


def _table(fig: Mapping[str, Any], keys: Sequence[str], prefix: str = "", caption: str = "") -> str:
    """Name/value rows; each value's data-key is its path in the object's JSON."""
    rows = "".join(f"<tr><th>{escape(k)}</th>{_cell(prefix + k, fig.get(k))}</tr>" for k in keys if k in fig)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f'<table class="figures">{cap}{rows}</table>'


def _rows(rows: Sequence[Mapping[str, Any]], name: str, caption: str) -> str:
    """A period table (byYear, byMonth, attributionByMonth): a row per period, a column per figure."""
    if not rows:
        return ""
    cols = [k for k in dict.fromkeys(k for r in rows for k in r) if k != "period"]
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join(f'<tr><th>{escape(str(r["period"]))}</th>'
                   + "".join(_cell(f'{name}.{r["period"]}.{c}', r.get(c)) for c in cols) + "</tr>" for r in rows)
    return (f'<table class="periods" data-table="{escape(name)}"><caption>{escape(caption)}</caption>'
            f"<tr><th>period</th>{head}</tr>{body}</table>")


PERF_KEYS = ("days", "pnlQuote", "returnPerYearPct", "maxDrawdownQuote", "maxDrawdownPct", "sharpe", "sortino",
             "var95DailyQuote")
SOURCE_KEYS = ("fundingQuote", "feesQuote", "slippageQuote", "pricePnlQuote", "totalPnlQuote")


def _sources_chart(s: Mapping[str, Any], total: str, marks: Sequence[tuple[str, str]] = ()) -> str:
    lines = [("PnL", GREEN, s[total]), ("funding", BLUE, s.get("fundingQuote", [])),
             ("−fees", ORANGE, _negated(s.get("feesQuote", s.get("costQuote", [])))),
             ("−slippage", PURPLE, _negated(s.get("slippageQuote", []))),
             ("price", GREY, s.get("pricePnlQuote", []))]
    return line_chart("PnL and its sources (quote)", [line for line in lines if line[2]], marks=marks)


def _trade_marks(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(t, GREEN if buys >= sells else RED) for t, buys, sells in s.get("trades", [])]


def _carry(c: Mapping[str, Any]) -> str:
    s = c["series"]
    return (f'<section class="object" data-object="{escape(c["fundingArbitrage"])}">'
            f'<h2>FundingArbitrage {escape(c["fundingArbitrage"])}</h2>'
            + _table(c, ("state", "phase", "pairs", "fundingEarnedQuote", "feesQuote", "pnlQuote", "breakerTripped",
                         "breakerTrips", "haltedHours", "fills", "turnoverQuote", "slippageQuote"), caption="run")
            + _table(c["pnlSources"], SOURCE_KEYS, "pnlSources.", "PnL by source")
            + _table(c["performance"], PERF_KEYS, "performance.", "track record")
            + _sources_chart(s, "pnlQuote", _trade_marks(s))
            + line_chart("Drawdown (quote)", [("drawdown", RED, drawdown(s["pnlQuote"]))])
            + _rows(c.get("byYear", []), "byYear", "year by year")
            + _rows(c.get("byMonth", []), "byMonth", "month by month") + "</section>")


def _inventory_lines(m: Mapping[str, Any]) -> list[tuple[str, str, Series]]:
    inv = m["series"].get("inventory", [])
    lines = m.get("positionLines") or {}
    out: list[tuple[str, str, Series]] = [("position", BLUE, inv)]
    if inv and lines:
        ends = [inv[0][0], inv[-1][0]]
        target, band, cap = lines["targetPosition"], lines["positionThreshold"], lines["maxPosition"]
        out += [("target ± threshold", GREY, [[t, target + band] for t in ends]),
                ("target ± threshold", GREY, [[t, target - band] for t in ends]),
                ("± max", RED, [[t, cap] for t in ends]), ("± max", RED, [[t, -cap] for t in ends])]
    return out


def _maker(m: Mapping[str, Any]) -> str:
    s = m["series"]
    return (f'<section class="object" data-object="{escape(m["marketMaker"])}">'
            f'<h2>MarketMaker {escape(m["marketMaker"])}</h2>'
            + _table(m, ("state", "reason", "position", "boughtQty", "soldQty", "realizedPnlQuote",
                         "unrealizedPnlQuote", "feesQuote", "fills", "turnoverQuote", "slippageQuote"), caption="run")
            + _table(m["pnlSources"], SOURCE_KEYS, "pnlSources.", "PnL by source")
            + _table(m["performance"], PERF_KEYS, "performance.", "track record")
            + _sources_chart(s, "pnlQuote", _trade_marks(s))
            + line_chart("Drawdown (quote)", [("drawdown", RED, drawdown(s["pnlQuote"]))])
            + line_chart("Inventory (base) against its position lines", _inventory_lines(m), marks=_trade_marks(s),
                         dashed=("target ± threshold", "± max"))
            + _rows(m.get("byMonth", []), "byMonth", "month by month") + "</section>")


def _book(b: Mapping[str, Any]) -> str:
    s = b["series"]
    worst = [[t, 100 * float(v)] for t, v in s.get("worstAssetDeviation", [])]
    band = [[t, 100 * float(v)] for t, v in s.get("worstAssetBand", [])]
    total = [[t, 100 * float(v)] for t, v in s["deviation"]]
    rebalances = [(t, RED if urgency == "Emergency" else ORANGE) for t, urgency in s.get("rebalances", [])]
    attribution = {f"{a}": v for a, v in b.get("attribution", {}).items()}
    return (f'<section class="object" data-object="{escape(b["book"])}"><h2>HedgeBook {escape(b["book"])}</h2>'
            + _table(b, ("state", "cycles", "rebalances", "emergencyRebalances", "costQuote",
                         "meanAbsDeviationRatio", "maxAbsDeviationRatio", "capitalQuote", "fills", "turnoverQuote",
                         "slippageQuote"), caption="run")
            + _table(b["pnlSources"], SOURCE_KEYS, "pnlSources.", "PnL by source")
            + _table(b["performance"], PERF_KEYS, "performance.", "track record")
            + _table(attribution, sorted(attribution), "attribution.", "price PnL by asset")
            + line_chart("Deviation (%): the book, and the farthest asset against its band",
                         [("total", BLUE, total), ("worst asset", TEAL, worst), ("its band", GREY, band)], "%",
                         marks=rebalances, dashed=("its band",))
            + _sources_chart(s, "pnlQuote", rebalances)
            + line_chart("Drawdown (quote)", [("drawdown", RED, drawdown(s["pnlQuote"]))])
            + line_chart("Cumulative trading cost (quote)", [("cost", ORANGE, s["costQuote"])])
            + _rows(b.get("byMonth", []), "byMonth", "month by month")
            + _rows(b.get("attributionByMonth", []), "attributionByMonth", "price PnL by asset, month by month")
            + "</section>")


def _pricing(summary: Mapping[str, Any]) -> str:
    """What the prices were, period by period (a backtest before 2024-12-31 prices both legs at the mark)."""
    rows = summary.get("pricing", [])
    if not rows:
        return ""
    body = "".join(f"<tr><td>{escape(p['symbol'])}</td><td>{escape(p['from'][:16])}</td>"
                   f"<td>{escape(p['to'][:16])}</td><td>{p['stepSeconds']} s</td><td>{escape(p['source'])}</td>"
                   f"<td>{escape(p['note'] or 'the market’s own candles')}</td></tr>" for p in rows)
    return ('<table class="pricing"><caption>prices replayed, period by period</caption><tr><th>symbol</th>'
            f"<th>from</th><th>to</th><th>bar</th><th>file</th><th>what it means</th></tr>{body}</table>")


def _partial(summary: Mapping[str, Any]) -> str:
    """An interrupted run's report says so at its top: what window was asked for, what window ran, what stopped it."""
    if not summary.get("interrupted"):
        return ""
    by = summary.get("interruptedBy") or "an interrupt"
    asked = str(summary.get("requestedTo") or "?")
    return (f'<p class="partial" data-requested-to="{escape(asked)}" data-to="{escape(summary["to"])}" '
            'style="border:2px solid #d62728;padding:6px 10px;font-weight:bold">PARTIAL: '
            f"{escape(by)} stopped the run at {escape(summary['to'])}. Asked for {escape(summary['from'])} → "
            f"{escape(asked)}; every figure below covers only {escape(summary['from'])} → {escape(summary['to'])}."
            "</p>")


def render(summary: Mapping[str, Any], title: str) -> str:
    heading = (f"{title} (PARTIAL: stopped by {summary.get('interruptedBy') or 'an interrupt'})"
               if summary.get("interrupted") else title)
    body = ([_book(b) for b in summary["books"]] + [_carry(c) for c in summary["fundingArbitrages"]]
            + [_maker(m) for m in summary["marketMakers"]])
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(heading)}</title><style>"
            "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:0 24px 12px 0}"
            "table.figures{display:inline-table;vertical-align:top}caption{text-align:left;font-weight:bold;"
            "font-size:13px}th,td{padding:2px 8px;text-align:left;border-bottom:1px solid #eee;font-size:12px}"
            "td{text-align:right}table.pricing td{text-align:left}section{margin-bottom:32px}"
            "svg.chart{display:block;margin:8px 0}</style></head><body>"
            f"<h1>{escape(heading)}</h1>{_partial(summary)}"
            f"<p>{escape(summary['from'])} → {escape(summary['to'])}, on replayed real prices through the "
            "operator's own reconcilers, one step per bar. "
            + ("A tripped carry breaker waits for a person (nobody resets it in this run)."
               if summary.get("resetBreakerAfterHours") is None else
               f"A tripped carry breaker is reset {summary['resetBreakerAfterHours']:g} h after it trips, as a person "
               "would with the hedgeops.io/reset-breaker annotation.") + "</p>" + _pricing(summary)
            + "".join(body) + "</body></html>\n")

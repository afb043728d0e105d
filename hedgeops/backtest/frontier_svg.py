"""The cost-against-deviation frontier as one self-contained SVG (no scripts, no fonts to fetch): one panel per
dataset, every setting the benchmark ran, scored on the held-out period, the named policies marked."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from hedgeops.backtest.hedge_study import ADAPTIVE, COMPACT_ASSET, COMPACT_TOTAL, DEFAULT, EDGE, LOOSE, PREVIOUS, TARGET

W, H = 560, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 48
STYLE = {
    TARGET: ("#8c8c8c", "Fixed band to Target"),
    EDGE: ("#4c78a8", "Fixed band to BandEdge"),
    ADAPTIVE: ("#f58518", "Adaptive settings"),
    COMPACT_ASSET: ("#d62728", "Compact, worst asset"),
    COMPACT_TOTAL: ("#9467bd", "Compact, total"),
    LOOSE: ("#17becf", "Loose"),
    PREVIOUS: ("#bcbd22", "previous default"),
    DEFAULT: ("#2ca02c", "HedgeOps default"),
}
NAMED = (COMPACT_ASSET, COMPACT_TOTAL, LOOSE, PREVIOUS, DEFAULT)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = 10 ** math.floor(math.log10((hi - lo) / n or 1))
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _panel(ds: Mapping[str, Any], x0: float) -> list[str]:
    pts = ds["frontier"]
    xs = [float(p["mean_abs_exposure_pct"]) for p in pts]
    ys = [float(p["cost_per_year_usd"]) for p in pts]
    xlo, xhi = 0.0, max(xs) * 1.05
    ylo, yhi = 0.0, max(ys) * 1.05
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(v: float) -> float:
        return x0 + LEFT + (v - xlo) / (xhi - xlo) * pw

    def sy(v: float) -> float:
        return TOP + ph - (v - ylo) / (yhi - ylo) * ph

    held = pts[0]["period"]
    out = [f'<text x="{x0 + LEFT}" y="20" font-size="13" font-weight="bold">{ds["bar_seconds"] // 60}-minute bars, '
           f'held out {escape(held["from"][:10])} to {escape(held["to"][:10])}</text>',
           f'<rect x="{x0 + LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>']
    for t in _ticks(xlo, xhi):
        out.append(f'<line x1="{sx(t):.1f}" y1="{TOP + ph}" x2="{sx(t):.1f}" y2="{TOP + ph + 4}" stroke="#333"/>'
                   f'<text x="{sx(t):.1f}" y="{TOP + ph + 16}" font-size="10" text-anchor="middle">{t:g}%</text>')
    for t in _ticks(ylo, yhi):
        out.append(f'<line x1="{x0 + LEFT - 4}" y1="{sy(t):.1f}" x2="{x0 + LEFT}" y2="{sy(t):.1f}" stroke="#333"/>'
                   f'<text x="{x0 + LEFT - 6}" y="{sy(t) + 3:.1f}" font-size="10" text-anchor="end">${t:g}</text>')
    out.append(f'<text x="{x0 + LEFT + pw / 2}" y="{H - 12}" font-size="11" text-anchor="middle">'
               'mean |total deviation| (lower is tighter)</text>')
    out.append(f'<text x="{x0 + 14}" y="{TOP + ph / 2}" font-size="11" text-anchor="middle" '
               f'transform="rotate(-90 {x0 + 14} {TOP + ph / 2})">cost a year (fees + spread)</text>')
    for family in (TARGET, EDGE, ADAPTIVE):
        members = sorted((p for p in pts if p["family"] == family), key=lambda p: p["mean_abs_exposure_pct"])
        color = STYLE[family][0]
        for p in members:
            out.append(f'<circle class="point" cx="{sx(p["mean_abs_exposure_pct"]):.1f}" '
                       f'cy="{sy(p["cost_per_year_usd"]):.1f}" r="3" fill="{color}" fill-opacity="0.7">'
                       f'<title>{escape(p["policy"])}: ${p["cost_per_year_usd"]:.2f}/yr, '
                       f'mean {p["mean_abs_exposure_pct"]:.3f}%, p99 {p["p99_abs_exposure_pct"]:.2f}%</title></circle>')
    for name in NAMED:
        p = next((q for q in pts if q["policy"] == name), None)
        if p is None:
            continue
        color = STYLE[name][0]
        out.append(f'<rect class="point" x="{sx(p["mean_abs_exposure_pct"]) - 5:.1f}" '
                   f'y="{sy(p["cost_per_year_usd"]) - 5:.1f}" width="10" height="10" fill="{color}" stroke="#000">'
                   f'<title>{escape(name)}: ${p["cost_per_year_usd"]:.2f}/yr, mean {p["mean_abs_exposure_pct"]:.3f}%, '
                   f'p99 {p["p99_abs_exposure_pct"]:.2f}%</title></rect>')
    return out


def frontier_svg(datasets: Sequence[Mapping[str, Any]]) -> str:
    width = W * len(datasets)
    legend_y = H + 8
    body: list[str] = []
    for i, ds in enumerate(datasets):
        body += _panel(ds, i * W)
    for j, (_key, (color, label)) in enumerate(STYLE.items()):
        x, y = 20 + (j % 4) * (width / 4), legend_y + 14 + (j // 4) * 18
        shape = (f'<circle cx="{x}" cy="{y - 4}" r="4" fill="{color}"/>' if _key in (TARGET, EDGE, ADAPTIVE) else
                 f'<rect x="{x - 5}" y="{y - 9}" width="10" height="10" fill="{color}" stroke="#000"/>')
        body.append(f'{shape}<text x="{x + 10}" y="{y}" font-size="11">{escape(label)}</text>')
    total_h = legend_y + 14 + 2 * 18
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
            f'viewBox="0 0 {width} {total_h}" font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="#fff"/>' + "".join(body) + "</svg>\n")

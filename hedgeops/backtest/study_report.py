"""The hedging benchmark's tables: plain text for the terminal, Markdown for the README (rendered from the stored
results, so a test can tell whether the README's figures are the benchmark's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hedgeops.backtest.readme_blocks import between, replace_between

BEGIN, END = "<!-- hedge-efficiency:begin -->", "<!-- hedge-efficiency:end -->"
COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (header, field, format)
    ("rebal/yr", "rebalances_per_year", "{:.0f}"),
    ("cost/yr $", "cost_per_year_usd", "{:.2f}"),
    ("funding/yr $", "funding_per_year_usd", "{:.0f}"),
    ("mean |dev|", "mean_abs_exposure_pct", "{:.3f}%"),
    ("p99", "p99_abs_exposure_pct", "{:.2f}%"),
    (">5%/3%", "time_beyond_emergency_pct", "{:.3f}%"),
    ("emerg/yr", "emergency_rebalances_per_year", "{:.1f}"),
    ("maker fills", "maker_fill_ratio", "{:.0%}"),
    ("held back/yr", "held_back_per_year", "{:.0f}"),
)


def _cells(row: Mapping[str, Any]) -> list[str]:
    return [fmt.format(row[field]) for _, field, fmt in COLUMNS]


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    width = max(len(r["policy"]) for r in rows) + 2
    head = f"{'policy':<{width}}" + "".join(f"{h:>13}" for h, _, _ in COLUMNS)
    lines = [head, "-" * len(head)]
    lines += [f"{r['policy']:<{width}}" + "".join(f"{c:>13}" for c in _cells(r)) for r in rows]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| policy | " + " | ".join(h.replace("|", "\\|") for h, _, _ in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for r in rows:
        # The setting a fit chose (in-sample), or the settings the walk-forward folds chose (held out).
        chosen = [r["setting"]] if r.get("setting") else [x for x in r.get("settings", ()) if x != r["policy"]]
        name = r["policy"] + (f" ({'; '.join(chosen)})" if chosen else "")
        lines.append(f"| {name} | " + " | ".join(_cells(r)) + " |")
    return "\n".join(lines)


def verdict_line(ds: Mapping[str, Any]) -> str:
    v = ds["verdict"]
    parts = []
    for key, label in (("vs_compact_asset", "Compact (worst-asset reading)"),
                       ("vs_compact_total", "Compact (total reading)")):
        r = v[key]
        parts.append(f"against {label}: cost {r['cost']:.0%}, mean {r['mean']:.0%}, p99 {r['p99']:.0%}, "
                     f"time beyond 5%/3% {r['beyond_pct_points']:+.3f} points, emergencies "
                     f"{r['emergencies_per_year'][0]:.1f} vs {r['emergencies_per_year'][1]:.1f} a year: "
                     f"**{'met' if r['met'] else 'not met'}**")
    return "; ".join(parts)


def _per_fold(ds: Mapping[str, Any]) -> str:
    from hedgeops.backtest.hedge_study import COMPACT_ASSET, COMPACT_TOTAL, DEFAULT

    rows = {(r["policy"], r["fold"]): r for r in ds["fold_rows"]}
    out = []
    for i in range(1, len(ds["folds"]) + 1):
        d = rows[(DEFAULT, i)]["cost_per_year_usd"]
        a, t = (rows[(p, i)]["cost_per_year_usd"] for p in (COMPACT_ASSET, COMPACT_TOTAL))
        out.append(f"{d / a:.0%}; {d / t:.0%}")
    return ", ".join(f"({x})" for x in out)


def _by_asset(ds: Mapping[str, Any]) -> str:
    """The mean deviation's parts by asset, for the default and both Compact readings, and the share of the
    assets whose minimum order is a large part of their leg (the same for every policy)."""
    from hedgeops.backtest.hedge_study import BASELINES, COARSE, COMPACT_ASSET, COMPACT_TOTAL, DEFAULT

    rows = {r["policy"]: r for r in ds["held_out"]}
    labels = {DEFAULT: "the default", COMPACT_ASSET: "Compact (worst asset)", COMPACT_TOTAL: "Compact (total)"}
    parts = [f"{labels[p]} " + " + ".join(f"{a} {v:.3f}%" for a, v in rows[p]["mean_abs_exposure_pct_by_asset"].items())
             for p in (DEFAULT, *BASELINES)]
    shares = [sum(rows[p]["mean_abs_exposure_pct_by_asset"][a] for a in COARSE) / rows[p]["mean_abs_exposure_pct"]
              for p in (DEFAULT, *BASELINES)]
    return (f"The mean's parts by asset (each asset's |net| ÷ the book's target notional): {'; '.join(parts)}. "
            f"{' and '.join(COARSE)}, whose minimum orders are a large part of their legs, hold "
            f"{shares[0]:.0%} of the default's mean and {min(shares[1:]):.0%}–{max(shares[1:]):.0%} of Compact's")


def _margins(ds: Mapping[str, Any]) -> str:
    return ", ".join(f"{float(m):.0%}: {name}" for m, name in ds["pick_by_margin"].items())


def readme_block(doc: Mapping[str, Any]) -> str:
    """The README's figures: per dataset the held-out table, the verdict, and the in-sample table."""
    out = [BEGIN, ""]
    for ds in doc["datasets"]:
        held = ds["held_out"][0]["period"]
        minutes = ds["bar_seconds"] // 60
        out += [f"**{minutes}-minute bars**, held out {held['from']} → {held['to']} "
                f"({len(ds['folds'])} folds; fit window {ds['fit_window']['from']} → {ds['fit_window']['to']}):", "",
                markdown_table(ds["held_out"]), "",
                f"Held-out verdict for the default ({minutes}-minute): {verdict_line(ds)}.", "",
                f"Fold by fold, the default's cost ÷ Compact's (worst asset; total): {_per_fold(ds)}.", "",
                f"{_by_asset(ds)}.", "",
                *([f"The fit window's pick at other fit margins (3% is the one used, set before any held-out figure "
                   f"was seen): {_margins(ds)}.", ""] if ds.get("pick_by_margin") else []),
                "<details><summary>In-sample, for contrast (fitted and scored on the whole period)</summary>", "",
                markdown_table(ds["in_sample"]), "", "</details>", ""]
    met = doc["target_met_held_out"]
    out += [f"Target (≤ 65% of each fair Compact's yearly cost at no worse mean, p99 and time beyond 5%/3%, held "
            f"out, on both datasets): **{'met' if met else 'not met'}**.", "", END]
    return "\n".join(out)


def replace_block(text: str, block: str) -> str:
    return replace_between(text, block, BEGIN, END)


def current_block(text: str) -> str:
    return between(text, BEGIN, END)

"""The README's carry-history block: seed 004's promise for cash and carry (10–30 % a year, drawdown under 15 %)
held against the backtest of the example FundingArbitrage over the whole bundled history, year by year, as
bench/carry_history.py measured it. Pure: the block is rendered from the results JSON, so a test can hold the
README to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hedgeops.backtest.readme_blocks import between, replace_between

BEGIN, END = "<!-- carry-history:begin -->", "<!-- carry-history:end -->"
PROMISE_LOW, PROMISE_HIGH, PROMISE_DD = 10.0, 30.0, 15.0  # seed 004: 10–30 % a year, max drawdown < 15 %


def verdict(return_pct: float | None, drawdown_pct: float | None) -> str:
    """Whether a period keeps seed 004's promise, in words."""
    if return_pct is None or drawdown_pct is None:
        return "–"
    ok_return = PROMISE_LOW <= return_pct <= PROMISE_HIGH
    ok_dd = drawdown_pct < PROMISE_DD
    if ok_return and ok_dd:
        return "holds"
    parts = []
    if not ok_return:
        parts.append("return below 10 %" if return_pct < PROMISE_LOW else "return above 30 %")
    if not ok_dd:
        parts.append("drawdown ≥ 15 %")
    return "does not: " + ", ".join(parts)


def _year_rows(years: Sequence[Mapping[str, Any]], days: Mapping[str, int]) -> list[str]:
    out = []
    for y in years:
        n = days.get(str(y["period"]), 365)
        ret = y.get("returnPct")
        yearly = None if ret is None else ret * 365 / n if n else None  # a part year, annualised
        out.append(f"| {y['period']}{'' if n >= 365 else f' ({n} d)'} | {y.get('pnlQuote', 0):,.0f} | "
                   f"{y.get('fundingQuote', 0):,.0f} | {y.get('feesQuote', 0):,.0f} | "
                   f"{'–' if yearly is None else f'{yearly:.1f} %'} | {y.get('maxDrawdownPct') or 0:.2f} % | "
                   f"{verdict(yearly, y.get('maxDrawdownPct'))} |")
    return out


def readme_block(doc: Mapping[str, Any]) -> str:
    """The README block from bench/results/carry_history.json."""
    lines = [BEGIN, "", f"`{doc['command']}` — {doc['object']}, {doc['from'][:10]} → {doc['to'][:10]}; prices: "
             f"{doc['pricingNote']}", ""]
    for run in doc["runs"]:
        perf = run["performance"]
        lines += [f"**{run['title']}** (wall time {run['wallSeconds']:.0f} s): PnL {perf['pnlQuote']:,.0f} USDT on "
                  f"{doc['capitalQuote']:,.0f}, {perf['returnPerYearPct']:.1f} % a year, max drawdown "
                  f"{perf['maxDrawdownPct']:.2f} %, Sharpe {perf['sharpe'] if perf['sharpe'] is not None else '–'}; "
                  f"funding {run['fundingEarnedQuote']:,.0f}, fees {run['feesQuote']:,.0f}; breaker trips "
                  f"{run['breakerTrips']}, {run['haltedHours'] / 24:,.0f} days halted. Over the whole history: "
                  f"{verdict(perf['returnPerYearPct'], perf['maxDrawdownPct'])}.", "",
                  "| year | PnL (USDT) | funding | fees | return (a year) | max drawdown | seed 004's promise |",
                  "|---|---:|---:|---:|---:|---:|---|", *_year_rows(run["byYear"], doc["yearDays"]), ""]
    lines.append(END)
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    return replace_between(text, block, BEGIN, END)


def current_block(text: str) -> str:
    return between(text, BEGIN, END)

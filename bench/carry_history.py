"""Seed 004's cash and carry over the whole bundled history, against its promise (10–30 % a year, drawdown < 15 %).

    python bench/carry_history.py [--json] [--write]   # --write: results JSON and the README's block

Runs the example FundingArbitrage (manifests/examples/fundingarbitrage-eth.yaml) through `hedgeops backtest`'s
own run (the operator's reconcilers on the paper venue) from the first hour the data prices both legs to the
last: hourly mark prices before 2024-12-31 (both legs at the mark), the 5-minute spot and perp candles after.
Twice: as declared (a tripped breaker waits for a person, and nobody comes) and with the breaker reset a day
after each trip. Prints each run's wall time (the issue's target: under 2 minutes) and the year-by-year table;
tests/test_carry_history.py re-runs the first weeks and checks the README's block against the stored results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from hedgeops.backtest.carry_report import readme_block, replace_block
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.local.runner import LocalOptions, run_local

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifests" / "examples" / "fundingarbitrage-eth.yaml"
RESULTS = ROOT / "bench" / "results" / "carry_history.json"
CHECKPOINT_DAYS = 45  # the test re-runs this much from the start and compares


def run(reset_after: timedelta | None) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    summary = asyncio.run(run_local(LocalOptions([EXAMPLE], None, json=True, series=True, history=True,
                                                 reset_breaker_after=reset_after)))
    return summary, time.perf_counter() - t0


def checkpoint(series: list[list[Any]], first: str) -> list[Any]:
    """The cumulative PnL when a run of CHECKPOINT_DAYS from the same start would end (its last point)."""
    from datetime import datetime

    limit = datetime.fromisoformat(first) + timedelta(days=CHECKPOINT_DAYS)
    return [p for p in series if datetime.fromisoformat(p[0]) < limit][-1]  # a run of that length ends before it


def main() -> None:
    ap = argparse.ArgumentParser(description="The example carry over the whole bundled history.")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", action="store_true", help="store the results and rewrite the README's block")
    args = ap.parse_args()
    runs = []
    doc: dict[str, Any] = {}
    for title, reset in (("As declared: a tripped breaker waits for a person", None),
                         ("Breaker reset a day after each trip (--reset-breaker-after 24h)", timedelta(hours=24))):
        print(f"running: {title} …", file=sys.stderr, flush=True)
        summary, wall = run(reset)
        carry = summary["fundingArbitrages"][0]
        print(f"  {wall:.1f} s wall", file=sys.stderr, flush=True)
        runs.append({"title": title, "wallSeconds": round(wall, 1),
                     "resetBreakerAfterHours": summary["resetBreakerAfterHours"],
                     **{k: carry[k] for k in ("fundingEarnedQuote", "feesQuote", "pnlQuote", "breakerTrips",
                                              "haltedHours", "fills", "turnoverQuote", "slippageQuote",
                                              "pnlSources", "performance", "byYear")},
                     "checkpoint": checkpoint(carry["series"]["pnlQuote"], summary["from"])})
        doc = {"command": "python bench/carry_history.py --write", "object": "manifests/examples/"
               "fundingarbitrage-eth.yaml (ETH, 10,000 USDT, 1x)", "from": summary["from"], "to": summary["to"],
               "capitalQuote": 10_000,
               "pricingNote": "; ".join(sorted({f"{p['from'][:10]} → {p['to'][:10]} "
                                                f"{p['note'] or 'spot and perp 5-minute candles'}"
                                                for p in summary["pricing"]})),
               "pricing": summary["pricing"], "yearDays": year_days(summary["from"], summary["to"]),
               "checkpointDays": CHECKPOINT_DAYS}
    doc["runs"] = runs
    doc["data"] = sorted({p["source"] for p in doc["pricing"]})
    doc["replaySymbols"] = MarketReplay.symbols()
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        from _results import stamp

        RESULTS.write_text(json.dumps(stamp(doc), indent=2) + "\n")
        readme = ROOT / "README.md"
        readme.write_text(replace_block(readme.read_text(), readme_block(doc)))
        print(f"wrote {RESULTS.relative_to(ROOT)} and the README block", file=sys.stderr)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(readme_block(doc))


def year_days(first: str, last: str) -> dict[str, int]:
    """How many days of each calendar year the run covers (a part year's return is annualised from them)."""
    from datetime import datetime

    a, b = datetime.fromisoformat(first), datetime.fromisoformat(last)
    out: dict[str, int] = {}
    for year in range(a.year, b.year + 1):
        lo = max(a, a.replace(year=year, month=1, day=1, hour=0, minute=0, second=0, microsecond=0))
        hi = min(b, a.replace(year=year + 1, month=1, day=1, hour=0, minute=0, second=0, microsecond=0))
        out[str(year)] = max(1, round((hi - lo).total_seconds() / 86400))
    return out


if __name__ == "__main__":
    main()

"""Cost against exposure for hedging a JLP-like basket on real data, judged held out.

    python bench/hedge_efficiency.py [--datasets 5m,1m] [--days N] [--small] [--workers N] [--json]
                                     [--write]   # results JSON, frontier picture and the README's tables

hedgeops.backtest.hedge_study says what is run and how it is fitted; basket and fills how a bar is replayed.
`--write` stores bench/results/hedge_efficiency.json, docs/hedge_frontier.svg and rewrites the README's table
block; tests/test_hedge_study.py re-runs a held-out fold and checks the README against the stored results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from hedgeops.backtest import hedge_study as study
from hedgeops.backtest.frontier_svg import frontier_svg
from hedgeops.backtest.study_report import readme_block, replace_block, table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "hedge_efficiency.json"
PICTURE = ROOT / "docs" / "hedge_frontier.svg"


def main() -> None:
    ap = argparse.ArgumentParser(description="Hedging cost against exposure on the bundled real data, held out.")
    ap.add_argument("--datasets", default="5m,1m", help="comma-separated: 5m, 1m (default both)")
    ap.add_argument("--days", type=int, default=None, help="only the first N days of each dataset (quick runs)")
    ap.add_argument("--small", action="store_true", help="a two-setting grid per family (quick runs)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", action="store_true", help="store the results, the picture and the README tables")
    args = ap.parse_args()
    wanted = [k.strip() for k in args.datasets.split(",") if k.strip()]
    known = {d.key: d for d in study.DATASETS}
    unknown = [k for k in wanted if k not in known]
    if unknown or not wanted:
        ap.error(f"--datasets: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    if args.days is not None and args.days < 3:
        ap.error("--days: at least 3 (a fit window, a warm-up day and a held-out fold)")
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)

    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for key in wanted:
            ds = known[key]
            if args.days:
                third = max(1, args.days // 3)
                ds = replace(ds, days=args.days, fit_days=third, fold_days=third)
            results.append(study.run_dataset(ds, pool if args.workers > 1 else None, args.small, progress))
    wall = round(time.perf_counter() - t0, 1)
    verdict = {r["dataset"]: r["verdict"] for r in results}
    target_met = all(v["target_met"] for v in verdict.values())
    doc = {"benchmark": "hedge_efficiency", "wallSeconds": wall, "target_met_held_out": target_met,
           "verdict": verdict, "config": study.config(), "datasets": results,
           # The held-out rows of every dataset, flat: the fields scripts read.
           "policies": [{"dataset": r["dataset"], **row} for r in results for row in r["held_out"]]}
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        from _results import stamp

        RESULTS.write_text(json.dumps(stamp(doc), indent=1) + "\n")
        PICTURE.write_text(frontier_svg(results))
        readme = ROOT / "README.md"
        readme.write_text(replace_block(readme.read_text(), readme_block(doc)))
        progress(f"wrote {RESULTS.relative_to(ROOT)}, {PICTURE.relative_to(ROOT)} and the README's tables")
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    for r in results:
        print(f"\n{r['dataset']} bars {r['period']['from']} → {r['period']['to']}; fit window to "
              f"{r['fit_window']['to']}; held out {r['held_out'][0]['period']['from']} → "
              f"{r['held_out'][0]['period']['to']} in {len(r['folds'])} folds\n")
        print("held out\n" + table(r["held_out"]))
        print("\nin-sample (fitted on the whole period, for contrast)\n" + table(r["in_sample"]))
        if r["default_fit"]:
            print(f"\nthe fit window's pick for the Adaptive family: {r['default_fit']}")
    print(f"\nwall {wall} s")
    print("verdict:", json.dumps({"target_met_held_out": target_met, **verdict}))


if __name__ == "__main__":
    main()

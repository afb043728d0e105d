"""Changes to the hedging default that the held-out numbers did not support, measured.

    python bench/hedge_variants.py [--workers N] [--json] [--write]   # --write: results JSON and README table

hedgeops.backtest.hedge_variants says what each variant changes and how; every run is in a process of its own,
because two of them replace an engine function for their duration. `--write` stores
bench/results/hedge_variants.json and rewrites the README's variants table (tests/test_hedge_variants.py checks
the README against it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hedgeops.backtest import hedge_study as study
from hedgeops.backtest import hedge_variants as hv

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "hedge_variants.json"


def main() -> None:
    ap = argparse.ArgumentParser(description="Changes to the hedging default, measured held out.")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", action="store_true", help="store the results and rewrite the README's table")
    args = ap.parse_args()
    if args.workers < 1:
        ap.error("--workers: at least 1")
    t0 = time.perf_counter()
    jobs = [(v, ds) for ds in study.DATASETS for v in hv.runs()]
    rows = []
    # One process per run: a patched engine function can never outlive its variant.
    with ProcessPoolExecutor(max_workers=args.workers, max_tasks_per_child=1) as pool:
        for i, row in enumerate(pool.map(hv.run_one, *zip(*jobs, strict=True)), 1):
            rows.append(row)
            print(f"[{time.perf_counter() - t0:6.1f} s] {i}/{len(jobs)}: {row['dataset']} {row['variant']}",
                  file=sys.stderr, flush=True)
    doc = {"benchmark": "hedge_variants", "wallSeconds": round(time.perf_counter() - t0, 1),
           "config": study.config(), "rows": rows}
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        from _results import stamp

        RESULTS.write_text(json.dumps(stamp(doc), indent=1) + "\n")
        readme = ROOT / "README.md"
        readme.write_text(hv.replace_block(readme.read_text(), hv.readme_block(rows)))
        print(f"wrote {RESULTS.relative_to(ROOT)} and the README's variants table", file=sys.stderr)
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(hv.readme_block(rows))


if __name__ == "__main__":
    main()

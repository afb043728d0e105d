"""Paging latency with the real programs: seconds from an emergency counter first served to the page arriving.

    python bench/paging.py [--runs 5] [--json] [--write]

Runs tests/test_paging_e2e.py (Debian's prometheus and prometheus-alertmanager, a real operator, redis-server and
ccxt to the OKX emulator, the shipped rules and routing) --runs times and collects the latency each run measured.
Only time is scaled there: every `for:` is read in seconds, scrape and evaluation every second, group_wait 1 s.
The test itself fails on a wrong page, never on a slow one: the figure is this benchmark's.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"alert to webhook: ([0-9.]+) s")


def one() -> float:
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                          "tests/test_paging_e2e.py"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    found = LINE.search(out.stdout)
    if out.returncode != 0 or found is None:
        raise SystemExit(f"paging: the end-to-end test failed (exit {out.returncode}):\n{out.stdout[-3000:]}"
                         f"{out.stderr[-1500:]}")
    return float(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", action="store_true", help="store the figures in bench/results/paging.json")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs: at least 1")
    latencies = []
    t0 = time.perf_counter()
    for i in range(args.runs):
        latencies.append(one())
        print(f"run {i + 1}/{args.runs}: page {latencies[-1]:.1f} s after the counter was served", file=sys.stderr,
              flush=True)
    report: dict[str, Any] = {"benchmark": "paging", "runs": args.runs, "latencies_s": latencies,
                              "min_s": min(latencies), "median_s": statistics.median(latencies),
                              "max_s": max(latencies), "wall_seconds": round(time.perf_counter() - t0, 1)}
    if args.write:
        from _results import store

        store("paging", report)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"counter served → page: min {min(latencies):.1f} s, median {statistics.median(latencies):.1f} s, "
          f"max {max(latencies):.1f} s over {args.runs} runs")


if __name__ == "__main__":
    main()

"""How fast local mode replays: the bundled examples over N simulated days, as `hedgeops local` runs them.

    python bench/local_replay.py [--days 30] [--json]

Prints wall time, simulated days per wall second, and reconcile cycles per second (every book, every 5-minute
bar), plus the books' results so a speed change that alters behaviour is visible too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path

from hedgeops.local.runner import LocalOptions, run_local

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--manifests", default=str(ROOT / "manifests" / "examples"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    summary = asyncio.run(run_local(LocalOptions(paths=[Path(args.manifests)], duration=timedelta(days=args.days),
                                                 json=True)))
    wall = time.perf_counter() - t0
    cycles = sum(b["cycles"] for b in summary["books"])
    figures = {
        "benchmark": "local_replay",
        "simulatedDays": args.days,
        "books": len(summary["books"]),
        "wallSeconds": round(wall, 3),
        "simulatedDaysPerWallSecond": round(args.days / wall, 2),
        "cyclesPerSecond": round(cycles / wall, 1),
        "results": summary["books"],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"local replay: {len(summary['books'])} books x {args.days} simulated days in {wall:.2f} s wall")
    print(f"  {figures['simulatedDaysPerWallSecond']} simulated days per wall second, "
          f"{figures['cyclesPerSecond']} reconcile cycles per second")
    for b in summary["books"]:
        print(f"  {b['book']:<20} rebalances {b['rebalances']:>4}  cost ${b['costQuote']:>8.2f}  "
              f"mean |dev| {b['meanAbsDeviationRatio']:.3%}  max |dev| {b['maxAbsDeviationRatio']:.3%}")


if __name__ == "__main__":
    main()

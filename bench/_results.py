"""Where a benchmark's `--write` stores what it measured: bench/results/<name>.json.

The README quotes these files, and tests/test_readme_bench_figures.py holds each quoted figure to them: a re-run
that changes a figure fails that test until the README says the new one.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
DIR_ENV = "HEDGEOPS_BENCH_RESULTS"  # tests point it elsewhere, so a test's short run never replaces the real figures


def stamp(report: dict[str, Any]) -> dict[str, Any]:
    """The report with what produced it: the command line, the machine's core count, Python and the date."""
    # The command as run from the project root, wherever it was run from: what the README tells a reader to type.
    command = " ".join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    return {"command": command, "cpus": os.cpu_count(), "python": platform.python_version(),
            "measured": datetime.now(UTC).strftime("%Y-%m-%d"), **report}


def store(name: str, report: dict[str, Any]) -> Path:
    """Write the stamped report (the benchmarks whose --write also rewrites README tables stamp their own)."""
    path = Path(os.environ.get(DIR_ENV) or RESULTS) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = stamp(report)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return path

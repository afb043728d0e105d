"""The bundled market data is what its README says it is: every file documented, row counts and spans as listed."""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from .conftest import ROOT

DATA = ROOT / "data"


def table() -> dict[str, list[str]]:
    rows = {}
    for line in (DATA / "README.md").read_text().splitlines():
        m = re.match(r"\| `([^`]+)` \|", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in line.strip("|").split("|")]
    return rows


def test_every_file_is_documented_with_its_rows_and_span() -> None:
    documented = table()
    files = sorted(p.name for p in DATA.glob("*.csv.gz"))
    assert files == sorted(documented)
    for name in files:
        with gzip.open(DATA / name, "rt") as f:
            reader = csv.reader(f)
            next(reader)
            stamps = [int(r[0]) for r in reader]
        cols = documented[name]
        first, last, rows = cols[5], cols[6], int(cols[7])
        assert len(stamps) == rows, name
        iso = [datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in (stamps[0], stamps[-1])]
        assert iso == [first, last], name
        assert stamps == sorted(stamps), name


def test_data_stays_small() -> None:
    # 24 MiB: the 5-minute set, the three 1-minute perps the hedging benchmark's 1-minute run needs, funding, and
    # the hourly mark prices that carry backtests back to 2019.
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 24 * 2**20


def test_the_book_profile_is_reproduced_from_the_real_sample() -> None:
    shared = ROOT.parent / "shared" / "data"
    if not (shared / "binance_futures_BTC_USDT_depth_20240808.csv.gz").exists():
        pytest.skip("the shared data set is not beside the project (CI has it)")
    out = subprocess.run([sys.executable, "scripts/book_profile.py", str(shared)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    assert json.loads(out.stdout) == json.loads((DATA / "binance_futures_BTC_USDT_book_profile.json").read_text())

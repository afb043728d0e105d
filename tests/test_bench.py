"""The benchmarks run and print what scripts read (figures are reported by running them, not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import ROOT


def run(*args: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run([sys.executable, *args, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_hedge_efficiency_json_keys() -> None:
    report = run("bench/hedge_efficiency.py", "--days", "2", "--no-frontier", "--workers", "1")
    names = [p["policy"] for p in report["policies"]]
    assert names == ["Loose (seed 000)", "Compact (seed 000)", "Adaptive (HedgeOps default)"]
    for p in report["policies"]:
        assert {"policy", "rebalances_per_year", "cost_per_year_usd", "mean_abs_exposure_pct",
                "p99_abs_exposure_pct", "max_abs_exposure_pct"} <= set(p)
    assert "target_met" in report["verdict"]
    minute = report["minute"]
    assert [p["policy"] for p in minute] == names and all(p["group"] == "minute" for p in minute)
    assert minute[0]["bars"] == 2 * 1440 + 1  # two days of 1-minute SOL bars


def test_local_replay_json_keys() -> None:
    report = run("bench/local_replay.py", "--days", "1")
    assert report["simulatedDaysPerWallSecond"] > 0 and len(report["results"]) == 3


def test_exchange_requests_json_keys() -> None:
    report = run("bench/exchange_requests.py", "--books", "1,3", "--cycles", "1", "--acks", "2")
    assert report["requests_per_cycle"] == {"1": 4, "3": 4}  # the same constant whatever the number of books
    for key in ("trigger_to_ack_ms", "trigger_to_ack_ms_unthrottled"):
        assert report[key]["n"] == 2 and 0 < report[key]["p50"] <= report[key]["p99"]


def test_operator_scale_json_keys() -> None:
    report = run("bench/operator_scale.py", "--books", "6", "--accounts", "2", "--interval", "3", "--cycles", "1",
                 "--tick", "1")
    assert {"books", "accounts", "requests_per_cycle", "decision_ms_median", "cycle_lag_p99_s", "rss_mb",
            "failed_cycles"} <= set(report)
    assert (report["books"], report["accounts"]) == (6, 2)
    assert report["books_reconciled_last_interval"] == 6 and report["rss_mb"] > 0

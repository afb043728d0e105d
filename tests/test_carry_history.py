"""The README's carry-since-2019 block (issue 17): rendered from bench/results/carry_history.json, and that JSON
made by the backtest itself (its first weeks re-run here give the same PnL); seed 004's verdict in words."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hedgeops.backtest.carry_report import current_block, readme_block, verdict
from hedgeops.local.runner import LocalOptions, run_local

from .conftest import ROOT

RESULTS = json.loads((ROOT / "bench" / "results" / "carry_history.json").read_text())


def test_the_readme_block_is_the_stored_results() -> None:
    assert current_block((ROOT / "README.md").read_text()) == readme_block(RESULTS)


def test_the_years_add_up_to_the_whole_run() -> None:
    for run in RESULTS["runs"]:
        assert abs(sum(y["pnlQuote"] for y in run["byYear"]) - run["pnlQuote"]) < 0.01
        assert abs(sum(y["fundingQuote"] for y in run["byYear"]) - run["fundingEarnedQuote"]) < 0.01
        assert run["byYear"][0]["period"] == "2019" and run["byYear"][-1]["period"] == "2026"
    assert any(p["note"] for p in RESULTS["pricing"]) and any(not p["note"] for p in RESULTS["pricing"])


@pytest.mark.parametrize("index", [0, 1])
def test_the_first_weeks_re_run_to_the_stored_figure(index: int) -> None:
    run = RESULTS["runs"][index]
    reset = None if run["resetBreakerAfterHours"] is None else timedelta(hours=run["resetBreakerAfterHours"])
    start = datetime.fromisoformat(RESULTS["from"])
    summary = asyncio.run(run_local(LocalOptions(
        [Path(ROOT / "manifests" / "examples" / "fundingarbitrage-eth.yaml")],
        timedelta(days=RESULTS["checkpointDays"]), start=start, json=True, history=True,
        reset_breaker_after=reset)))
    assert summary["fundingArbitrages"][0]["pnlQuote"] == pytest.approx(run["checkpoint"][1], abs=1e-4)
    assert summary["pricing"][0]["note"]  # 2019–2020: both legs at the hourly mark, and the summary says so


def test_the_verdict_reads_the_promise() -> None:
    assert verdict(12.0, 3.0) == "holds"
    assert verdict(4.0, 3.0) == "does not: return below 10 %"
    assert verdict(45.0, 20.0) == "does not: return above 30 %, drawdown ≥ 15 %"
    assert verdict(None, 1.0) == "–"

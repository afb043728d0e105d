"""`hedgeops local` (the CLI, in a subprocess, on the bundled real prices) runs seed 002's preset calendar and a
RiskParity book: a BitcoinStrategy policy (its 7% band widened to 20% here, explicit over the preset) invests the
cash at once and then trades only on the preset's calendar, the 1st and the 15th."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

BOOK = """apiVersion: hedgeops.io/v1alpha1
kind: HedgeBook
metadata: {name: btc-strategy, namespace: default}
spec:
  mode: Paper
  exchange: {name: okx, account: btc-strategy}
  holdings: {source: ExchangeBalance, exchangeBalance: {assets: [BTC, ETH, USDT]}}
  objective: {type: Allocation, targetWeights: {BTC: 0.4, ETH: 0.3, USDT: 0.3}, weighting: RiskParity}
  policyRef: {name: btc-strategy}
---
apiVersion: hedgeops.io/v1alpha1
kind: RebalancePolicy
metadata: {name: btc-strategy, namespace: default}
spec:
  checkIntervalSeconds: 21600
  execution: {normal: Taker}
  allocation: {preset: BitcoinStrategy, driftRatio: 0.2}
"""


def test_local_mode_rebalances_on_the_presets_calendar(tmp_path: Path) -> None:
    (tmp_path / "book.yaml").write_text(BOOK)
    run = subprocess.run([sys.executable, "-m", "hedgeops.cli", "local", str(tmp_path), "--from", "2025-01-30",
                          "--for", "18d", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    [book] = json.loads(run.stdout)["books"]
    # A look every 6 hours for 18 days; the investment on Jan 30, then Feb 1 and Feb 15 (not Feb 8: every two
    # weeks, as cron counts them).
    assert (book["book"], book["state"], book["cycles"]) == ("default/btc-strategy", "Ready", 72)
    assert book["rebalances"] == 3 and book["emergencyRebalances"] == 0

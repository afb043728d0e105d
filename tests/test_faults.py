"""The fault suite (bench/faults.py) through its real command: a HedgeBook trading Live through real ccxt to the
emulator, with a real redis-server, through a few faults; every promised zero must be met. A Guard that let a
Redis error escape mid-cycle, a cycle that traded on a frozen feed or without its lock store, or a restart that
sent a leg twice would each show up here as a broken promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT
from .test_bench import run

pytestmark = pytest.mark.slow
FAULTS = ("timeout", "stale-data", "redis-down", "redis-oom", "api-down", "sigkill")


def test_a_hedge_book_keeps_every_promise_through_the_faults() -> None:
    report = run("bench/faults.py", "--kinds", "hedgebook", "--faults", ",".join(FAULTS))
    assert report["benchmark"] == "faults" and report["kinds"] == ["hedgebook"]
    rows = {r["fault"]: r for r in report["results"]}
    assert list(rows) == list(FAULTS)
    for fault, r in rows.items():
        assert {"kind", "fault", "struck", "orders_sent_while_unsafe", "duplicate_orders", "orphan_orders",
                "cycles_to_recover", "verdict", "not_ready_reasons", "broken"} <= set(r)
        # The fault struck where it was meant to: in the middle of cycle 0's plan, or before its first call.
        assert r["struck"] == ("cycle-start" if fault in ("stale-data", "api-down") else "mid-plan"), r
        assert r["duplicate_orders"] == 0 and r["orphan_orders"] == 0, r
        assert r["cycles_to_recover"] is not None and 1 <= r["cycles_to_recover"] <= 3, r
        assert r["verdict"] == "ok" and r["broken"] == [], r
    for fault in ("stale-data", "redis-down", "redis-oom", "api-down"):  # windows where trading is unsafe
        assert rows[fault]["orders_sent_while_unsafe"] == 0, rows[fault]
    for fault in ("timeout", "sigkill"):  # not an unsafe window: "n/a", not a made-up 0
        assert rows[fault]["orders_sent_while_unsafe"] is None
    # Each fault was felt as what it is: the cycle stopped with the reason the operator reports.
    assert "StaleMarketData" in rows["stale-data"]["not_ready_reasons"]
    assert "LockUnavailable" in rows["redis-down"]["not_ready_reasons"]
    assert "OutOfMemory" in rows["redis-oom"]["not_ready_reasons"]["LockUnavailable"]
    assert "VenueUnavailable" in rows["api-down"]["not_ready_reasons"]
    assert report["broken"] == []


def test_an_unknown_fault_or_kind_is_a_message_not_a_run() -> None:
    for args in (["--faults", "429,meteor"], ["--kinds", "hedgebook,swaps"]):
        out = subprocess.run([sys.executable, "bench/faults.py", *args, "--json"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2 and out.stdout == ""
        assert "unknown" in out.stderr and "Traceback" not in out.stderr

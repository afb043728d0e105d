"""The README's measured figures are the ones the benchmarks stored with `--write` in bench/results/: a re-run that
changes a figure fails here until the README says the new one, and a stored run that broke a promise (an order
sent twice, a duplicate, a failed cycle) fails here whatever the README says. The streaming, carry and hedging
figures have their own tests (test_readme_streaming.py, test_carry_history.py, test_hedge_study.py)."""

from __future__ import annotations

import json
from typing import Any

from .conftest import ROOT

README = " ".join((ROOT / "README.md").read_text().split())  # the sentences are wrapped


def stored(name: str) -> dict[str, Any]:
    doc = dict(json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text()))
    assert doc["command"].startswith(f"python bench/{name}.py") and "--write" in doc["command"]
    return doc


def test_failover() -> None:
    doc = stored("failover")
    first = [r["first_cycle_s"] for r in doc["runs"]]
    done = [r["recovered_s"] for r in doc["runs"]]
    assert doc["orders_sent_twice"] == 0 and all(r["positions_exact"] for r in doc["runs"]) and doc["target_met"]
    assert (f"the standby completed its first cycle {min(first):.1f}–{max(first):.1f} s later and the plan by "
            f"{max(done):.1f} s over {len(first)} runs, nothing sent twice") in README
    assert f"`{doc['command']}` stores `bench/results/failover.json`" in README
    assert f"the Lease runs out ({doc['lease_duration_s']:.0f} s)" in README


def test_paging() -> None:
    doc = stored("paging")
    lat = doc["latencies_s"]
    assert len(lat) == doc["runs"] and (doc["min_s"], doc["max_s"]) == (min(lat), max(lat))
    assert (f"from the counter first being served to the page arriving took {min(lat):.1f}–{max(lat):.1f} s "
            f"over {doc['runs']} runs (`{doc['command']}`") in README


def test_faults() -> None:
    doc = stored("faults")
    rows = doc["results"]
    assert doc["broken"] == [] and all(r["verdict"] == "ok" for r in rows)
    assert all(r["duplicate_orders"] == 0 and r["orphan_orders"] == 0 for r in rows)
    unsafe = {r["fault"] for r in rows if r["orders_sent_while_unsafe"] is not None}
    assert unsafe == {"stale-data", "redis-down", "redis-oom", "api-down"}
    assert all(r["orders_sent_while_unsafe"] == 0 for r in rows if r["fault"] in unsafe)
    assert {r["kind"] for r in rows} == {"hedgebook", "allocation", "carry", "marketmaker"}
    recover = [r["cycles_to_recover"] for r in rows]
    slowest = {(r["kind"], r["fault"]) for r in rows if r["cycles_to_recover"] == max(recover)}
    assert slowest == {("carry", "partial-fill")}
    wall = round(doc["wall_seconds"])
    assert f"Measured (`--write` stores `bench/results/faults.json`; {wall} s, {len(rows)} runs)" in README
    assert (f"**0 duplicate and 0 orphan orders** in all {len(rows)} runs, recovery within "
            f"{min(recover)}–{max(recover)} cycles (the carry's partial fill takes {max(recover)}:") in README


def test_operator_scale() -> None:
    doc = stored("operator_scale")
    assert doc["failed_cycles"] == {} and doc["books_reconciled_last_interval"] == doc["books"]
    assert (f"on **{doc['books']} HedgeBooks that share nothing**: one single-leg book per perp per account, 3 perps "
            f"with data, so {doc['accounts']} accounts") in README
    assert (f"**{doc['requests_per_cycle']:,.0f} exchange requests per interval = "
            f"{doc['requests_per_account_cycle']:.1f} per account**, **{doc['decision_ms_median']} ms median engine "
            f"time per decision**, **cycle lag p99 {doc['cycle_lag_p99_s']:.2f} s**, "
            f"**{doc['books_reconciled_last_interval']}/{doc['books']} books reconciled in the last interval**, "
            f"**no failed cycle**, **{round(doc['rss_mb'])} MB** resident; the first cycle of all {doc['books']}, "
            f"hedges included, took {round(doc['first_cycle_all_books_s'])} s.") in README
    assert f"{doc['interval_s']} s interval, {doc['tick_s']:.0f} s tick, {doc['cycles']} intervals measured" in README


def test_exchange_requests() -> None:
    doc = stored("exchange_requests")
    per_cycle = doc["requests_per_cycle"]
    assert set(per_cycle.values()) == {4}
    assert f"**4 requests per cycle for {', '.join(list(per_cycle)[:-1])} and {list(per_cycle)[-1]} books**" in README
    off, on = doc["trigger_to_ack_ms_unthrottled"], doc["trigger_to_ack_ms"]
    assert (f"**p50 {off['p50']:.1f} ms, p99 {off['p99']:.1f} ms** with ccxt's rate limiter off; "
            f"**p50 {round(on['p50'])} ms, p99 {round(on['p99'])} ms** with it on") in README
    assert f"; {on['n']} acknowledged orders each, the emulator's own work included" in README


def test_hedging_benchmarks_wall_times() -> None:
    efficiency = json.loads((ROOT / "bench" / "results" / "hedge_efficiency.json").read_text())
    variants = json.loads((ROOT / "bench" / "results" / "hedge_variants.json").read_text())
    assert f"bench/hedge_efficiency.py` (about {round(efficiency['wallSeconds'] / 60)} minutes on 2 cores as last " \
        "stored" in README
    assert f"bench/hedge_variants.py` (about {round(variants['wallSeconds'] / 60)} minutes as last stored" in README


def test_every_benchmark_is_listed_with_its_command() -> None:
    scripts = sorted(p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))
    text = (ROOT / "README.md").read_text()
    block = text[text.index("Benchmarks print their figures"):]
    block = block[:block.index("```\n", block.index("```sh") + 5)]
    listed = sorted(line.split()[1].removeprefix("bench/") for line in block.splitlines()
                    if line.startswith(".venv/bin/python bench/"))
    assert listed == scripts

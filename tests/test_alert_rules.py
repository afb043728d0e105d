"""The shipped alert rules, checked and unit-tested by the real `promtool` (Debian's prometheus package), and held
to the metrics the operator really exports: a renamed metric or label would silently never fire otherwise."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hedgeops.runtime.metrics import Metrics

from .conftest import ROOT

RULES = ROOT / "manifests" / "monitoring" / "hedgeops-rules.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
TARGET_LABELS = {"job", "instance", "pod", "le"}  # added by the scrape, or histogram buckets


def _rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [r for r in _rules() if "alert" in r]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed; `make test` installs Debian's prometheus package with apt-get")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_rules_pass_promtool_check() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_every_alert_waits_before_it_pages() -> None:
    # A rule without `for:` fires on one scrape: a counter's blip or a state held for a second pages someone.
    assert [a["alert"] for a in _alerts() if not a.get("for")] == []


def test_every_alert_is_documented_and_labelled() -> None:
    anchors = {line[3:].strip().lower() for line in RUNBOOKS.read_text().splitlines() if line.startswith("## ")}
    for alert in _alerts():
        name = alert["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z]+", name), name
        assert alert["labels"]["severity"] in ("critical", "warning"), name
        notes = alert["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(notes), name
        assert notes["runbook_url"].endswith(f"#{name.lower()}"), name
        assert name.lower() in anchors, f"{name} has no section in docs/runbooks.md"
    assert len(anchors) == len(_alerts()), "a runbook section names no alert"


def _exported() -> dict[str, set[str]]:
    """Sample name -> label names, for every metric the operator exports."""
    from prometheus_client import CollectorRegistry

    from hedgeops.operator.ha import leader_gauge

    leader = leader_gauge(CollectorRegistry())  # on the operator's registry when it elects a leader
    out: dict[str, set[str]] = {leader._name: set(leader._labelnames)}
    for metric in vars(Metrics()).values():
        if not hasattr(metric, "_labelnames"):
            continue
        name, labels = metric._name, set(metric._labelnames)
        kind = metric._type
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(kind, [""])
        for suffix in suffixes:
            out[name + suffix] = labels
    return out


def test_rules_use_only_exported_metrics_and_their_labels() -> None:
    exported = _exported()
    for rule in _rules():  # the alerts and the dashboard's recording rules
        name, expr = rule.get("alert") or rule["record"], rule["expr"]
        used = set(re.findall(r"\bhedgeops_[a-z_]+", expr))
        assert used or name.startswith("HedgeOpsOperator"), f"{name} reads no hedgeops metric"  # up{job}
        unknown = used - set(exported)
        assert not unknown, f"{name} reads metrics nobody exports: {unknown}"
        available = set().union(*(exported[m] for m in used)) if used else set()
        grouped = {lab.strip() for group in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr) for lab in group.split(",")}
        templated = set(re.findall(r"\$labels\.(\w+)", " ".join(rule.get("annotations", {}).values())))
        selected = set(re.findall(r"[{,]\s*(\w+)\s*(?:!=|=~|!~|=)", expr))
        for label in (grouped | templated | selected) - TARGET_LABELS:
            assert not used or label in available, f"{name} uses label {label!r} its metrics lack"


# ---- promtool unit tests: each alert fires on the series that should page, and stays quiet otherwise -------------

BOOK = 'namespace="default",name="jlp",mode="Live"'
JLP = {"namespace": "default", "name": "jlp", "mode": "Live"}
CARRY = 'namespace="default",name="eth-carry",mode="Live",symbol="ETH/USDT:USDT"'
ETH_CARRY = {"namespace": "default", "name": "eth-carry", "mode": "Live", "symbol": "ETH/USDT:USDT"}
LOCK_STORE = 'hedgeops_lock_store_up{store="redis",instance="10.0.0.7:9108"}'
DEGRADED = 'hedgeops_degraded{kind="HedgeBook",namespace="default",name="jlp",mode="Live"}'


def _case(alert: str, at: str, series: list[tuple[str, str]], fires: list[dict[str, str]],
          value: str = "") -> dict[str, Any]:
    return {"alert": alert, "at": at, "series": series, "fires": fires, "value": value}


CASES = [
    _case("HedgeOpsOperatorDown", "8m", [('up{job="hedgeops-metrics",instance="10.0.0.7:9108"}', "1 1 0x10"),
                                         ('up{job="hedgeops-metrics",instance="10.0.0.8:9108"}', "1 0x10")],
          [{"job": "hedgeops-metrics"}]),
    # The standby down, the leader up: cycles run; a warning, not "nothing is hedged" (and no inhibition of all).
    _case("HedgeOpsOperatorDown", "8m", [('up{job="hedgeops-metrics",instance="10.0.0.7:9108"}', "1x10"),
                                         ('up{job="hedgeops-metrics",instance="10.0.0.8:9108"}', "1 0x10")], []),
    _case("HedgeOpsOperatorReplicaDown", "13m", [('up{job="hedgeops-metrics",instance="10.0.0.7:9108"}', "1x15"),
                                                 ('up{job="hedgeops-metrics",instance="10.0.0.8:9108"}', "1 0x15")],
          [{"job": "hedgeops-metrics", "instance": "10.0.0.8:9108"}]),
    _case("HedgeOpsOperatorReplicaDown", "13m",
          [('up{job="hedgeops-metrics",instance="10.0.0.8:9108"}', "1 0x5 1x10")], []),
    # for: 10m. Down from 1 min: pending at 10 min, paged at 11.
    _case("HedgeOpsOperatorReplicaDown", "10m",
          [('up{job="hedgeops-metrics",instance="10.0.0.8:9108"}', "1 0x15")], []),
    _case("HedgeOpsOperatorReplicaDown", "11m",
          [('up{job="hedgeops-metrics",instance="10.0.0.8:9108"}', "1 0x15")],
          [{"job": "hedgeops-metrics", "instance": "10.0.0.8:9108"}]),
    _case("HedgeOpsNoLeader", "5m", [('hedgeops_leader{job="hedgeops-metrics",instance="a"}', "1 0x6"),
                                     ('hedgeops_leader{job="hedgeops-metrics",instance="b"}', "0x7")],
          [{"job": "hedgeops-metrics"}]),
    # The Lease moving from one replica to the other within a scrape or two: no page.
    _case("HedgeOpsNoLeader", "5m", [('hedgeops_leader{job="hedgeops-metrics",instance="a"}', "1 0x6"),
                                     ('hedgeops_leader{job="hedgeops-metrics",instance="b"}', "0 0 1x5")], []),
    # for: 2m. The Lease lost at 1 min: pending at 2 min, paged at 3.
    _case("HedgeOpsNoLeader", "2m", [('hedgeops_leader{job="hedgeops-metrics",instance="a"}', "1 0x6")], []),
    _case("HedgeOpsNoLeader", "3m", [('hedgeops_leader{job="hedgeops-metrics",instance="a"}', "1 0x6")],
          [{"job": "hedgeops-metrics"}]),
    _case("HedgeOpsOperatorDown", "8m", [('up{job="hedgeops-metrics",instance="10.0.0.7:9108"}', "1x10")], []),
    # Never scraped at all (the Service or ServiceMonitor is wrong): absent() pages too.
    _case("HedgeOpsOperatorDown", "6m", [('up{job="something-else",instance="x"}', "1x10")],
          [{"job": "hedgeops-metrics"}]),
    # for: 5m. Never scraped: pending from the first evaluation, paged 5 minutes on and not a minute sooner.
    _case("HedgeOpsOperatorDown", "4m", [('up{job="something-else",instance="x"}', "1x10")], []),
    _case("HedgeOpsOperatorDown", "5m", [('up{job="something-else",instance="x"}', "1x10")],
          [{"job": "hedgeops-metrics"}]),
    # Down from 1 min: still pending at 5 min, paged at 6.
    _case("HedgeOpsOperatorDown", "5m", [('up{job="hedgeops-metrics",instance="10.0.0.7:9108"}', "1 0x10")], []),
    _case("HedgeOpsOperatorDown", "6m", [('up{job="hedgeops-metrics",instance="10.0.0.7:9108"}', "1 0x10")],
          [{"job": "hedgeops-metrics"}]),
    _case("HedgeOpsLockStoreDown", "3m", [(LOCK_STORE, "1 0x5")], [{"store": "redis", "instance": "10.0.0.7:9108"}]),
    _case("HedgeOpsLockStoreDown", "3m", [(LOCK_STORE, "1 0 1x5")], []),
    # for: 1m. Unreachable from 1 min: pending at 1 min, paged at 2.
    _case("HedgeOpsLockStoreDown", "1m", [(LOCK_STORE, "1 0x5")], []),
    _case("HedgeOpsLockStoreDown", "2m", [(LOCK_STORE, "1 0x5")], [{"store": "redis", "instance": "10.0.0.7:9108"}]),
    _case("HedgeOpsCycleLagging", "15m", [
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="30"}', "0+0x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="60"}', "0+0x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="120"}', "0+10x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="+Inf"}', "0+10x30")],
          [{"kind": "HedgeBook"}], value="1m 59s"),
    _case("HedgeOpsCycleLagging", "15m", [
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="30"}', "0+10x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="+Inf"}', "0+10x30")], []),
    # Above 60 s: 101 of 10,000 cycles a minute between 60 and 120 s late puts the p99 at 60.6 s; 99 of them, at 59.99.
    # for: 10m, with a rate from the second sample (1 min): pending at 10 min, paged at 11.
    _case("HedgeOpsCycleLagging", "10m", [
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="30"}', "0+0x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="60"}', "0+9899x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="120"}', "0+10000x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="+Inf"}', "0+10000x30")], []),
    _case("HedgeOpsCycleLagging", "11m", [
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="30"}', "0+0x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="60"}', "0+9899x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="120"}', "0+10000x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="+Inf"}', "0+10000x30")],
          [{"kind": "HedgeBook"}], value="1m 0s"),
    _case("HedgeOpsCycleLagging", "11m", [
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="30"}', "0+0x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="60"}', "0+9901x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="120"}', "0+10000x30"),
        ('hedgeops_cycle_lag_seconds_bucket{kind="HedgeBook",le="+Inf"}', "0+10000x30")], []),
    _case("HedgeOpsReconcileErrors", "16m",
          [('hedgeops_reconcile_errors_total{kind="HedgeBook",reason="ExchangeUnavailable"}', "0+1x20")],
          [{"kind": "HedgeBook", "reason": "ExchangeUnavailable"}], value="15"),
    _case("HedgeOpsReconcileErrors", "16m",
          [('hedgeops_reconcile_errors_total{kind="HedgeBook",reason="ExchangeUnavailable"}', "0+0x20")], []),
    # More than 3 in 15 min: 4 failures at 1 min page 5 minutes on (for: 5m), not at 5 min; 3 never do.
    _case("HedgeOpsReconcileErrors", "5m",
          [('hedgeops_reconcile_errors_total{kind="HedgeBook",reason="ExchangeUnavailable"}', "0 4x20")], []),
    _case("HedgeOpsReconcileErrors", "6m",
          [('hedgeops_reconcile_errors_total{kind="HedgeBook",reason="ExchangeUnavailable"}', "0 4x20")],
          [{"kind": "HedgeBook", "reason": "ExchangeUnavailable"}], value="4"),
    _case("HedgeOpsReconcileErrors", "6m",
          [('hedgeops_reconcile_errors_total{kind="HedgeBook",reason="ExchangeUnavailable"}', "0 3x20")], []),
    _case("HedgeOpsExchangeErrors", "25m", [
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="ok"}', "0+60x30"),
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="rate_limited"}', "0+30x30")],
          [{"exchange": "okx"}], value="33.33%"),
    _case("HedgeOpsExchangeErrors", "25m", [
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="ok"}', "0+60x30"),
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="rate_limited"}', "0+1x30")], []),
    # More than 20%: 20.1% fails, paged after 10 min (pending at 10 min from the first rate at 1); 19.9% never.
    _case("HedgeOpsExchangeErrors", "10m", [
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="ok"}', "0+799x30"),
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="rate_limited"}', "0+201x30")], []),
    _case("HedgeOpsExchangeErrors", "11m", [
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="ok"}', "0+799x30"),
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="rate_limited"}', "0+201x30")],
          [{"exchange": "okx"}], value="20.1%"),
    _case("HedgeOpsExchangeErrors", "11m", [
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="ok"}', "0+801x30"),
        ('hedgeops_exchange_requests_total{exchange="okx",outcome="rate_limited"}', "0+199x30")], []),
    _case("HedgeOpsOrdersRejected", "35m",
          [(f'hedgeops_orders_total{{kind="HedgeBook",{BOOK},type="taker",outcome="rejected"}}', "0+1x40"),
           (f'hedgeops_orders_total{{kind="HedgeBook",{BOOK},type="taker",outcome="accepted"}}', "0+9x40")],
          [{"kind": "HedgeBook", **JLP}], value="30"),
    _case("HedgeOpsOrdersRejected", "35m",
          [(f'hedgeops_orders_total{{kind="HedgeBook",{BOOK},type="taker",outcome="accepted"}}', "0+9x40")], []),
    # More than 3 in 30 min: 4 rejected at 1 min page at 6 (for: 5m), not at 5; 3 never do.
    _case("HedgeOpsOrdersRejected", "5m",
          [(f'hedgeops_orders_total{{kind="HedgeBook",{BOOK},type="taker",outcome="rejected"}}', "0 4x40")], []),
    _case("HedgeOpsOrdersRejected", "6m",
          [(f'hedgeops_orders_total{{kind="HedgeBook",{BOOK},type="taker",outcome="rejected"}}', "0 4x40")],
          [{"kind": "HedgeBook", **JLP}], value="4"),
    _case("HedgeOpsOrdersRejected", "6m",
          [(f'hedgeops_orders_total{{kind="HedgeBook",{BOOK},type="taker",outcome="rejected"}}', "0 3x40")], []),
    _case("HedgeOpsObjectDegraded", "8m", [(DEGRADED, "0 1x10")], [{"kind": "HedgeBook", **JLP}]),
    _case("HedgeOpsObjectDegraded", "8m", [(DEGRADED, "0 1 1 0x10")], []),
    # for: 5m. Degraded from 1 min: pending at 5 min, paged at 6.
    _case("HedgeOpsObjectDegraded", "5m", [(DEGRADED, "0 1x10")], []),
    _case("HedgeOpsObjectDegraded", "6m", [(DEGRADED, "0 1x10")], [{"kind": "HedgeBook", **JLP}]),
    _case("HedgeOpsSharedPositions", "5m",
          [('hedgeops_shared_positions{kind="HedgeBook",namespace="default",name="spot-bag",mode="Live"}', "0 1x6")],
          [{"kind": "HedgeBook", "namespace": "default", "name": "spot-bag", "mode": "Live"}], value="1"),
    # Shared for one scrape while a moved object's old claim is dropped: no page.
    _case("HedgeOpsSharedPositions", "5m",
          [('hedgeops_shared_positions{kind="HedgeBook",namespace="default",name="spot-bag",mode="Live"}',
            "0 1 0x5")], []),
    # for: 2m. Shared from 1 min: pending at 2 min, paged at 3.
    _case("HedgeOpsSharedPositions", "2m",
          [('hedgeops_shared_positions{kind="HedgeBook",namespace="default",name="spot-bag",mode="Live"}', "0 1x6")],
          []),
    _case("HedgeOpsSharedPositions", "3m",
          [('hedgeops_shared_positions{kind="HedgeBook",namespace="default",name="spot-bag",mode="Live"}', "0 1x6")],
          [{"kind": "HedgeBook", "namespace": "default", "name": "spot-bag", "mode": "Live"}], value="1"),
    _case("HedgeOpsObjectNotReady", "16m", [(f'hedgeops_ready{{kind="HedgeBook",{BOOK}}}', "0x20")],
          [{"kind": "HedgeBook", **JLP}]),
    _case("HedgeOpsObjectNotReady", "16m", [(f'hedgeops_ready{{kind="HedgeBook",{BOOK}}}', "1x20")], []),
    # for: 15m. Not Ready from 1 min: pending at 15 min, paged at 16.
    _case("HedgeOpsObjectNotReady", "15m", [(f'hedgeops_ready{{kind="HedgeBook",{BOOK}}}', "1 0x20")], []),
    _case("HedgeOpsObjectNotReady", "16m", [(f'hedgeops_ready{{kind="HedgeBook",{BOOK}}}', "1 0x20")],
          [{"kind": "HedgeBook", **JLP}]),
    # A hedge leg 8% off with a 5% band for the whole 30 minutes; an allocation weight 12% off a 5% band.
    _case("HedgeBookOutOfBand", "35m", [
        (f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "-0.08x40"),
        (f'hedgeops_band_ratio{{{BOOK},asset="SOL"}}', "0.05x40"),
        (f'hedgeops_deviation_ratio{{{BOOK},asset="ETH"}}', "0.03x40"),
        (f'hedgeops_band_ratio{{{BOOK},asset="ETH"}}', "0.05x40")],
          [{**JLP, "asset": "SOL"}], value="8%"),
    _case("HedgeBookOutOfBand", "35m", [
        ('hedgeops_weight_drift_ratio{namespace="default",name="index",mode="Paper",asset="BTC"}', "0.12x40"),
        ('hedgeops_band_ratio{namespace="default",name="index",mode="Paper",asset="BTC"}', "0.05x40")],
          [{"namespace": "default", "name": "index", "mode": "Paper", "asset": "BTC"}], value="12%"),
    # Out of band for 20 minutes only, then brought back: a rebalance did its job, nobody is paged.
    _case("HedgeBookOutOfBand", "35m", [
        (f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "-0.08x20 0.01x20"),
        (f'hedgeops_band_ratio{{{BOOK},asset="SOL"}}', "0.05x40")], []),
    # Outside the band: 5.1% off a 5% band from the start pages at 30 min (for: 30m), not at 29; on its edge, never.
    _case("HedgeBookOutOfBand", "29m", [(f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "-0.051x40"),
                                        (f'hedgeops_band_ratio{{{BOOK},asset="SOL"}}', "0.05x40")], []),
    _case("HedgeBookOutOfBand", "30m", [(f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "-0.051x40"),
                                        (f'hedgeops_band_ratio{{{BOOK},asset="SOL"}}', "0.05x40")],
          [{**JLP, "asset": "SOL"}], value="5.1%"),
    _case("HedgeBookOutOfBand", "30m", [(f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "-0.05x40"),
                                        (f'hedgeops_band_ratio{{{BOOK},asset="SOL"}}', "0.05x40")], []),
    _case("HedgeBookPlansRefused", "65m",
          [(f'hedgeops_plan_refusals_total{{{BOOK},reason="CostAboveTolerance"}}', "0+1x70")],
          [{**JLP, "reason": "CostAboveTolerance"}], value="60"),
    _case("HedgeBookPlansRefused", "65m",
          [(f'hedgeops_plan_refusals_total{{{BOOK},reason="CostAboveTolerance"}}', "0x70")], []),
    # More than 3 in an hour: 4 refusals at 1 min page at 11 (for: 10m), not at 10; 3 never do.
    _case("HedgeBookPlansRefused", "10m",
          [(f'hedgeops_plan_refusals_total{{{BOOK},reason="CostAboveTolerance"}}', "0 4x70")], []),
    _case("HedgeBookPlansRefused", "11m",
          [(f'hedgeops_plan_refusals_total{{{BOOK},reason="CostAboveTolerance"}}', "0 4x70")],
          [{**JLP, "reason": "CostAboveTolerance"}], value="4"),
    _case("HedgeBookPlansRefused", "11m",
          [(f'hedgeops_plan_refusals_total{{{BOOK},reason="CostAboveTolerance"}}', "0 3x70")], []),
    _case("FundingArbitrageBreakerTripped", "4m", [(f"hedgeops_breaker_tripped{{{CARRY}}}", "0 1x5")], [ETH_CARRY]),
    _case("FundingArbitrageBreakerTripped", "4m", [(f"hedgeops_breaker_tripped{{{CARRY}}}", "0 0x5")], []),
    # for: 1m. Tripped at 1 min: pending at 1 min, paged at 2.
    _case("FundingArbitrageBreakerTripped", "1m", [(f"hedgeops_breaker_tripped{{{CARRY}}}", "0 1x5")], []),
    _case("FundingArbitrageBreakerTripped", "2m", [(f"hedgeops_breaker_tripped{{{CARRY}}}", "0 1x5")], [ETH_CARRY]),
    _case("FundingArbitrageMarginLow", "4m", [(f"hedgeops_margin_ratio{{{CARRY}}}", "1 0.4x5")], [ETH_CARRY],
          value="40%"),
    _case("FundingArbitrageMarginLow", "4m", [(f"hedgeops_margin_ratio{{{CARRY}}}", "1 0.8x5")], []),
    # Below 50%: 49% from 1 min pages at 3 (for: 2m), not at 2; exactly 50% never does.
    _case("FundingArbitrageMarginLow", "2m", [(f"hedgeops_margin_ratio{{{CARRY}}}", "1 0.49x5")], []),
    _case("FundingArbitrageMarginLow", "3m", [(f"hedgeops_margin_ratio{{{CARRY}}}", "1 0.49x5")], [ETH_CARRY],
          value="49%"),
    _case("FundingArbitrageMarginLow", "3m", [(f"hedgeops_margin_ratio{{{CARRY}}}", "1 0.5x5")], []),
    # A book's first emergency at 5 min (its time as the gauge's value, seconds): paged a minute later.
    _case("HedgeBookEmergencyRebalance", "6m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="EmergencyRebalance"}}', "_x5 300x10")], [JLP],
          value="1m 0s"),
    # Long ago, even seen again after a gap in scraping (a Prometheus restart): quiet.
    _case("HedgeBookEmergencyRebalance", "35m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="EmergencyRebalance"}}', "60x5 _x20 60x10"),
           (f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="RebalanceFailed"}}', "1800x40")], []),
    # for: 1m. The emergency seen at 5 min: pending then, paged at 6 (above). It pages while less than 900 s old:
    # at 20 min (1200 s), an emergency at 301 s still does, one at 300 s no longer.
    _case("HedgeBookEmergencyRebalance", "5m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="EmergencyRebalance"}}', "_x5 300x10")], []),
    _case("HedgeBookEmergencyRebalance", "20m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="EmergencyRebalance"}}', "_x5 301x20")], [JLP],
          value="14m 59s"),
    _case("HedgeBookEmergencyRebalance", "20m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="EmergencyRebalance"}}', "_x5 300x20")], []),
    # Seed 000: above 2% for 10 minutes.
    _case("HedgeBookDeviationPersists", "12m", [(f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "-0.03x15"),
                                                (f'hedgeops_deviation_ratio{{{BOOK},asset="ETH"}}', "0.01x15")],
          [JLP], value="3%"),
    _case("HedgeBookDeviationPersists", "12m",
          [(f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "0.03x5 0.01x10")], []),
    # 2.1% off from the start pages at 10 min (for: 10m), not at 9; exactly 2% never does.
    _case("HedgeBookDeviationPersists", "9m", [(f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "-0.021x15")], []),
    _case("HedgeBookDeviationPersists", "10m", [(f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "-0.021x15")],
          [JLP], value="2.1%"),
    _case("HedgeBookDeviationPersists", "10m", [(f'hedgeops_deviation_ratio{{{BOOK},asset="SOL"}}', "0.02x15")], []),
    _case("HedgeBookRebalanceFailed", "5m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="RebalanceFailed"}}', "_x2 120x10")], [JLP],
          value="3m 0s"),
    _case("HedgeBookRebalanceFailed", "45m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="RebalanceFailed"}}', "120x50")], []),
    # for: 1m. The failure seen at 2 min: pending then, paged at 3. It pages while less than 1800 s old: at 35 min
    # (2100 s), a failure at 301 s still does, one at 300 s no longer.
    _case("HedgeBookRebalanceFailed", "2m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="RebalanceFailed"}}', "_x2 120x10")], []),
    _case("HedgeBookRebalanceFailed", "3m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="RebalanceFailed"}}', "_x2 120x10")], [JLP],
          value="1m 0s"),
    _case("HedgeBookRebalanceFailed", "35m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="RebalanceFailed"}}', "_x2 301x40")], [JLP],
          value="29m 59s"),
    _case("HedgeBookRebalanceFailed", "35m",
          [(f'hedgeops_last_event_timestamp_seconds{{{BOOK},event="RebalanceFailed"}}', "_x2 300x40")], []),
]


def _render(template: str, labels: dict[str, str], value: str) -> str:
    """The annotation as Prometheus renders it for these labels: `$labels.x` from the alert, `$value` as given."""
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), "<no value>"), template)
    return re.sub(r"\{\{\s*\$value[^}]*\}\}", value, text)


def _unit_tests() -> dict[str, Any]:
    rules = {a["alert"]: a for a in _alerts()}
    tests = []
    for case in CASES:
        rule = rules[case["alert"]]
        expected = []
        for labels in case["fires"]:
            full = {**labels, **rule["labels"]}
            expected.append({"exp_labels": full,
                             "exp_annotations": {k: _render(v, full, case["value"])
                                                 for k, v in rule["annotations"].items()}})
        tests.append({"interval": "1m",
                      "input_series": [{"series": s, "values": v} for s, v in case["series"]],
                      "alert_rule_test": [{"eval_time": case["at"], "alertname": case["alert"],
                                           "exp_alerts": expected}]})
    return {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests}


def test_each_alert_fires_when_it_should_and_only_then(tmp_path: Path) -> None:
    assert {c["alert"] for c in CASES} == {a["alert"] for a in _alerts()}, "every alert has unit tests"
    assert all(any(c["alert"] == a and not c["fires"] for c in CASES) for a in {c["alert"] for c in CASES}), \
        "every alert has a quiet case"
    spec = tmp_path / "alerts_test.yaml"
    spec.write_text(yaml.safe_dump(_unit_tests(), sort_keys=False))
    result = _promtool("test", "rules", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _minutes(at: str) -> int:
    assert re.fullmatch(r"\d+m", at), at
    return int(at[:-1])


def test_each_alert_has_cases_either_side_of_its_wait_and_its_threshold() -> None:
    # The same series quiet at one evaluation and paged at the next pins the alert's `for:` to the minute (a shorter
    # wait pages in the first case, a longer one not in the second); a quiet and a paging case at the same time, on
    # series just short of and just past what the rule compares against (or out of and in a state), pin its threshold.
    for alert in sorted({a["alert"] for a in _alerts()}):
        quiet = [c for c in CASES if c["alert"] == alert and not c["fires"]]
        paged = [c for c in CASES if c["alert"] == alert and c["fires"]]
        assert any(q["series"] == p["series"] and _minutes(q["at"]) + 1 == _minutes(p["at"])
                   for q in quiet for p in paged), f"{alert}: no case held one evaluation short of its for:"
        assert any(q["series"] != p["series"] and q["at"] == p["at"]
                   for q in quiet for p in paged), f"{alert}: no quiet case beside a paging one"


def test_recording_rules_give_the_dashboard_zeros_not_gaps(tmp_path: Path) -> None:
    # An exchange answering every request has an error ratio of 0: a panel with no line would read as "no data".
    # A book whose rebalances were all normal still has its hourly count.
    spec = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": 'hedgeops_exchange_requests_total{exchange="okx",outcome="ok"}', "values": "0+60x20"},
            {"series": 'hedgeops_exchange_requests_total{exchange="binance",outcome="ok"}', "values": "0+30x20"},
            {"series": 'hedgeops_exchange_requests_total{exchange="binance",outcome="rate_limited"}',
             "values": "0+10x20"},
            {"series": f'hedgeops_rebalances_total{{{BOOK},urgency="Normal",reason="AssetDeviation"}}',
             "values": "0+1x70"}],
        "promql_expr_test": [
            {"expr": "exchange:hedgeops_exchange_request_errors:ratio_10m", "eval_time": "15m",
             "exp_samples": [{"labels": 'exchange:hedgeops_exchange_request_errors:ratio_10m{exchange="okx"}',
                              "value": 0},
                             {"labels": 'exchange:hedgeops_exchange_request_errors:ratio_10m{exchange="binance"}',
                              "value": 0.25}]},
            {"expr": "namespace_name:hedgeops_rebalances:increase1h", "eval_time": "65m",
             "exp_samples": [{"labels": 'namespace_name:hedgeops_rebalances:increase1h'
                                        '{namespace="default",name="jlp",mode="Live",urgency="Normal"}',
                              "value": 60}]}]}]}
    path = tmp_path / "recording_test.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = _promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr

"""An Allocation book's schedule in the operator (kopf on the strict test API server, real Redis, a Paper book on
the replay clock at 3000x: an hour of market time is 1.2 s): the book rebalances when its cron fires and not
before, each fire is announced once ahead (event RebalanceScheduled) and the next fire is exported as
hedgeops_next_rebalance_timestamp_seconds on the operator's /metrics."""

from __future__ import annotations

import re
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, events, status_of, wait_for

pytestmark = pytest.mark.slow

POLICY: dict[str, Any] = {
    "apiVersion": "hedgeops.io/v1alpha1", "kind": "RebalancePolicy", "metadata": {"name": "hourly"},
    # The band is too wide for an hour's prices to reach: after the first investment only the calendar trades.
    "spec": {"checkIntervalSeconds": 60, "execution": {"normal": "Taker"},
             "allocation": {"driftRatio": 0.5, "minTradeQuote": 1},
             "schedule": {"cron": "0 * * * *", "noticeSeconds": 1800}}}
BOOK: dict[str, Any] = {
    "apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook", "metadata": {"name": "hourly"},
    "spec": {"mode": "Paper", "exchange": {"name": "okx", "account": "hourly"},
             "holdings": {"source": "ExchangeBalance", "exchangeBalance": {"assets": ["BTC", "ETH", "USDT"]}},
             "objective": {"type": "Allocation", "targetWeights": {"BTC": 0.4, "ETH": 0.3, "USDT": 0.3}},
             "policyRef": {"name": "hourly"}}}


def noticed(kube: ClusterEmulator) -> list[datetime]:
    """The fire each RebalanceScheduled event announced, in the order posted."""
    found = [re.match(r"scheduled rebalance at (\S+) ", e.get("message", "")) for e in events(kube)
             if e.get("reason") == "RebalanceScheduled"]
    return [datetime.fromisoformat(m.group(1)) for m in found if m]


def next_rebalance_metric(port: int) -> float | None:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(r'^hedgeops_next_rebalance_timestamp_seconds\{[^}]*name="hourly"[^}]*\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


async def test_the_schedule_fires_on_time_is_announced_once_per_fire_and_exported(
        cluster: tuple[ClusterEmulator, str], operator: dict[str, Any]) -> None:
    kube, _ = cluster
    assert (await kube.post(POLICIES, json=POLICY)).status == 201
    assert (await kube.post(BOOKS, json=BOOK)).status == 201

    def scheduled_and_noticed() -> dict[str, Any] | None:
        """A status whose last rebalance answered a fire that had been announced (the operator's first looks,
        while it loads the data, are far apart in replayed time: a fire then may pass without a look in its
        notice window)."""
        s = status_of(kube, "hedgebooks", "hourly")
        last, fired = s.get("lastRebalance") or {}, (s.get("schedule") or {}).get("lastFiredAt")
        ok = last.get("reason") == "Scheduled" and fired and datetime.fromisoformat(fired) in noticed(kube)
        return s if ok else None

    status = await wait_for(scheduled_and_noticed, timeout=30, what="a scheduled rebalance of an announced fire")
    fired = datetime.fromisoformat(status["schedule"]["lastFiredAt"])
    done = datetime.fromisoformat(status["lastRebalance"]["time"])
    since = datetime.fromisoformat(status["schedule"]["since"])
    # Not before: the rebalance was done after the fire it answered (sells, then the buys they fund, a few looks
    # of 10 replayed minutes each) and before the next one; the fire came after the book began, whose first
    # investment was the drift's, not the calendar's.
    assert fired.minute == fired.second == 0 and fired > since and 0 <= (done - fired).total_seconds() < 3600
    assert status["rebalancesTotal"] >= 2
    # Announced ahead, once per fire.
    announced = noticed(kube)
    assert len(announced) == len(set(announced)), announced
    assert all(t.minute == 0 for t in announced)
    # The next fire, as a metric: a whole hour after the one just acted on.
    value = await wait_for(lambda: next_rebalance_metric(operator["metrics_port"]), timeout=10,
                           what="hedgeops_next_rebalance_timestamp_seconds")
    assert value % 3600 == 0 and value > fired.timestamp()

"""Seed 002's schedule in local mode's runtime (paper venue on the bundled real prices, a simulated clock): each
strategy preset's drift band and calendar, explicit fields over the preset, a book that rebalances when its
schedule fires and not before, and the advance notice (event RebalanceScheduled and the next-rebalance metric),
once per fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api import HedgeBook
from hedgeops.engine.common.controls import Controls

from .runtime_fixtures import Rig, as_result, policy, rig
from .test_runtime_allocation import alloc_book

D = Decimal
THU = datetime(2025, 1, 30, tzinfo=UTC)  # a Thursday


async def cycle(r: Rig, b: HedgeBook, pol: Any, **controls: Any) -> tuple[HedgeBook, Any]:
    res = as_result(await r.reconciler.reconcile(b, r.clock.now(), Controls(**controls), pol))
    return b.model_copy(update={"status": res.status}), res


async def scheduled_rebalances(r: Rig, b: HedgeBook, pol: Any, steps: int, every: timedelta) -> tuple[
        HedgeBook, list[datetime]]:
    """Run `steps` cycles `every` apart; the times at which a Scheduled plan was made and completed."""
    times = []
    for _ in range(steps):
        b, res = await cycle(r, b, pol)
        if res.plan is not None and res.plan.reasons[0].code == "Scheduled":
            assert res.completed is not None and res.completed.reason == "Scheduled"
            times.append(r.clock.now())
        r.clock.advance(every.total_seconds())
    return b, times


def day(d: int) -> datetime:
    return datetime(2025, 2, d, tzinfo=UTC)


@pytest.mark.parametrize(("allocation", "schedule", "band", "fires"), [
    ({"preset": "StablecoinVault"}, None, "0.10", [day(3), day(10), day(17)]),  # weekly: Mondays
    ({"preset": "IndexFund"}, None, "0.05", [day(1)]),  # monthly
    ({"preset": "BitcoinStrategy"}, None, "0.07", [day(1), day(15)]),  # every two weeks: the 1st and the 15th
    ({"preset": "EtherStrategy"}, None, "0.07", [day(1), day(15)]),
    # Explicit fields win over the preset's: the band and the cron (Wednesdays).
    ({"preset": "StablecoinVault", "driftRatio": "0.2"}, {"cron": "0 0 * * 3"}, "0.2", [day(5), day(12)]),
])
async def test_a_preset_fills_the_band_and_the_calendar_and_the_book_rebalances_on_it_not_before(
        allocation: dict[str, Any], schedule: dict[str, Any] | None, band: str, fires: list[datetime]) -> None:
    r = rig(THU)
    pol = policy(execution={"normal": "Taker"}, allocation=allocation, **({"schedule": schedule} if schedule else {}))
    # Created on a Thursday, all cash: the drift invests it at once; then only the calendar trades (every 6 h a look,
    # over 18 days, the bands too wide for the prices of those days to reach).
    b, times = await scheduled_rebalances(r, alloc_book(), pol, steps=73, every=timedelta(hours=6))
    assert times == fires
    assert b.status is not None and {w.bandRatio for w in b.status.weights} == {D(band)}
    assert b.status.rebalancesTotal == 1 + len(fires)


async def test_the_schedule_is_announced_once_ahead_and_exported_as_the_next_rebalance_time() -> None:
    r = rig(datetime(2025, 1, 31, 21, 0, tzinfo=UTC))
    pol = policy(execution={"normal": "Taker"}, allocation={"preset": "IndexFund"}, schedule={"noticeSeconds": 3600})
    b = alloc_book()
    notices: list[tuple[datetime, str]] = []
    fired: list[datetime] = []
    metric: list[float | None] = []
    for _ in range(18):  # 21:00 → 01:15, every 15 minutes
        b, res = await cycle(r, b, pol)
        notices += [(r.clock.now(), e.message) for e in res.events if e.reason == "RebalanceScheduled"]
        if res.completed is not None and res.completed.reason == "Scheduled":
            fired.append(r.clock.now())
        metric.append(r.metrics.registry.get_sample_value("hedgeops_next_rebalance_timestamp_seconds",
                                                          {"namespace": "default", "name": "b1", "mode": "Paper"}))
        r.clock.advance(900)
    feb1 = day(1)
    # One notice, at the first look within the hour before the fire, naming it; nothing before, nothing repeated.
    assert [t for t, _ in notices] == [datetime(2025, 1, 31, 23, 0, tzinfo=UTC)]
    assert feb1.isoformat() in notices[0][1] and "0 0 1 * *" in notices[0][1]
    assert fired == [feb1]
    # The metric says the coming fire until it fired, then the next month's.
    before, after = metric[:12], metric[12:]
    assert set(before) == {feb1.timestamp()} and set(after) == {datetime(2025, 3, 1, tzinfo=UTC).timestamp()}
    assert b.status is not None and b.status.schedule is not None
    assert b.status.schedule.lastFiredAt == feb1 and b.status.schedule.noticedFor == feb1


async def test_a_fire_with_nothing_to_trade_is_settled_once() -> None:
    """A fire that finds every leg below the minimum trade is acted on (nothing to trade), not re-planned and
    refused at every cycle until the next fire."""
    r = rig(datetime(2025, 1, 31, 23, 0, tzinfo=UTC))
    invest = policy(execution={"normal": "Taker"}, allocation={"preset": "IndexFund"})
    b, res = await cycle(r, alloc_book(), invest)
    assert res.completed is not None and res.completed.reason == "WeightDrift"
    pol = policy(execution={"normal": "Taker"}, allocation={"preset": "IndexFund", "minTradeQuote": 1_000_000})
    refused = []
    for _ in range(6):  # 23:15 → 00:30: the fire at 00:00 finds no leg worth a million
        r.clock.advance(900)
        b, res = await cycle(r, b, pol)
        refused += [(r.clock.now(), e.reason) for e in res.events if e.reason == "NothingToTrade"]
    assert refused == [(day(1), "NothingToTrade")]
    assert b.status is not None and b.status.schedule is not None and b.status.schedule.lastFiredAt == day(1)
    assert b.status.rebalancesTotal == 1


async def test_a_schedule_removed_takes_its_next_rebalance_series_with_it() -> None:
    r = rig(THU)
    labels = {"namespace": "default", "name": "b1", "mode": "Paper"}
    metric = "hedgeops_next_rebalance_timestamp_seconds"
    b, _ = await cycle(r, alloc_book(), policy(execution={"normal": "Taker"}, allocation={"preset": "IndexFund"}))
    assert r.metrics.registry.get_sample_value(metric, labels) == day(1).timestamp()
    r.clock.advance(300)
    b, _ = await cycle(r, b, policy(execution={"normal": "Taker"}))  # Custom: no calendar
    assert b.status is not None and b.status.schedule is None
    assert r.metrics.registry.get_sample_value(metric, labels) is None

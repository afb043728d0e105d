"""When an Allocation book's schedule fires (seed 002's time-based and dynamic rebalancing) and when it is
announced: the cron in force (fixed, a preset's, or the dynamic table's row for the book's volatility), whether a
fire is due, the next fire, and whether its advance notice is owed. Pure: `now` comes in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from croniter import croniter

from hedgeops.api.policy import DynamicSchedule, RebalancePolicySpec
from hedgeops.engine.allocation.presets import notice_seconds, static_cron
from hedgeops.engine.common.volatility_estimators import portfolio_volatility


@dataclass(frozen=True)
class ScheduleMemory:
    """What the status carries for the schedule: since when it runs, the last fire acted on, the fire noticed."""

    since: datetime | None = None
    last_fired_at: datetime | None = None
    noticed_for: datetime | None = None


@dataclass(frozen=True)
class ScheduleView:
    """The schedule at `now`: its cron and why, the fire due (None: none), the next fire, the notice owed."""

    cron: str
    why: str
    volatility: Decimal | None
    due: datetime | None
    next_at: datetime
    notice: bool


def regime_cron(dynamic: DynamicSchedule, volatility: Decimal | None) -> tuple[str, str]:
    """The row of the table for `volatility` (the highest threshold at or below it; unknown: the lowest row)."""
    rows = sorted(dynamic.regimes, key=lambda r: r.minVolatilityRatio)
    if volatility is None:
        return rows[0].cron, "volatility unknown (too few candles): the calmest row"
    row = rows[0]
    for r in rows:
        if r.minVolatilityRatio <= volatility:
            row = r
    return row.cron, f"volatility {volatility:.2%} a year ≥ {row.minVolatilityRatio:.0%}"


def cron_in_force(policy: RebalancePolicySpec, targets: Mapping[str, Decimal],
                  closes: Mapping[str, Sequence[Decimal]] | None) -> tuple[str, str, Decimal | None] | None:
    """(cron, why, the book's volatility for a dynamic schedule) or None when the book has no schedule."""
    fixed = static_cron(policy)
    if fixed is not None:
        return fixed, "policy schedule" if policy.schedule and policy.schedule.cron else \
            f"preset {policy.allocation.preset.value}", None
    if policy.schedule is None or policy.schedule.dynamic is None:
        return None
    dynamic = policy.schedule.dynamic
    vol = portfolio_volatility(targets, closes or {}, dynamic.window.timeframe) if closes is not None else None
    cron, why = regime_cron(dynamic, vol)
    return cron, f"dynamic: {why}", vol


def view(cron: str, why: str, volatility: Decimal | None, memory: ScheduleMemory,
         last_rebalance_at: datetime | None, now: datetime, notice_s: int) -> ScheduleView:
    """The fire due is the cron's latest at or before `now` if it is after every anchor: when the schedule began
    for this book (a new book waits for its first fire), the last fire acted on, and the last rebalance (a
    rebalance since the fire already did its work). The notice is owed once per fire, `notice_s` ahead."""
    last: datetime = croniter(cron, now).get_prev(datetime)
    if croniter.match(cron, now):
        last = now.replace(second=0, microsecond=0)
    anchors = [t for t in (memory.since, memory.last_fired_at, last_rebalance_at) if t is not None]
    due = last if anchors and last > max(anchors) else None
    nxt: datetime = croniter(cron, now).get_next(datetime)
    notice = notice_s > 0 and nxt - now <= timedelta(seconds=notice_s) and memory.noticed_for != nxt
    return ScheduleView(cron, why, volatility, due, nxt, notice)


def schedule_of(policy: RebalancePolicySpec, targets: Mapping[str, Decimal],
                closes: Mapping[str, Sequence[Decimal]] | None, memory: ScheduleMemory,
                last_rebalance_at: datetime | None, now: datetime) -> ScheduleView | None:
    """The book's schedule at `now`, or None without one. A book's first look starts it (`since` = now)."""
    found = cron_in_force(policy, targets, closes)
    if found is None:
        return None
    cron, why, vol = found
    if memory.since is None:
        memory = ScheduleMemory(now, memory.last_fired_at, memory.noticed_for)
    return view(cron, why, vol, memory, last_rebalance_at, now, notice_seconds(policy))

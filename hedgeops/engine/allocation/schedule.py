"""When an Allocation book's schedule fires (seed 002's time-based and dynamic rebalancing) and when it is
announced: the cron in force (fixed, a preset's, or the dynamic table's row for the book's volatility), whether a
fire is due, the next fire, and whether its advance notice is owed. Pure: `now` comes in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from croniter import CroniterBadDateError, croniter

from hedgeops.api.policy import DynamicSchedule, RebalancePolicySpec
from hedgeops.engine.allocation.presets import notice_seconds, static_cron
from hedgeops.engine.common.volatility_estimators import portfolio_volatility


class ScheduleNeverFires(Exception):
    """The cron in force has no date (a policy stored before the API refused "0 0 31 2 *"): a condition naming
    it, never a traceback."""


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
    moved: datetime | None = None  # an announced fire the policy's new cron no longer has


REFERENCE = datetime(2001, 1, 1, tzinfo=UTC)  # a fixed start for comparing how often crons fire (no clock)


def _span_of_fires(cron: str, fires: int = 8) -> timedelta:
    """How long `cron` takes to fire `fires` times from REFERENCE: the shorter, the busier the schedule."""
    it = croniter(cron, REFERENCE)
    last = REFERENCE
    for _ in range(fires):
        last = it.get_next(datetime)
    return last - REFERENCE


def regime_cron(dynamic: DynamicSchedule, volatility: Decimal | None) -> tuple[str, str]:
    """The row of the table for `volatility`: the highest threshold at or below it (the first row starts at 0, so
    there is always one). Unknown volatility (too few candles) takes the busiest row, the one that fires most
    often: not knowing how volatile the book is, it is watched as closely as the table ever watches it."""
    rows = sorted(dynamic.regimes, key=lambda r: r.minVolatilityRatio)
    if volatility is None:
        busiest = min(reversed(rows), key=lambda r: _span_of_fires(r.cron))
        return busiest.cron, "volatility unknown (too few candles): the busiest row"
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
         last_rebalance_at: datetime | None, now: datetime, notice_s: int, *, dynamic: bool = False) -> ScheduleView:
    """The fire due is the cron's latest at or before `now` if it is after every anchor: when the schedule began
    for this book (a new book waits for its first fire), the last fire acted on, and the last rebalance (a
    rebalance since the fire already did its work). The notice is owed once per fire, `notice_s` ahead.

    A fire once announced is kept: until it is due it is the next fire whatever the cron in force says now (a
    dynamic schedule's row follows the daily candle that closes at the very time of a fire, so re-reading it
    could drop an announced fire or bring an unannounced one). A dynamic schedule with a notice runs only fires
    it announced: one due but never announced (the row changed at its time, the notice fell between two looks or
    in downtime) is announced now, late, and runs at the next look. Only a change of a fixed cron (the policy's
    or its preset's, edited) moves an announced fire that the new cron does not have: `moved` names it, and the
    schedule goes on with the new cron."""
    try:
        last: datetime = croniter(cron, now).get_prev(datetime)
        nxt: datetime = croniter(cron, now).get_next(datetime)
    except CroniterBadDateError as exc:
        raise ScheduleNeverFires(f"schedule: cron {cron!r} ({why}) never fires: fix the RebalancePolicy") from exc
    if croniter.match(cron, now):
        last = now.replace(second=0, microsecond=0)
    anchors = [t for t in (memory.since, memory.last_fired_at, last_rebalance_at) if t is not None]
    after = max(anchors) if anchors else None
    kept = memory.noticed_for if memory.noticed_for is not None and (after is None or memory.noticed_for > after) \
        else None
    moved = None
    if kept is not None and not dynamic and not croniter.match(cron, kept):
        kept, moved = None, kept  # the policy's own cron changed: the announced fire is not one of its fires
    if kept is not None and now < kept:
        return ScheduleView(cron, f"{why}; announced fire kept", volatility, None, kept, False)
    if kept is not None:
        due: datetime | None = kept
    else:
        due = last if after is not None and last > after else None
        if dynamic and notice_s > 0 and due is not None:  # never announced: announced now, run at the next look
            return ScheduleView(cron, f"{why}; announced late: it runs at the next look", volatility, None, due,
                                memory.noticed_for != due)
    notice = notice_s > 0 and nxt - now <= timedelta(seconds=notice_s) and memory.noticed_for != nxt
    return ScheduleView(cron, why, volatility, due, nxt, notice, moved)


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
    dynamic = policy.schedule is not None and policy.schedule.dynamic is not None and static_cron(policy) is None
    return view(cron, why, vol, memory, last_rebalance_at, now, notice_seconds(policy), dynamic=dynamic)

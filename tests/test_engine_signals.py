"""Seed 001 signals: validation with field-named errors, de-duplication, priority, expiry, override."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api.hedgebook import Objective
from hedgeops.engine.errors import PositionAdjustmentError, SignalValidationError
from hedgeops.engine.exposure import target_hedge_qty
from hedgeops.engine.signals import Priority, accept_signal, effective_objective, parse_signal

from .engine_fixtures import NOW

D = Decimal


def body(**over: Any) -> dict[str, Any]:
    return {"id": "tv-1", "passphrase": "s3cret", "time": NOW.isoformat(), "targetDelta": {"SOL": "5"}, **over}


def parse(**over: Any):  # type: ignore[no-untyped-def]
    return parse_signal(body(**over), now=NOW + timedelta(seconds=10), passphrase="s3cret", max_age_seconds=300)


@pytest.mark.parametrize("over, field", [
    ({"passphrase": "guess"}, "passphrase"),
    ({"id": ""}, "id"),
    ({"time": "yesterday"}, "time"),
    ({"time": (NOW - timedelta(seconds=400)).isoformat()}, "time"),  # older than maxAgeSeconds
    ({"time": (NOW + timedelta(minutes=5)).isoformat()}, "time"),  # from the future
    ({"time": NOW.replace(tzinfo=None).isoformat()}, "time"),
    ({"priority": "urgent"}, "priority"),
    ({"hedgeRatio": "0.5"}, "targetDelta"),  # both kinds of target
    ({"targetDelta": None}, "targetDelta"),  # neither
    ({"targetDelta": None, "hedgeRatio": "1.5"}, "hedgeRatio"),
    ({"targetDelta": {"SOL": "lots"}}, "targetDelta.SOL"),
    ({"ttlSeconds": 0}, "ttlSeconds"),
])
def test_bad_signals_are_refused_naming_the_field(over: dict[str, Any], field: str) -> None:
    with pytest.raises(SignalValidationError) as err:
        parse(**over)
    assert err.value.field == field
    assert isinstance(err.value, PositionAdjustmentError)  # the seed's hierarchy


def test_duplicates_conflicts_and_expiry() -> None:
    first = parse()
    v = accept_signal(None, frozenset(), first, NOW)
    assert v.accepted and v.active == first
    assert accept_signal(first, frozenset({"tv-1"}), first, NOW).reason == "Duplicate"
    lower = parse(id="tv-2", priority="low")
    assert accept_signal(first, frozenset({"tv-1"}), lower, NOW).reason == "Conflict"
    later_same = parse(id="tv-3", time=(NOW + timedelta(seconds=5)).isoformat())
    assert accept_signal(first, frozenset({"tv-1"}), later_same, NOW + timedelta(seconds=6)).accepted
    urgent = parse(id="tv-4", priority="emergency")
    assert urgent.priority is Priority.EMERGENCY and accept_signal(first, frozenset(), urgent, NOW).accepted
    # Once the active signal expires (ttl defaults to maxAgeSeconds), any fresh signal is taken.
    after = NOW + timedelta(seconds=301)
    late_low = parse_signal(body(id="tv-5", priority="low", time=after.isoformat()), now=after,
                            passphrase="s3cret", max_age_seconds=300)
    assert accept_signal(first, frozenset(), late_low, after).accepted


def test_active_signal_overrides_the_target_until_it_expires() -> None:
    objective = Objective(hedgeRatio=D("1"), hedgeRatioOverrides={"ETH": D("0.5")})
    delta = parse(targetDelta={"SOL": "5"})
    during = effective_objective(objective, delta, NOW)
    assert target_hedge_qty(during, "SOL", D("100")) == D("-95")  # hold 100, want +5 delta → short 95
    assert target_hedge_qty(during, "ETH", D("10")) == D("-5.0")  # untouched assets keep their rule
    ratio = parse(targetDelta=None, hedgeRatio="0.7")
    assert target_hedge_qty(effective_objective(objective, ratio, NOW), "ETH", D("10")) == D("-7.0")
    assert effective_objective(objective, delta, delta.expires_at) == objective

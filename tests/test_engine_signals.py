"""Seed 001 signals: validation with field-named errors, de-duplication, priority, expiry, override."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.api.hedgebook import Objective
from hedgeops.engine.common.errors import PositionAdjustmentError, SignalValidationError
from hedgeops.engine.hedge.exposure import target_hedge_qty
from hedgeops.engine.hedge.signals import (
    MAX_SIGNAL_DELTA_FACTOR,
    Priority,
    Signal,
    accept_signal,
    effective_objective,
    parse_signal,
    signal_from_status,
    signal_to_status,
)

from .engine_fixtures import NOW

D = Decimal


def body(**over: Any) -> dict[str, Any]:
    return {"id": "tv-1", "passphrase": "s3cret", "time": NOW.isoformat(), "targetDelta": {"SOL": "5"}, **over}


ASSETS = frozenset({"SOL", "ETH"})  # the assets the book has legs for


def parse(**over: Any):  # type: ignore[no-untyped-def]
    return parse_signal(body(**over), now=NOW + timedelta(seconds=10), passphrase="s3cret", max_age_seconds=300,
                        assets=ASSETS)


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
    # Numbers no book holds or no arithmetic survives: refused here, before any cycle can trip over them.
    ({"targetDelta": {"SOL": "NaN"}}, "targetDelta.SOL"),
    ({"targetDelta": {"SOL": float("inf")}}, "targetDelta.SOL"),
    ({"targetDelta": {"SOL": "-Infinity"}}, "targetDelta.SOL"),
    ({"targetDelta": {"SOL": 1e30}}, "targetDelta.SOL"),
    ({"targetDelta": {"SOL": "1e30"}}, "targetDelta.SOL"),
    ({"targetDelta": {"SOL": "1000000000000000"}}, "targetDelta.SOL"),  # 1e15: no book holds that much
    ({"targetDelta": {"SOL": "1.2345678901234567891"}}, "targetDelta.SOL"),  # 20 significant digits
    ({"targetDelta": {"SOL": "1e-30"}}, "targetDelta.SOL"),
    ({"targetDelta": {"SOL": True}}, "targetDelta.SOL"),
    ({"targetDelta": None, "hedgeRatio": "NaN"}, "hedgeRatio"),
    ({"targetDelta": None, "hedgeRatio": "-0.1"}, "hedgeRatio"),
    ({"ttlSeconds": "1e999999999"}, "ttlSeconds"),  # int() of it would build a billion-digit number
    ({"ttlSeconds": "Infinity"}, "ttlSeconds"),
    # Only assets the book has legs for: a signal cannot open a position the book never declared.
    ({"targetDelta": {"BTC": "1"}}, "targetDelta.BTC"),
    ({"targetDelta": {"SOL": "1", "DOGE": "5"}}, "targetDelta.DOGE"),
])
def test_bad_signals_are_refused_naming_the_field(over: dict[str, Any], field: str) -> None:
    with pytest.raises(SignalValidationError) as err:
        parse(**over)
    assert err.value.field == field
    assert isinstance(err.value, PositionAdjustmentError)  # the seed's hierarchy


def test_large_but_sane_numbers_and_exact_decimals_are_kept() -> None:
    s = parse(targetDelta={"SOL": "-123456789012.345678", "ETH": 0.1})
    assert s.target_delta == {"SOL": D("-123456789012.345678"), "ETH": D("0.1")}
    assert parse(targetDelta={"SOL": "5.000000000000000000000"}).target_delta["SOL"] == 5  # trailing zeros


@pytest.mark.parametrize("given", ["pässwörd-✓", "s3cret\ud800", "", "s3cre", 12345])
def test_non_ascii_passphrases_are_compared_not_crashed_on(given: Any) -> None:
    """hmac.compare_digest raises TypeError on non-ASCII str: compared as UTF-8 bytes they just do not match."""
    with pytest.raises(SignalValidationError) as err:
        parse(passphrase=given)
    assert err.value.field == "passphrase"
    unicode_secret = "pässwörd-✓"
    ok = parse_signal(body(passphrase=unicode_secret), now=NOW, passphrase=unicode_secret, max_age_seconds=300,
                      assets=ASSETS)
    assert ok.id == "tv-1"


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
                            passphrase="s3cret", max_age_seconds=300, assets=ASSETS)
    assert accept_signal(first, frozenset(), late_low, after).accepted


def test_active_signal_overrides_the_target_until_it_expires() -> None:
    objective = Objective(hedgeRatio=D("1"), hedgeRatioOverrides={"ETH": D("0.5")})
    held = {"SOL": D("100"), "ETH": D("10")}
    delta = parse(targetDelta={"SOL": "5"})
    during = effective_objective(objective, delta, NOW, held)
    assert target_hedge_qty(during, "SOL", D("100")) == D("-95")  # hold 100, want +5 delta → short 95
    assert target_hedge_qty(during, "ETH", D("10")) == D("-5.0")  # untouched assets keep their rule
    ratio = parse(targetDelta=None, hedgeRatio="0.7")
    assert target_hedge_qty(effective_objective(objective, ratio, NOW, held), "ETH", D("10")) == D("-7.0")
    assert effective_objective(objective, delta, delta.expires_at, held) == objective


def test_a_signal_never_targets_more_than_the_book_holds_times_the_factor() -> None:
    """Accepted when the book held more (or sent huge): at cycle time the target is clamped to ±factor × held,
    so the hedge never exceeds what the book holds; an asset the book no longer holds is targeted flat."""
    objective = Objective(hedgeRatio=D("1"), targetDelta={"ETH": D("-1")})
    s = parse(targetDelta={"SOL": "-900000", "ETH": "40"})
    clamped = effective_objective(objective, s, NOW, {"SOL": D("25"), "ETH": D("-3")})
    assert MAX_SIGNAL_DELTA_FACTOR == 2
    assert clamped.targetDelta == {"SOL": D("-50"), "ETH": D("6")}
    assert target_hedge_qty(clamped, "SOL", D("25")) == D("-75")
    gone = effective_objective(objective, s, NOW, {"ETH": D("3")})  # SOL sold since the signal was taken
    assert gone.targetDelta is not None and gone.targetDelta["SOL"] == 0
    within = parse(targetDelta={"SOL": "-30.5"})
    assert effective_objective(objective, within, NOW, {"SOL": D("25")}).targetDelta == {"ETH": D("-1"),
                                                                                          "SOL": D("-30.5")}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["SOL", "ETH"]),
                       st.decimals(min_value=-10**14, max_value=10**14, allow_nan=False, places=6), min_size=1),
       st.dictionaries(st.sampled_from(["SOL", "ETH", "BTC"]),
                       st.decimals(min_value=-10**6, max_value=10**6, allow_nan=False, places=4)))
def test_a_signalled_target_stays_within_the_cap_whatever_was_sent(
        wanted: dict[str, Decimal], held: dict[str, Decimal]) -> None:
    s = Signal("p", NOW, NOW + timedelta(hours=1), Priority.NORMAL, wanted, None)
    out = effective_objective(Objective(), s, NOW, held).targetDelta or {}
    for asset, value in wanted.items():
        cap = MAX_SIGNAL_DELTA_FACTOR * abs(held.get(asset, D(0)))
        assert abs(out[asset]) <= cap
        assert out[asset] == value or abs(out[asset]) == cap  # untouched unless it was over the cap


# ---- properties ---------------------------------------------------------------------------------------------

_signals = st.builds(
    lambda i, offset, ttl, prio: Signal(f"s{i}", NOW + timedelta(seconds=offset),
                                        NOW + timedelta(seconds=offset + ttl), Priority(prio), {"SOL": D(i)}, None),
    st.integers(0, 8), st.integers(0, 600), st.integers(1, 900), st.integers(0, 3))


@settings(max_examples=300, deadline=None)
@given(st.lists(_signals, max_size=12))
def test_a_stream_of_signals_never_accepts_a_duplicate_nor_loses_to_a_weaker_one(stream: list[Signal]) -> None:
    active: Signal | None = None
    seen: frozenset[str] = frozenset()
    for s in sorted(stream, key=lambda x: x.issued_at):
        now = s.issued_at
        verdict = accept_signal(active, seen, s, now)
        if s.id in seen:
            assert not verdict.accepted and verdict.reason == "Duplicate"
        live = active if active is not None and active.active(now) else None
        if verdict.accepted:
            assert live is None or (s.priority, s.issued_at) > (live.priority, live.issued_at)
            seen = seen | {s.id}
        else:
            assert verdict.active == live  # a refused signal never disturbs the one in force
        active = verdict.active


@settings(max_examples=200, deadline=None)
@given(_signals, st.one_of(st.none(), st.decimals("0", "1", places=3)))
def test_status_round_trip_keeps_the_signal(s: Signal, ratio: Decimal | None) -> None:
    if ratio is not None:
        s = Signal(s.id, s.issued_at, s.expires_at, s.priority, {}, ratio)
    assert signal_from_status(signal_to_status(s)) == s
    assert signal_from_status({"id": "x", "issuedAt": "not a time"}) is None

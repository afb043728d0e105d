"""TradingView-style signals (seed 001): validate, de-duplicate, resolve conflicts by priority, expire.

An accepted signal overrides the book's objective (a target delta per asset, or a hedge ratio) until it
expires. The webhook handler only parses HTTP; everything that decides lives here."""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any

from pydantic import ValidationError

from hedgeops.api.hedgebook import Objective
from hedgeops.engine.common.errors import SignalValidationError

# A signal steers the hedge of what the book holds; it must not open a position of its own. Its target delta
# for an asset is clamped to ±2 × the units held: room to flip the book from fully long to as short as it is
# long again (a signal saying "be net short"), never a position out of proportion to the book. Applied at
# cycle time, against the holdings then, because holdings are not known when the webhook accepts a signal.
MAX_SIGNAL_DELTA_FACTOR = Decimal(2)
# Parse-time bounds on any number in a signal, before holdings are known: wide enough for any real holding
# (1e15 units, 18 decimal places, 18 significant digits), narrow enough that quantising to a market's step
# stays within Decimal's default 28-digit precision and int() of a ttl cannot build a huge integer.
MAX_SIGNIFICANT_DIGITS = 18
MAX_DECIMAL_PLACES = 18
MAX_MAGNITUDE_EXPONENT = 15  # |value| < 10 ** 15


class Priority(IntEnum):
    """Higher wins a conflict."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    EMERGENCY = 3


@dataclass(frozen=True)
class Signal:
    """A validated signal."""

    id: str
    issued_at: datetime
    expires_at: datetime
    priority: Priority
    target_delta: Mapping[str, Decimal]
    hedge_ratio: Decimal | None

    def active(self, now: datetime) -> bool:
        return now < self.expires_at


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):  # True is an int to Python
        raise SignalValidationError(field, f"{str(value)[:32]!r} is not a number")
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise SignalValidationError(field, f"{str(value)[:32]!r} is not a number") from None
    if not d.is_finite():
        raise SignalValidationError(field, "must be finite")
    digits, exponent = list(d.as_tuple().digits), int(d.as_tuple().exponent)
    while len(digits) > 1 and digits[-1] == 0:  # trailing zeros are not significant
        digits.pop()
        exponent += 1
    if d and d.adjusted() >= MAX_MAGNITUDE_EXPONENT:
        raise SignalValidationError(field, f"must be below 1e{MAX_MAGNITUDE_EXPONENT} in magnitude")
    if len(digits) > MAX_SIGNIFICANT_DIGITS or -exponent > MAX_DECIMAL_PLACES:
        raise SignalValidationError(field, f"at most {MAX_SIGNIFICANT_DIGITS} significant digits and "
                                           f"{MAX_DECIMAL_PLACES} decimal places")
    return d


def _passphrase_matches(given: Any, passphrase: str) -> bool:
    """Constant-time comparison of UTF-8 bytes (compare_digest refuses non-ASCII str with a TypeError);
    surrogatepass keeps a lone surrogate from JSON comparable instead of raising."""
    return hmac.compare_digest(str(given).encode("utf-8", "surrogatepass"),
                               passphrase.encode("utf-8", "surrogatepass"))


def parse_signal(payload: Mapping[str, Any], *, now: datetime, passphrase: str, max_age_seconds: int,
                 assets: Collection[str]) -> Signal:
    """A signal from a webhook body: {id, passphrase, time (ISO), priority?, ttlSeconds?, targetDelta? {asset:
    units} | hedgeRatio?}. Refused unless authentic, fresh (not older than max_age_seconds, not from the
    future), asking for exactly one kind of target, and targeting only `assets` (those the book has legs for)."""
    if not passphrase or not _passphrase_matches(payload.get("passphrase", ""), passphrase):
        raise SignalValidationError("passphrase", "does not match the book's secret")
    sid = payload.get("id")
    if not isinstance(sid, str) or not sid.strip() or len(sid) > 128:
        raise SignalValidationError("id", "must be a non-empty string of at most 128 characters")
    try:
        issued = datetime.fromisoformat(str(payload.get("time")))
    except ValueError:
        raise SignalValidationError("time", "must be an ISO 8601 time with a zone") from None
    if issued.tzinfo is None:
        raise SignalValidationError("time", "must carry a time zone")
    age = (now - issued).total_seconds()
    if age > max_age_seconds:
        raise SignalValidationError("time", f"signal is {age:.0f}s old (max {max_age_seconds}s)")
    if age < -30:
        raise SignalValidationError("time", "signal is from the future")
    try:
        priority = Priority[str(payload.get("priority", "normal")).upper()]
    except KeyError:
        raise SignalValidationError("priority", "must be low, normal, high or emergency") from None
    ttl = int(_decimal(payload.get("ttlSeconds", max_age_seconds), "ttlSeconds"))
    if not 1 <= ttl <= 86400:
        raise SignalValidationError("ttlSeconds", "must be within 1..86400")
    deltas_raw, ratio_raw = payload.get("targetDelta"), payload.get("hedgeRatio")
    if (deltas_raw is None) == (ratio_raw is None):
        raise SignalValidationError("targetDelta", "give exactly one of targetDelta and hedgeRatio")
    deltas: dict[str, Decimal] = {}
    if deltas_raw is not None:
        if not isinstance(deltas_raw, Mapping) or not deltas_raw:
            raise SignalValidationError("targetDelta", "must map assets to units")
        for k in deltas_raw:
            if str(k) not in assets:
                raise SignalValidationError(f"targetDelta.{str(k)[:16]}", "the book has no leg for this asset "
                                            f"(legs: {', '.join(sorted(assets)) or 'none'})")
        deltas = {str(k): _decimal(v, f"targetDelta.{k}") for k, v in deltas_raw.items()}
    ratio = None
    if ratio_raw is not None:
        ratio = _decimal(ratio_raw, "hedgeRatio")
        try:  # the range the book's own spec.objective.hedgeRatio allows, by construction
            Objective.model_validate({"hedgeRatio": ratio})
        except ValidationError:
            raise SignalValidationError("hedgeRatio", "must be within 0..1") from None
    return Signal(sid, issued, issued + timedelta(seconds=ttl), priority, deltas, ratio)


@dataclass(frozen=True)
class SignalVerdict:
    """The active signal after a new one arrived, and whether the new one was taken."""

    accepted: bool
    active: Signal | None
    reason: str


def accept_signal(active: Signal | None, seen_ids: frozenset[str], new: Signal, now: datetime) -> SignalVerdict:
    """De-duplicate by id; an expired active signal no longer counts; a live one yields only to a signal of
    higher priority, or of equal priority issued later."""
    current = active if active is not None and active.active(now) else None
    if new.id in seen_ids:
        return SignalVerdict(False, current, "Duplicate")
    if not new.active(now):
        return SignalVerdict(False, current, "Expired")
    if current is not None and (new.priority, new.issued_at) <= (current.priority, current.issued_at):
        return SignalVerdict(False, current, "Conflict")
    return SignalVerdict(True, new, "Accepted")


def effective_objective(objective: Objective, active: Signal | None, now: datetime,
                        held: Mapping[str, Decimal]) -> Objective:
    """The book's objective with a live signal's target in force (a signalled hedge ratio applies to every
    asset, replacing per-asset ratios and target deltas). A signalled target delta is clamped to
    ±MAX_SIGNAL_DELTA_FACTOR × the units `held` now: clamped rather than refused, because the signal's
    direction is still wanted and the cap keeps the hedge within the book, whatever was held when it came."""
    if active is None or not active.active(now):
        return objective
    if active.hedge_ratio is not None:
        return objective.model_copy(update={"hedgeRatio": active.hedge_ratio, "hedgeRatioOverrides": {},
                                            "targetDelta": None})
    capped = {asset: _clamp(value, MAX_SIGNAL_DELTA_FACTOR * abs(held.get(asset, Decimal(0))))
              for asset, value in active.target_delta.items()}
    return objective.model_copy(update={"targetDelta": {**(objective.targetDelta or {}), **capped}})


def _clamp(value: Decimal, cap: Decimal) -> Decimal:
    return max(-cap, min(cap, value))


def signal_to_status(signal: Signal) -> dict[str, Any]:
    """The signal as kept in a book's status.activeSignal (no secret: the passphrase is never stored)."""
    return {"id": signal.id, "issuedAt": signal.issued_at.isoformat(), "expiresAt": signal.expires_at.isoformat(),
            "priority": signal.priority.name.lower(),
            "targetDelta": {a: str(v) for a, v in sorted(signal.target_delta.items())},
            "hedgeRatio": None if signal.hedge_ratio is None else str(signal.hedge_ratio)}


def signal_from_status(raw: Mapping[str, Any] | None) -> Signal | None:
    """Read status.activeSignal back. Anything unreadable counts as no signal: status is ours, but a person
    may have edited it, and a broken override must fall back to the book's own target, never guess one."""
    if not raw:
        return None
    try:
        ratio = raw.get("hedgeRatio")
        return Signal(str(raw["id"]), datetime.fromisoformat(raw["issuedAt"]),
                      datetime.fromisoformat(raw["expiresAt"]), Priority[str(raw.get("priority", "normal")).upper()],
                      {str(a): Decimal(str(v)) for a, v in (raw.get("targetDelta") or {}).items()},
                      None if ratio is None else Decimal(str(ratio)))
    except (KeyError, ValueError, TypeError, InvalidOperation):
        return None

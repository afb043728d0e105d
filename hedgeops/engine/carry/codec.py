"""The carry machine's memory as plain JSON (Decimals as strings) for the object's status and the intent, and
the runtime's funding marks kept beside it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.funding import Phase
from hedgeops.engine.carry.ledger import Breaker, CarryLedger
from hedgeops.engine.carry.machine import CarryState
from hedgeops.engine.common.pnl import LegBook


def _leg(b: LegBook) -> dict[str, str]:
    return {"qty": str(b.qty), "entry": str(b.entry), "realized": str(b.realized)}


def _leg_from(d: dict[str, Any] | None) -> LegBook:
    d = d or {}
    return LegBook(Decimal(d.get("qty", "0")), Decimal(d.get("entry", "0")), Decimal(d.get("realized", "0")))


def encode(state: CarryState) -> dict[str, Any]:
    led, br = state.ledger, state.breaker
    return {
        "phase": state.phase.value, "targetQty": str(state.target_qty), "seq": state.seq,
        "completeAttempts": state.complete_attempts, "negativeFundingStreak": state.negative_funding_streak,
        "ledger": {"spot": _leg(led.spot), "perp": _leg(led.perp), "fundingQuote": str(led.funding_quote),
                   "feesQuote": str(led.fees_quote), "capitalQuote": str(led.capital_quote)},
        "breaker": breaker_doc(br),
    }


def breaker_doc(br: Breaker) -> dict[str, Any]:
    return {"tripped": br.tripped, "reason": br.reason, "consecutiveLosses": br.consecutive_losses,
            "day": br.day, "dailyLossQuote": str(br.daily_loss_quote),
            # the object's breaker, the same on every pair: statuses without it kept one per pair
            "shared": True}


def decode_breaker(doc: dict[str, Any] | None) -> Breaker:
    """Just the breaker of a machine document (what the object's breaker is read from, every tick)."""
    br = (doc or {}).get("breaker") or {}
    return Breaker(bool(br.get("tripped", False)), br.get("reason"), int(br.get("consecutiveLosses", 0)),
                   str(br.get("day", "")), Decimal(br.get("dailyLossQuote", "0")))


def shared_breaker(doc: dict[str, Any] | None) -> bool:
    """Whether this machine's breaker is the object's (written since the breaker counts all pairs)."""
    return bool(((doc or {}).get("breaker") or {}).get("shared"))


def funding_marks(doc: dict[str, Any] | None) -> tuple[datetime | None, datetime | None]:
    """The venue's next settlement time and the last settlement booked, both on the venue's clock."""
    marks = (doc or {}).get("funding") or {}
    nxt, booked = marks.get("next"), marks.get("bookedUntil")
    return (datetime.fromisoformat(nxt) if nxt else None, datetime.fromisoformat(booked) if booked else None)


def with_funding(doc: dict[str, Any], nxt: datetime | None, booked: datetime | None) -> dict[str, Any]:
    return {**doc, "funding": {"next": nxt.isoformat() if nxt else None,
                               "bookedUntil": booked.isoformat() if booked else None}}


def decode(doc: dict[str, Any] | None) -> CarryState:
    """The state a document describes; an empty document is a fresh machine."""
    if not doc:
        return CarryState()
    led = doc.get("ledger") or {}
    return CarryState(
        phase=Phase(doc.get("phase", Phase.IDLE.value)), target_qty=Decimal(doc.get("targetQty", "0")),
        seq=int(doc.get("seq", 0)), complete_attempts=int(doc.get("completeAttempts", 0)),
        negative_funding_streak=int(doc.get("negativeFundingStreak", 0)),
        ledger=CarryLedger(_leg_from(led.get("spot")), _leg_from(led.get("perp")),
                           Decimal(led.get("fundingQuote", "0")), Decimal(led.get("feesQuote", "0")),
                           Decimal(led.get("capitalQuote", "0"))),
        breaker=decode_breaker(doc),
    )

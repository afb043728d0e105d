"""Standard conditions: set one, keeping lastTransitionTime when the status does not change."""

from __future__ import annotations

from datetime import datetime

from hedgeops.api.common import Condition, ConditionStatus


def set_condition(
    conditions: list[Condition], type_: str, ok: bool, reason: str, message: str, now: datetime,
    generation: int | None,
) -> list[Condition]:
    """A new list with condition `type_` set."""
    status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    old = next((c for c in conditions if c.type == type_), None)
    if (old is not None and old.status == status and old.reason == reason and old.message == message
            and old.observedGeneration == generation):
        return list(conditions)  # nothing to say that is not said (a backtest asks this every few ms)
    since = old.lastTransitionTime if old is not None and old.status == status else now
    new = Condition(type=type_, status=status, reason=reason, message=message, lastTransitionTime=since,
                    observedGeneration=generation)
    return [c for c in conditions if c.type != type_] + [new]


def condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)

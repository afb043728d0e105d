"""What people ask of an object, as one value: the annotations a person sets (approve, close-all, reset-breaker)
and the halt in force (annotation or ConfigMap), parsed in one place for every kind."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Controls:
    """What people ask of an object for one cycle, from its annotations and the halt ConfigMaps: a halt (with
    its reason), an approval of a pending plan, close-all, a breaker reset. One value for every kind, so a
    control means the same thing everywhere and is parsed in one place (`controls_from`)."""

    halt: str | None = None  # why it is halted; None: running
    approval: str | None = None  # the plan id approved (one-shot)
    close_all: bool = False
    reset_breaker: bool = False  # one-shot
    rebalance_now: str | None = None  # a request's value: acted on once per value (the book records it in status)

    @property
    def halted(self) -> bool:
        return self.halt is not None

    def fingerprint(self) -> Hashable:
        return (self.halt, self.approval, self.close_all, self.reset_breaker, self.rebalance_now)


APPROVE = "hedgeops.io/approve"
CLOSE_ALL = "hedgeops.io/close-all"
RESET_BREAKER = "hedgeops.io/reset-breaker"
REBALANCE_NOW = "hedgeops.io/rebalance-now"
HALT = "hedgeops.io/halt"


def halt_annotation(annotations: Mapping[str, str] | None) -> str | None:
    """Why the object's own annotation stops it (None: it does not). The operator adds the halt ConfigMaps."""
    # Fail safe: the annotation halts whatever its value ("yes", "1", "", a typo), except an explicit "false". A
    # halt written as `halt=yes` used to be read as no halt at all, and the book kept trading.
    value = (annotations or {}).get(HALT)
    if value is None or value.strip().lower() == "false":
        return None
    return f"{HALT}={value[:64]} is set on the object"


def controls_from(annotations: Mapping[str, str] | None, halt: str | None) -> Controls:
    """The controls an object's annotations ask for, with the halt in force (annotation or ConfigMap)."""
    a = annotations or {}
    return Controls(halt=halt, approval=a.get(APPROVE) or None,
                    close_all=a.get(CLOSE_ALL, "").lower() == "true",
                    reset_breaker=a.get(RESET_BREAKER, "").lower() == "true",
                    rebalance_now=a.get(REBALANCE_NOW, "").strip()[:256] or None)

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


CONTROLS = (HALT, APPROVE, CLOSE_ALL, RESET_BREAKER, REBALANCE_NOW)


def _near(a: str, b: str) -> bool:
    """Within two edits (insert, delete, substitute, swap), ignoring case and '-', '_', '.' between words."""
    a, b = (x.lower().replace("_", "").replace("-", "").replace(".", "") for x in (a, b))
    if abs(len(a) - len(b)) > 2:
        return False
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        prev2, prev = prev, row
    return prev[-1] <= 2


def mistyped_controls(annotations: Mapping[str, str] | None) -> dict[str, str]:
    """Annotations that look like a control but are not one (`hedgeops.io/hallt`, `hedgeops.io/close_all`,
    `hedgeop.io/halt`): key → the control meant. They do nothing, and a person who set one believes otherwise.
    kopf's own bookkeeping under hedgeops.io/ (handler progress, last-handled-configuration) is not near any."""
    out: dict[str, str] = {}
    for key in annotations or {}:
        if key in CONTROLS or "/" not in key:
            continue
        prefix, _, name = key.partition("/")
        for control in CONTROLS:
            group, _, meant = control.partition("/")
            if (prefix == group or _near(prefix, group)) and _near(name, meant):
                out[key] = control
                break
    return out

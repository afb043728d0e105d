"""The README's alert table held to the shipped rules: every alert is a row with the rule's severity, the wait a row
states is the rule's `for:`, and every number a row states (a percentage, "more than N", "above N s", a window such as
"in 15 min") is the number the rule's expression compares or selects. Both sides are read from their files, so
editing the README alone or the chart (and its rendered rule file) alone fails here."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from .conftest import ROOT
from .test_alert_rules import _alerts

README = ROOT / "README.md"

# What each row states besides its wait (every row states that), in the order the row says it. The numbers are not
# here: they are read from the README and from the rule. A row that drops one of these, or states a number that none
# of the phrases below reads, fails.
#   threshold  "more than N", "more than N%", "above N s", "below N%"  ->  `> N`, `> N/100`, `> N`, `< N/100`
#   range      "in N min", "in the last N min", "in an hour"            ->  a range selector `[Nm]`, `[1h]`
#   age        "in the last N min", of an event's last time             ->  `time() - … < N*60`
#   quantile   "pN"                                                     ->  `histogram_quantile(N/100, …)`
STATES: dict[str, tuple[str, ...]] = {
    "HedgeOpsOperatorDown": (),
    "HedgeOpsNoLeader": (),
    "HedgeOpsLockStoreDown": (),
    "HedgeOpsObjectDegraded": (),
    "HedgeOpsSharedPositions": (),
    "FundingArbitrageBreakerTripped": (),
    "FundingArbitrageMarginLow": ("threshold",),
    "HedgeBookEmergencyRebalance": (),
    "HedgeBookDeviationPersists": ("threshold",),
    "HedgeBookRebalanceFailed": ("age",),
    "HedgeBookOutOfBand": (),
    "HedgeBookPlansRefused": ("threshold", "range"),
    "HedgeOpsObjectNotReady": (),
    "HedgeOpsOperatorReplicaDown": (),
    "HedgeOpsCycleLagging": ("quantile", "threshold"),
    "HedgeOpsReconcileErrors": ("threshold", "range"),
    "HedgeOpsExchangeErrors": ("threshold",),
    "HedgeOpsOrdersRejected": ("threshold", "range"),
}

# Numbers a rule compares against that its row leaves unsaid, and why. Any other comparison must be in the README.
UNSTATED: dict[str, set[tuple[str, float]]] = {
    "HedgeOpsSharedPositions": {(">", 0.0)},  # "two objects own one position": any shared position at all
    "HedgeBookEmergencyRebalance": {("<", 900.0)},  # how long after the emergency it keeps firing
}

SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "w": 604800}
PHRASES = {  # the README's phrases for a number, by what they state
    "wait": r"\b(?:for|held) (?P<n>\d+) (?P<unit>s|min|h)\b",
    "window": r"\bin (?:the last )?(?P<n>\d+|an) (?P<unit>s|min|h|hour)\b",
    "threshold": r"\b(?P<op>more than|above|below) (?P<n>\d+(?:\.\d+)?)(?: ?(?P<unit>%|s\b|min\b))?",
    "quantile": r"\bp(?P<n>\d+)\b",
}
NOT_THRESHOLDS = r"`[^`]*`|\bseed \d+\b"  # value names in code, and "seed 000" (the book's name, not a number)


@dataclass(frozen=True)
class Stated:
    kind: str  # a key of PHRASES
    text: str  # as the README says it
    value: float  # seconds for a wait, window or "above N s"; a ratio for N%; else N
    op: str = ""  # a threshold's comparison


def _table() -> dict[str, tuple[str, str]]:
    """alert -> (fires when, severity), from the table under **Alerts** in the README."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("**Alerts**"))
    header = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    assert [c.strip() for c in lines[header].strip("|").split("|")] == ["alert", "fires when", "severity"]
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        name, fires_when, severity = (c.strip() for c in line.strip().strip("|").split("|"))
        assert name not in rows, f"{name} has two rows"
        rows[name] = (fires_when, severity)
    return rows


def _stated(fires_when: str) -> list[Stated]:
    """Every number a row states, in order; a number that no phrase reads fails, so none goes unchecked."""
    text = re.sub(NOT_THRESHOLDS, " ", fires_when)
    found: list[tuple[int, int, Stated]] = []
    for kind, pattern in PHRASES.items():
        for m in re.finditer(pattern, text):
            n = 1.0 if m["n"] == "an" else float(m["n"])
            unit = m.groupdict().get("unit")
            value = n / 100 if unit == "%" or kind == "quantile" else n * SECONDS.get(unit or "", 1)
            op = {"more than": ">", "above": ">", "below": "<"}.get(m.groupdict().get("op") or "", "")
            found.append((m.start(), m.end(), Stated(kind, m[0], value, op)))
    found.sort(key=lambda f: f[0])
    for (_, end, a), (start, _, b) in pairwise(found):
        assert end <= start, f"{a.text!r} and {b.text!r} overlap in {fires_when!r}"
    rest = text
    for start, end, _ in reversed(found):
        rest = rest[:start] + " " + rest[end:]
    assert not re.search(r"\d", rest), f"a number no phrase reads in {fires_when!r}: {rest!r}"
    return [s for _, _, s in found]


def _seconds(duration: str) -> float:
    parts = re.findall(r"(\d+)(ms|[smhdw])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * (0.001 if u == "ms" else SECONDS[u]) for n, u in parts)


def _comparisons(expr: str) -> set[tuple[str, float]]:
    """`> 0.02`, `< 1800`: every comparison of the expression with a number."""
    return {(op, float(n)) for op, n in re.findall(r"(?<![=!<>])([<>]=?)\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\b", expr)}


def _ranges(expr: str) -> set[float]:
    return {_seconds(d) for d in re.findall(r"\[(\w+)(?::\w*)?\]", expr)}


def _has(found: set[tuple[str, float]], op: str, value: float) -> bool:
    return any(o == op and math.isclose(v, value, rel_tol=1e-9, abs_tol=1e-12) for o, v in found)


def _rules() -> dict[str, dict[str, Any]]:
    return {a["alert"]: a for a in _alerts()}


def test_readme_alert_table_is_the_rules_and_their_severities() -> None:
    table, rules = _table(), _rules()
    assert sorted(table) == sorted(rules), "the README's alert table and the rules name different alerts"
    assert sorted(STATES) == sorted(rules), "STATES names every alert"
    for name, (_, severity) in table.items():
        assert severity == rules[name]["labels"]["severity"], f"{name}: the README says {severity}"


def test_readme_states_each_alerts_wait_and_it_is_the_rules_for() -> None:
    rules, wrong = _rules(), []
    for name, (fires_when, _) in _table().items():
        waits = [s for s in _stated(fires_when) if s.kind == "wait"]
        if len(waits) != 1:
            wrong.append(f"{name}: the README states {len(waits)} waits ({fires_when!r}), the rule has for: "
                         f"{rules[name]['for']}")
        elif not math.isclose(waits[0].value, _seconds(rules[name]["for"])):
            wrong.append(f"{name}: the README says {waits[0].text!r}, the rule has for: {rules[name]['for']}")
    assert wrong == []


def test_readme_alert_thresholds_are_the_rules() -> None:
    rules, wrong = _rules(), []
    for name, (fires_when, _) in _table().items():
        expr = rules[name]["expr"]
        stated = [s for s in _stated(fires_when) if s.kind != "wait"]
        kinds = tuple("window" if k in ("range", "age") else k for k in STATES[name])
        if tuple(s.kind for s in stated) != kinds:
            wrong.append(f"{name}: the README states {[s.text for s in stated]}, expected {STATES[name]}")
            continue
        comparisons, said = _comparisons(expr), set(UNSTATED.get(name, set()))
        for s, kind in zip(stated, STATES[name], strict=True):
            if kind == "threshold":
                ok = _has(comparisons, s.op, s.value)
                said.add((s.op, s.value))
            elif kind == "age":  # time() - <the event's last time> < N
                ok = "time() -" in expr and _has(comparisons, "<", s.value)
                said.add(("<", s.value))
            elif kind == "range":
                ok = any(math.isclose(r, s.value) for r in _ranges(expr))
            else:
                quantiles = re.findall(r"histogram_quantile\(\s*([0-9.]+)", expr)
                ok = any(math.isclose(float(q), s.value) for q in quantiles)
            if not ok:
                wrong.append(f"{name}: the README says {s.text!r} ({kind} {s.op}{s.value:g}), the rule reads {expr!r}")
        for op, value in comparisons:
            if not _has(said, op, value):
                wrong.append(f"{name}: the rule compares {op} {value:g}, which its README row does not say")
    assert wrong == []

"""The import direction is a rule, not a hope: operator → runtime → engine/exchange; engine imports no I/O."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "hedgeops"

# The engine is pure: no frameworks, no network, no files, no clock, no randomness.
ENGINE_FORBIDDEN = {
    "kopf", "ccxt", "redis", "aiohttp", "requests", "httpx", "prometheus_client", "socket", "asyncio", "os",
    "pathlib", "io", "time", "random", "subprocess", "urllib", "http", "sqlite3", "threading", "logging",
}
# Which of our rooms each room may import. `model` is the bottom: the domain values every room speaks.
ALLOWED = {
    "model": {"model"},
    "api": {"api"},
    "engine": {"api", "engine", "model"},
    "exchange": {"api", "exchange", "model"},
    "runtime": {"api", "engine", "exchange", "runtime", "model"},
    "local": {"api", "engine", "exchange", "runtime", "local", "manifests", "model"},
    "operator": {"api", "engine", "exchange", "runtime", "operator", "manifests", "model"},
    "backtest": {"api", "engine", "exchange", "backtest", "model", "runtime", "local", "manifests"},
}
# One level down: which subpackage of a room may import which of its siblings. A kind never imports another
# kind (allocation is a HedgeBook objective built on the hedge kind's plans, gates and triggers: the one edge).
SUBPACKAGES = {
    "engine": {"common": {"common"}, "hedge": {"common", "hedge"}, "allocation": {"common", "hedge", "allocation"},
               "carry": {"common", "carry"}, "maker": {"common", "maker"}, "grid": {"common", "grid"},
               "contrarian": {"common", "contrarian"}},
    "exchange": {"venue": {"venue"}, "marketdata": {"venue", "marketdata"},
                 "ccxt": {"venue", "ccxt"}, "paper": {"venue", "marketdata", "ccxt", "paper"},
                 "stream": {"venue", "ccxt", "stream"},
                 "emulator": {"venue", "marketdata", "paper", "emulator"}},
}
# The runtime's per-kind cycles: each imports the runtime's services, never another kind's cycle.
# A module belongs to the kind whose prefix it carries (carry_select.py is the carry's).
RUNTIME_KINDS = {"hedgebook": ("hedgebook", "allocation", "book_result"), "carry": ("carry",),
                 "marketmaker": ("marketmaker", "maker")}


def _kind_of(stem: str) -> str:
    kinds = [g for g, prefixes in RUNTIME_KINDS.items() if stem.startswith(prefixes)]
    assert kinds, f"runtime/kinds/{stem}.py belongs to no kind {sorted(RUNTIME_KINDS)}: name it after one"
    return kinds[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
    return out


def _files(room: str) -> list[Path]:
    return sorted((PKG / room).rglob("*.py"))


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_rooms_import_only_downwards(room: str) -> None:
    bad = []
    for path in _files(room):
        for name, line in _imports(path):
            parts = name.split(".")
            if parts[0] == "hedgeops" and len(parts) > 1 and parts[1] not in ALLOWED[room] | {"__init__"}:
                if parts[1] in ("GROUP", "VERSION", "API_VERSION"):
                    continue
                bad.append(f"{path.relative_to(PKG)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_engine_is_pure() -> None:
    bad = []
    for path in _files("engine") + _files("model"):
        for name, line in _imports(path):
            if name.split(".")[0] in ENGINE_FORBIDDEN:
                bad.append(f"{path.relative_to(PKG)}:{line} imports {name}")
        text = path.read_text()
        for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time(", "open("):
            # A whole name only: `_open(` or `.reopen(` are not the builtin.
            if re.search(r"(?<![\w.])" + re.escape(call), text):
                bad.append(f"{path.relative_to(PKG)} calls {call}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("room", sorted(SUBPACKAGES))
def test_subpackages_import_only_what_they_may(room: str) -> None:
    rules, bad = SUBPACKAGES[room], []
    for path in _files(room):
        rel = path.relative_to(PKG / room)
        sub = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if sub == "__init__":
            continue
        assert sub in rules, f"{room}/{rel}: a module outside the known subpackages {sorted(rules)}"
        for name, line in _imports(path):
            parts = name.split(".")
            if parts[:2] == ["hedgeops", room] and len(parts) > 2 and parts[2] not in rules[sub]:
                bad.append(f"{room}/{rel}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_runtime_kinds_do_not_import_each_other() -> None:
    bad = []
    for path in sorted((PKG / "runtime" / "kinds").glob("*.py")):
        if path.stem == "__init__":
            continue
        group = _kind_of(path.stem)
        for name, line in _imports(path):
            parts = name.split(".")
            if parts[:3] == ["hedgeops", "runtime", "kinds"] and len(parts) > 3 and _kind_of(parts[3]) != group:
                bad.append(f"runtime/kinds/{path.name}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    """The AST check itself works: a file importing kopf is reported."""
    f = tmp_path / "x.py"
    f.write_text("import kopf\nfrom hedgeops.operator import handlers\n")
    assert [n for n, _ in _imports(f)] == ["kopf", "hedgeops.operator"]


def test_modules_stay_small() -> None:
    sizes = {p.relative_to(PKG): len(p.read_text().splitlines()) for p in PKG.rglob("*.py")}
    assert max(sizes.values()) <= 600, max(sizes.items(), key=lambda kv: kv[1])

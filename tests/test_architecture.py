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
# Which of our rooms each room may import.
ALLOWED = {
    "api": {"api"},
    "engine": {"api", "engine"},
    "exchange": {"api", "engine", "exchange"},
    "runtime": {"api", "engine", "exchange", "runtime"},
    "local": {"api", "engine", "exchange", "runtime", "local", "manifests"},
    "operator": {"api", "engine", "exchange", "runtime", "operator", "manifests"},
    "backtest": {"api", "engine", "exchange", "backtest"},
}


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
    for path in _files("engine"):
        for name, line in _imports(path):
            if name.split(".")[0] in ENGINE_FORBIDDEN:
                bad.append(f"{path.relative_to(PKG)}:{line} imports {name}")
        text = path.read_text()
        for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time(", "open("):
            # A whole name only: `_open(` or `.reopen(` are not the builtin.
            if re.search(r"(?<![\w.])" + re.escape(call), text):
                bad.append(f"{path.relative_to(PKG)} calls {call}")
    assert not bad, "\n".join(bad)


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    """The AST check itself works: a file importing kopf is reported."""
    f = tmp_path / "x.py"
    f.write_text("import kopf\nfrom hedgeops.operator import handlers\n")
    assert [n for n, _ in _imports(f)] == ["kopf", "hedgeops.operator"]


def test_modules_stay_small() -> None:
    sizes = {p.relative_to(PKG): len(p.read_text().splitlines()) for p in PKG.rglob("*.py")}
    assert max(sizes.values()) <= 600, max(sizes.items(), key=lambda kv: kv[1])

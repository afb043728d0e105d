"""The README's seed-to-module table is a claim about the code: every module it names exists, every row names
tests that exist, and every seed document has its rows."""

from __future__ import annotations

import re

from .conftest import ROOT

HEADER = "| seed | what | modules | tests |"


def rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = text[text.index(HEADER):].splitlines()[2:]
    out = []
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        assert len(cells) == 4, line
        out.append(cells)
    return out


def module_paths(cell: str) -> list[str]:
    """`hedge/`: `bands`, `step` → hedgeops/engine/hedge/bands.py ...; `common/x` → engine's; `hedgeops/...` as is."""
    paths, package = [], None
    for part in re.findall(r"`([^`]+)`(:?)", cell):
        name, colon = part
        if name.endswith("/") and colon:
            package = name.rstrip("/")
            continue
        if name.startswith("hedgeops/"):
            paths.append(f"{name}.py")
        elif "/" in name:
            paths.append(f"hedgeops/engine/{name}.py")
        else:
            assert package is not None, f"{name!r} in {cell!r} has no package"
            paths.append(f"hedgeops/engine/{package}/{name}.py")
    return paths


def test_every_module_and_test_the_table_names_exists() -> None:
    table = rows()
    assert len(table) >= 15
    for seed, what, modules, tests in table:
        for path in module_paths(modules):
            assert (ROOT / path).is_file(), f"{seed}: {path} does not exist"
        named = re.findall(r"`(tests/[^`:]+)(?:::([A-Za-z_0-9*]+))?`", tests)
        assert named, f"{seed} ({what[:40]}...) names no test"
        for file, function in named:
            assert (ROOT / file).is_file(), f"{seed}: {file} does not exist"
            if function:
                pattern = function.replace("*", ".*")
                assert re.search(rf"def {pattern}\(", (ROOT / file).read_text()), f"{seed}: {file}::{function}"


def test_every_seed_has_its_rows() -> None:
    seeds = {int(r[0][:3]) for r in rows()}
    documents = {int(p.name[:3]) for p in (ROOT.parent / "shared" / "seeds").glob("0*.txt")} or {0, 1, 2, 3, 4}
    assert seeds >= documents == {0, 1, 2, 3, 4}

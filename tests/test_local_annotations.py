"""`hedgeops local` honours the manifests' own annotations as the operator does (engine/common/controls.py parses
them for both): a halted book never trades, a market maker under close-all never quotes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hedgeops.local.runner import consume, manifest_controls

from .conftest import ROOT
from .test_cli import hedgeops


def annotated(tmp_path: Path, example: str, annotations: dict[str, str]) -> Path:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "manifests" / "examples" / example).read_text())
    doc["metadata"]["annotations"] = annotations
    path = tmp_path / example
    path.write_text(yaml.safe_dump(doc))
    return path


def run(*paths: Path) -> dict[str, Any]:
    done = hedgeops("local", *map(str, paths), "--for", "1h", "--json")
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_a_halt_annotation_keeps_a_book_out_of_the_market(tmp_path: Path) -> None:
    """The same book unhalted hedges at its first cycle (tests/test_cli.py runs it: rebalances >= 1). Any value but
    false halts (`yes` was read as no halt)."""
    policy = ROOT / "manifests" / "examples" / "rebalancepolicy-adaptive.yaml"
    [halted] = run(annotated(tmp_path, "hedgebook-jlp.yaml", {"hedgeops.io/halt": "yes"}), policy)["books"]
    assert halted["rebalances"] == 0 and halted["costQuote"] == 0
    assert halted["state"] == "Halted"  # not "Ready": the summary said so of a book the user had stopped


def test_close_all_on_a_market_maker_keeps_it_flat_and_quoting_nothing(tmp_path: Path) -> None:
    """The same market maker without it quotes at its first cycle (tests/test_cli.py: quotesPlaced > 0)."""
    [closed] = run(annotated(tmp_path, "marketmaker-sol.yaml", {"hedgeops.io/close-all": "true"}))["marketMakers"]
    assert closed["quotesPlaced"] == 0 and closed["boughtQty"] == closed["soldQty"] == 0
    assert closed["reason"] == "ClosedAll"


def test_one_shot_annotations_act_once_a_run_as_the_operator_removes_them() -> None:
    """reset-breaker and approve are consumed by the step that saw them (the operator deletes them); halt,
    close-all and rebalance-now stay in force while set. Before, a manifest's reset-breaker reset a tripped breaker
    at every cycle, so it could never hold (a 20-day grid carry: 5 trips instead of 1)."""
    notes = {"hedgeops.io/reset-breaker": "true", "hedgeops.io/approve": "p1", "hedgeops.io/halt": "true",
             "hedgeops.io/rebalance-now": "r1"}
    consumed: set[tuple[str, str]] = set()
    first = manifest_controls("default/a", notes, consumed)
    assert first.reset_breaker and first.approval == "p1" and first.halt and first.rebalance_now == "r1"
    consume("default/a", notes, consumed)
    later = manifest_controls("default/a", notes, consumed)
    assert not later.reset_breaker and later.approval is None
    assert later.halt and later.rebalance_now == "r1"
    assert manifest_controls("default/b", notes, consumed).reset_breaker  # another object's are its own
    assert manifest_controls("default/a", {}, consumed, reset=True).reset_breaker  # --reset-breaker-after


def test_a_mistyped_halt_is_warned_of_before_the_run(tmp_path: Path) -> None:
    book = annotated(tmp_path, "hedgebook-spot.yaml", {"hedgeops.io/hallt": "true"})
    done = hedgeops("local", str(book), str(ROOT / "manifests" / "examples" / "rebalancepolicy-compact.yaml"),
                    "--for", "1h", "--json")
    assert done.returncode == 0, done.stderr
    assert ("warning: HedgeBook default/spot-bag: hedgeops.io/hallt is not a control and does nothing: did you "
            "mean hedgeops.io/halt?") in done.stderr
    assert json.loads(done.stdout)["books"][0]["state"] == "Ready"  # not halted: the warning says why

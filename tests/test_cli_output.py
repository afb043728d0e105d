"""`-o/--output {text,json}` (issue 18): the commands that print objects print one JSON document on stdout, and
nothing else there; the older `--json` flags are the same option. In-process (`main([...])`), with a real Redis
for the journal."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from hedgeops.cli import build_parser, main
from hedgeops.local.runner import LocalOptions
from hedgeops.runtime.journal import RedisJournal, journal_stream

from .conftest import ROOT

WITH_OUTPUT = ("version", "local", "backtest", "validate", "journal")
# Commands that print no object, decided one by one: a server's banner (emulator, operator), files written (crds:
# its exit code is the answer), a script (completion), a sentence about an action requested (approve, close-all,
# rebalance-now).
WITHOUT_OUTPUT = ("emulator", "operator", "crds", "completion", "approve", "close-all", "rebalance-now")


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_the_commands_that_print_objects_take_output_and_only_they() -> None:
    commands = _commands()
    assert set(WITH_OUTPUT) | set(WITHOUT_OUTPUT) == set(commands)  # a new command: decide which it is
    for name in WITH_OUTPUT:
        [output] = [a for a in commands[name]._actions if "--output" in a.option_strings]
        assert output.option_strings == ["-o", "--output"] and list(output.choices or ()) == ["text", "json"]
        assert output.default == "text", name
    for name in WITHOUT_OUTPUT:
        assert not any("--output" in a.option_strings for a in commands[name]._actions), name


@pytest.mark.parametrize("command", ["local", "backtest"])
def test_the_older_json_flag_is_output_json(command: str) -> None:
    parse = build_parser().parse_args
    assert parse([command, "x/", "--json"]) == parse([command, "x/", "-o", "json"]) \
        == parse([command, "x/", "--output=json"])
    assert parse([command, "x/"]).output == "text"


@pytest.mark.parametrize("flag", [["--json"], ["-o", "json"]])
def test_local_json_asks_the_run_for_quiet_progress_and_prints_only_the_summary(
        flag: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[LocalOptions] = []

    async def run_local(opts: LocalOptions) -> dict[str, Any]:
        seen.append(opts)
        return {"from": "2025-01-01T00:00:00+00:00", "books": [{"book": "default/jlp"}]}

    monkeypatch.setattr("hedgeops.local.runner.run_local", run_local)
    assert main(["local", "manifests/examples/", "--for", "1h", *flag]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"from": "2025-01-01T00:00:00+00:00", "books": [{"book": "default/jlp"}]}
    assert seen[0].json is True  # the live table and progress go to stderr (the runner's quiet mode)


def test_validate_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-o", "json", str(ROOT / "manifests" / "examples")]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert list(doc) == ["valid", "files", "ok", "problems", "notes", "invalidDocuments", "skippedDocuments",
                         "summary"]
    assert doc["valid"] is True and doc["problems"] == [] and err == ""
    assert len(doc["ok"]) == len(list((ROOT / "manifests" / "examples").glob("*.yaml")))
    bad = ROOT / "manifests" / "invalid" / "hedge-ratio-above-1.yaml"
    (tmp_path / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    assert main(["validate", "--output", "json", str(bad), str(tmp_path)]) == 1  # invalid: still exit 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["valid"] is False and doc["invalidDocuments"] == 1 and doc["skippedDocuments"] == 1 and err == ""
    assert any("hedge-ratio-above-1.yaml" in p for p in doc["problems"]) and doc["notes"]
    assert doc["summary"].startswith("invalid: 2 files")


def test_journal_as_json_and_as_text(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    entries = [{"at": "2025-06-01T00:00:00+00:00", "type": "plan", "fence": 3, "orders": [{"side": "sell"}]},
               {"at": "2025-06-01T00:05:00+00:00", "type": "executed", "fence": 3, "costQuote": "1.5"}]

    async def write() -> list[str]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            journal = RedisJournal(client)
            stream = journal_stream("HedgeBook", "cli-json/jlp")
            await client.delete(stream)
            return [await journal.append(stream, e) for e in entries]
        finally:
            await client.aclose()

    ids = asyncio.run(write())
    assert main(["journal", "hedgebook/jlp", "-n", "cli-json", "--redis-url", redis_url, "-o", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"kind": "HedgeBook", "namespace": "cli-json", "name": "jlp",
                               "entries": [{"id": i, "entry": e} for i, e in zip(ids, entries, strict=True)]}
    assert err == ""
    assert main(["journal", "hedgebooks/jlp", "-n", "cli-json", "--redis-url", redis_url, "--count", "1"]) == 0
    out = capsys.readouterr().out
    assert out == '2025-06-01T00:05:00+00:00  executed  fence=3  {"costQuote":"1.5"}\n'
    assert main(["journal", "hedgebook/none", "-n", "cli-json", "--redis-url", redis_url, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == []

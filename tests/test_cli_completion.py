"""`hedgeops completion bash|zsh|fish` (issue 18): scripts written from the CLI's own parser, so every command and
option is completed; the bash one run for real in bash, the way bash calls it."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hedgeops.cli import build_parser, main

from .conftest import ROOT

COMMANDS = {"version", "completion", "local", "backtest", "emulator", "crds", "validate", "operator", "journal",
            "approve", "close-all", "rebalance-now"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, read from argparse itself (not from the completion module under test)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _flags(p: argparse.ArgumentParser) -> set[str]:
    return {f for a in p._actions for f in a.option_strings if a.help != argparse.SUPPRESS}


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    return out


def test_the_commands_are_the_expected_ones() -> None:
    assert set(_commands()) == COMMANDS  # a new command: add it here, the scripts follow by themselves


def test_bash_completes_commands_options_and_values_in_a_real_bash(tmp_path: Path) -> None:
    commands = _commands()
    cases: list[list[str]] = [
        ["hedgeops", ""], ["hedgeops", "-"], ["hedgeops", "--debug", "cl"], ["hedgeops", "backtest", "x/", "--f"],
        ["hedgeops", "version", "-o", ""], ["hedgeops", "local", "x/", "--output", "=", "j"],
        ["hedgeops", "local", "x/", "--output", "="], ["hedgeops", "completion", ""],
        ["hedgeops", "backtest", "x/", "--from", ""],
        *[["hedgeops", name, "-"] for name in commands],
    ]
    # The script comes from the installed entry point, sourced as a user's ~/.bashrc would; each case sets the
    # words and the cursor as bash does before it calls a completion function.
    lines = [f"source <({shlex.quote(sys.executable)} -m hedgeops.cli completion bash) || exit 9",
             "complete -p hedgeops",
             'offer() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _hedgeops; '
             'echo "${COMPREPLY[*]}"; }']
    lines += ["offer " + " ".join(shlex.quote(w) for w in case) for case in cases]
    (tmp_path / "cases.sh").write_text("\n".join(lines) + "\n")
    run = subprocess.run(["bash", "--norc", "--noprofile", str(tmp_path / "cases.sh")], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    registered, *offers = run.stdout.split("\n")[:-1]
    assert registered == "complete -o default -F _hedgeops hedgeops"
    got = dict(zip((" ".join(c) for c in cases), (set(o.split()) for o in offers), strict=True))
    assert got["hedgeops "] == COMMANDS
    assert got["hedgeops -"] == {"-h", "--help", "--debug", "--version"}
    assert got["hedgeops --debug cl"] == {"close-all"}
    assert got["hedgeops backtest x/ --f"] == {"--from"}
    assert got["hedgeops version -o "] == got["hedgeops local x/ --output ="] == {"text", "json"}
    assert got["hedgeops local x/ --output = j"] == {"json"}
    assert got["hedgeops completion "] == {"bash", "zsh", "fish"}
    assert got["hedgeops backtest x/ --from "] == set()  # a value: bash falls back to file names (-o default)
    for name, parser in commands.items():
        assert got[f"hedgeops {name} -"] == _flags(parser), name
    assert {"--from", "--to", "--out", "-o", "--output", "--json"} <= got["hedgeops backtest -"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command_and_option(shell: str, capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    script = _script(shell, capsys)
    for name, parser in _commands().items():
        assert (f"        '{name}:" if shell == "zsh" else f"-a '{name}' -d ") in script, name
        block = script.split(f"                ({name})\n")[1].split(";;")[0] if shell == "zsh" else "\n".join(
            line for line in script.splitlines() if f"__fish_seen_subcommand_from {name}'" in line)
        for flag in _flags(parser):
            if shell == "zsh":  # '-o+[...' or '(-o --output)--output=[...' or '*-n+[...' (repeatable)
                assert re.search(rf"['*)]{re.escape(flag)}[=+]?\[", block), (name, flag)
            else:
                assert (f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}") in block, (name, flag)
    path = tmp_path / f"hedgeops.{shell}"
    path.write_text(script)
    if shutil.which(shell):  # not installed on every machine: when it is, its own parser reads the script
        check = [shell, "-n", str(path)] if shell == "zsh" else [shell, "--no-execute", str(path)]
        run = subprocess.run(check, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
    if shell == "zsh":
        # Without zsh, bash's parser (the zsh used here is also bash syntax) at least proves the quoting balances.
        run = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr


def test_zsh_escapes_what_would_split_an_option_spec(capsys: pytest.CaptureFixture[str]) -> None:
    script = _script("zsh", capsys)
    assert "'--metrics-port=[serve /metrics on 127.0.0.1\\:PORT (0\\: any)]:metrics-port:_default'" in script
    assert "'(-o --output)-o+[" in script and "]:output:(text json)'" in script
    assert "'*:paths:_default'" in script and "'1:shell:(bash zsh fish)'" in script

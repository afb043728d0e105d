"""What `hedgeops` gives back besides its work: one exit-code convention for every command, the errors that choose
the code, and `-o/--output {text,json}` for the commands that print objects (issue 18).

Light on purpose: `hedgeops.cli` imports it at start-up, before any command's heavy imports."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

OK = 0
REFUSED = 1  # the command ran and the answer is no (or it failed unexpectedly)
USAGE = 2  # the command could not run as asked
INTERRUPTED = 130  # Ctrl+C, as a shell reports SIGINT
TERMINATED = 143  # SIGTERM (kill, systemd, Docker, Kubernetes), as a shell reports it
BROKEN_PIPE = 141  # the reader of stdout went away before the command's result was decided (128 + SIGPIPE)

EPILOG = """\
exit codes:
  0    done
  1    refused or found a problem: invalid manifests (validate), CRDs out of date (crds --check), a plan
       that is not the pending one or no longer pending (approve), close-all not confirmed; also an
       unexpected failure (--debug shows its traceback)
  2    usage error: bad arguments, or bad values found after parsing (no such file, unknown kind,
       malformed or unknown object name), or what the command needs is missing or unreachable
       (kubeconfig, cluster, Redis, a port to listen on); one line `hedgeops: error: ...` on stderr
  130  interrupted (Ctrl+C); local and backtest print the summary of the time simulated so far
  141  stdout closed (`| head`) before the result was decided; once decided (validate), that result
  143  stopped by SIGTERM; local and backtest as for Ctrl+C (backtest --out marks its report PARTIAL)

-o json (version, local, backtest, validate, journal) prints one JSON document on stdout; progress,
notes and messages go to stderr. `hedgeops completion bash|zsh|fish` prints a completion script."""

FORMATS = ("text", "json")


class UsageError(Exception):
    """A value the parser accepted but the command cannot use (no such file, no Redis to read, a port in use):
    a one-line message and exit 2."""


class Refused(Exception):
    """The command ran and the answer is no (the plan is not the pending one, close-all not confirmed): the reason
    on stderr and exit 1."""


def add_output_option(p: argparse.ArgumentParser, json_alias: str | None = None) -> None:
    """`-o/--output {text,json}`; `json_alias` (the help of an older `--json`) keeps that flag working as `-o json`."""
    p.add_argument("-o", "--output", choices=FORMATS, default="text",
                   help="text for people (default), json for scripts: one JSON document on stdout")
    if json_alias is not None:
        p.add_argument("--json", dest="output", action="store_const", const="json", help=json_alias)


def print_json(obj: Any) -> None:
    """One JSON document on stdout, keys in the order built (stable per command), then a newline."""
    print(json.dumps(obj, indent=2), flush=True)


def say_error(message: str) -> None:
    """The one-line usage error, as argparse words its own."""
    print(f"hedgeops: error: {_one_line(message)}", file=sys.stderr, flush=True)


def say_refused(message: str) -> None:
    """A refusal's reason (exit 1)."""
    print(f"hedgeops: refused: {_one_line(message)}", file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())

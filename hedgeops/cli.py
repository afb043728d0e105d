"""`hedgeops`: local, backtest, emulator, crds, validate, operator, journal, approve, close-all, rebalance-now,
version, completion. Exit codes and `-o json`: hedgeops/cli_output.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hedgeops.cli_emulator import cmd_emulator
from hedgeops.cli_output import (
    BROKEN_PIPE,
    EPILOG,
    INTERRUPTED,
    REFUSED,
    USAGE,
    Refused,
    UsageError,
    add_output_option,
    print_json,
    say_error,
    say_refused,
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d`, `2w`."""
    m = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 12h, 7d or 2w")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time like 2025-06-01 or 2025-06-01T12:00") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_amount(text: str) -> str:
    """A non-negative decimal amount, kept as text for Decimal."""
    from decimal import Decimal, InvalidOperation

    try:
        ok = Decimal(text).is_finite() and Decimal(text) >= 0
    except InvalidOperation:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative amount")
    return text


def parse_port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    if not text.strip().isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return int(text)


def parse_count(text: str) -> int:
    """A positive whole number."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _cmd_local(args: argparse.Namespace) -> int:
    from hedgeops.local.runner import LocalOptions, run_local

    if args.duration is not None and args.duration <= timedelta(0):
        raise UsageError("--for must be longer than 0s")
    as_json = args.output == "json"
    summary = asyncio.run(run_local(LocalOptions(
        paths=[Path(p) for p in args.paths], duration=args.duration, start=args.start, json=as_json,
        metrics_port=args.metrics_port)))
    decided = args.decided = _run_result(summary)
    if as_json:
        print_json(summary)
    return decided


def _run_result(summary: dict[str, object]) -> int:
    """A run's exit code: 0, or 128 + the signal that stopped it (130 Ctrl+C, 143 SIGTERM), as a shell reports."""
    import signal

    if not summary.get("interrupted"):
        return 0
    by = summary.get("interruptedBy")
    return 128 + int(signal.Signals[by]) if isinstance(by, str) and by in signal.Signals.__members__ else INTERRUPTED


def _cmd_backtest(args: argparse.Namespace) -> int:
    from hedgeops.backtest.report import render
    from hedgeops.local.runner import LocalOptions, LocalRunError, run_local

    if args.end is not None and args.start is not None and args.end <= args.start:
        raise LocalRunError(f"--to {args.end:%Y-%m-%d %H:%M} must be after --from {args.start:%Y-%m-%d %H:%M}")
    duration = None if args.end is None or args.start is None else args.end - args.start
    if args.end is not None and args.start is None:
        raise LocalRunError("--to needs --from")
    if args.reset_breaker_after is not None and args.reset_breaker_after <= timedelta(0):
        raise UsageError("--reset-breaker-after must be longer than 0s")  # as --for
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise LocalRunError(f"--out {out}: no such directory {out.parent}")
    if out is not None and out.is_dir():  # found now, not after the run
        raise UsageError(f"--out {out} is a folder: name the report's file, e.g. {out / 'report.html'}")
    as_json = args.output == "json"
    summary = asyncio.run(run_local(LocalOptions(
        paths=[Path(p) for p in args.paths], duration=duration, start=args.start, json=as_json, series=True,
        history=True, reset_breaker_after=args.reset_breaker_after)))
    decided = args.decided = _run_result(summary)
    if out is not None:
        # An interrupted run still writes what it ran (that is what its user wants), marked PARTIAL in the page's
        # heading and here, with the window asked for and the window run: never passed off as the whole window.
        try:
            out.write_text(render(summary, f"HedgeOps backtest: {', '.join(args.paths)}"))
        except OSError as exc:
            raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
        if summary.get("interrupted"):
            def at(key: str) -> str:
                return str(summary.get(key) or "?")[:16].replace("T", " ")

            print(f"report: {out} (PARTIAL: {summary.get('interruptedBy') or 'interrupted'} stopped the run at "
                  f"{at('to')}; asked for {at('from')} → {at('requestedTo')})", file=sys.stderr)
        else:
            print(f"report: {out}", file=sys.stderr)
    if as_json:
        print_json(summary)
    return decided


def _cmd_crds(args: argparse.Namespace) -> int:
    from hedgeops.api.crd import render_all

    rendered = render_all()
    # The Helm chart templates its own copy (so that `helm upgrade` updates the schemas): kept equal here.
    chart = Path(args.chart) / "files" / "crds" if args.chart and Path(args.chart).is_dir() else None
    targets = [Path(args.out), *([chart] if chart else [])]
    if args.check:
        if not Path(args.out).is_dir():  # nothing to compare with here: not "out of date"
            raise UsageError(f"no {args.out}/ folder in {Path.cwd()}: run `hedgeops crds --check` from the "
                             "checkout, or pass --out")
        stale = [str(out / n) for out in targets for n, text in rendered.items()
                 if not (out / n).exists() or (out / n).read_text() != text]
        if stale:
            print(f"out of date: {', '.join(stale)}; run `hedgeops crds`", file=sys.stderr)
            return 1
        print(f"{len(rendered)} CRDs in {', '.join(map(str, targets))} are up to date")
        return 0
    for out in targets:
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name, text in rendered.items():
                (out / name).write_text(text, encoding="utf-8")
                print(f"wrote {out / name}")
        except OSError as exc:
            raise UsageError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from None
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    """Exit 0 when every HedgeOps object is valid, 1 when any problem is found, 2 for a usage error."""
    from hedgeops.manifest_report import validate

    report = validate(args.paths, sys.stdin.buffer)
    args.decided = REFUSED if report.problems else 0  # kept if a closed pipe cuts the output short
    if args.output == "json":  # everything in the document: nothing on stderr
        print_json({"valid": not report.problems, "files": report.files, "ok": report.ok,
                    "problems": report.problems, "notes": report.notes,
                    "invalidDocuments": report.invalid_documents, "skippedDocuments": report.skipped_documents,
                    "summary": report.summary()})
        return REFUSED if report.problems else 0
    # Flushed line by line: a CI log interleaves both streams, and should read in the order found.
    for line in report.ok:
        print(f"ok  {line}", flush=True)
    for line in report.notes:
        print(f"note: {line}", file=sys.stderr, flush=True)
    for line in report.problems:
        print(line, file=sys.stderr, flush=True)
    print(report.summary(), flush=True)
    return 1 if report.problems else 0


def _cmd_operator(args: argparse.Namespace) -> int:
    from hedgeops.operator.settings import OperatorSettings, SettingsError

    # A bad HEDGEOPS_* value, or settings that cannot work together: a usage error, said before kopf starts.
    try:
        settings = OperatorSettings.from_env()
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    if problems := settings.problems():
        raise UsageError("; ".join(problems))
    from hedgeops import cli_control

    cli_control.require_cluster_config()  # no kubeconfig and no pod: one line and exit 2, before kopf retries
    from hedgeops.operator.main import run_operator

    return run_operator(settings, namespaces=args.namespace, clusterwide=not args.namespace, liveness=args.liveness)


def _cmd_journal(args: argparse.Namespace) -> int:
    import os

    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    from hedgeops.api import KINDS
    from hedgeops.runtime.journal import RedisJournal, journal_stream

    kind_name, _, name = args.ref.partition("/")
    kinds = {k.lower(): k for k in KINDS} | {c.PLURAL: k for k, c in KINDS.items()}
    kind = kinds.get(kind_name.lower())
    if kind is None or not name:
        raise UsageError(f"expected <kind>/<name> with kind one of {', '.join(sorted(KINDS))}, got {args.ref!r}")
    from hedgeops.runtime.names import is_namespace, is_object_name

    # Checked as approve checks them, before Redis is asked: a name no object can have has no journal.
    if not is_object_name(name):
        raise UsageError(f"{name!r} is not an object name (lowercase letters, digits, '-' and '.', at most 253 "
                         "characters: DNS-1123)")
    if not is_namespace(args.namespace):
        raise UsageError(f"{args.namespace!r} is not a namespace name (lowercase letters, digits and '-', at most 63 "
                         "characters: RFC 1123)")
    url = args.redis_url or os.environ.get("HEDGEOPS_REDIS_URL")
    if not url:
        raise UsageError("no Redis: pass --redis-url or set HEDGEOPS_REDIS_URL")

    async def read() -> list[tuple[str, dict[str, object]]]:
        # Short timeouts: an address nothing answers on is said in seconds, not after the kernel's minutes.
        client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        try:
            return await RedisJournal(client).read(journal_stream(kind, f"{args.namespace}/{name}"), args.count)
        finally:
            await client.aclose()

    try:
        entries = asyncio.run(read())
    except ValueError as exc:  # the URL itself (its words never include the URL, which may carry a password)
        raise UsageError(f"--redis-url: {exc}") from None
    except (RedisError, OSError) as exc:
        raise UsageError(f"cannot read the journal from Redis: {exc or type(exc).__name__}") from None
    if args.output == "json":
        print_json({"kind": kind, "namespace": args.namespace, "name": name,
                    "entries": [{"id": entry_id, "entry": entry} for entry_id, entry in entries]})
        return 0
    if not entries:
        print(f"no journal entries for {kind} {args.namespace}/{name}")
    for entry_id, entry in entries:
        rest = {k: v for k, v in entry.items() if k not in ("at", "type", "fence")}
        print(f"{entry.get('at', entry_id)}  {entry.get('type', '?'):<9} fence={entry.get('fence', '-')}  "
              + json.dumps(rest, separators=(",", ":")))
    return 0


def _cmd_approve(args: argparse.Namespace) -> int:
    from hedgeops import cli_control, control

    if not args.plan_id.strip():  # no plan has that id: said before any kubeconfig is read
        raise UsageError("the plan id is empty: pass the id shown in status.pendingPlan.id")
    print(cli_control.run(lambda connect: control.approve(connect, args.ref, args.namespace, args.plan_id),
                          args.kubeconfig, args.context))
    return 0


def _confirmer(args: argparse.Namespace, what: str) -> Callable[[str], bool]:
    """Ask on the terminal (y/yes is yes; Ctrl+D no), or take --yes; without a terminal, a usage error."""
    def confirm(question: str) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(f"no terminal to confirm on: pass --yes to {what} without asking")
        try:
            return input(question).strip().lower() in ("y", "yes")
        except EOFError:  # Ctrl+D: no answer is no
            return False
    return confirm


def _cmd_close_all(args: argparse.Namespace) -> int:
    from hedgeops import cli_control, control

    confirm = _confirmer(args, "close")
    print(cli_control.run(lambda connect: control.close_all(connect, args.ref, args.namespace, confirm),
                          args.kubeconfig, args.context))
    return 0


def _cmd_rebalance_now(args: argparse.Namespace) -> int:
    from hedgeops import cli_control, control

    confirm = _confirmer(args, "rebalance")
    print(cli_control.run(lambda connect: control.rebalance_now(connect, args.ref, args.namespace, confirm),
                          args.kubeconfig, args.context))
    return 0


def _kube_options(p: argparse.ArgumentParser) -> None:
    """kubectl's options for choosing the cluster, the credentials and the namespace."""
    p.add_argument("--namespace", "-n", default=None, help="default: the context's namespace, else 'default'")
    p.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG, ~/.kube/config or in-cluster")
    p.add_argument("--context", default=None, help="the kubeconfig context to use (default: its current-context)")


def _version_line() -> str:
    import platform

    from hedgeops import __version__

    return f"hedgeops {__version__} (Python {platform.python_version()})"


def _cmd_version(args: argparse.Namespace) -> int:
    import platform

    from hedgeops import __version__

    if args.output == "json":
        print_json({"version": __version__, "python": platform.python_version()})
    else:
        print(_version_line())
    return 0


def _cmd_completion(args: argparse.Namespace) -> int:
    from hedgeops.completion import render

    sys.stdout.write(render(build_parser(), args.shell))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hedgeops", description="Delta-neutral strategies, declared and reconciled.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    p.add_argument("--version", action="version", version=_version_line())
    sub = p.add_subparsers(dest="command", required=True)

    ve = sub.add_parser("version", help="print the HedgeOps version (and the Python it runs on)")
    add_output_option(ve)
    ve.set_defaults(func=_cmd_version)

    co = sub.add_parser("completion", help="print a shell completion script (bash, zsh or fish)",
                        description="Print a completion script for the commands and their options, written from "
                        "this CLI's own parser. bash: `source <(hedgeops completion bash)` in ~/.bashrc; zsh: "
                        "`source <(hedgeops completion zsh)` after compinit in ~/.zshrc; fish: `hedgeops completion "
                        "fish > ~/.config/fish/completions/hedgeops.fish`.")
    co.add_argument("shell", choices=("bash", "zsh", "fish"))
    co.set_defaults(func=_cmd_completion)

    lo = sub.add_parser("local", help="run the reconcilers on a laptop against the paper exchange replaying real data")
    lo.add_argument("paths", nargs="+", help="manifest files or folders")
    lo.add_argument("--for", dest="duration", type=parse_duration, default=None,
                    help="simulated time to run, e.g. 7d (default: all the data)")
    lo.add_argument("--from", dest="start", type=parse_time, default=None, help="replay start (default: data start)")
    add_output_option(lo, json_alias="same as -o json: the summary as JSON (progress goes to stderr)")
    lo.add_argument("--metrics-port", type=parse_port, default=None, help="serve /metrics on 127.0.0.1:PORT (0: any)")
    lo.set_defaults(func=_cmd_local)

    bt = sub.add_parser("backtest", help="replay history through the reconcilers and write a report (the bundled "
                                         "candles since 2024-12-31, hourly mark prices before them)")
    bt.add_argument("paths", nargs="+", help="manifest files or folders")
    bt.add_argument("--from", dest="start", type=parse_time, default=None, help="start (default: data start)")
    bt.add_argument("--to", dest="end", type=parse_time, default=None, help="end (default: data end)")
    bt.add_argument("--out", default=None, help="write a self-contained HTML report here")
    add_output_option(bt, json_alias="same as -o json: the figures and hourly series as JSON")
    bt.add_argument("--reset-breaker-after", type=parse_duration, default=None, metavar="DURATION",
                    help="a person resets a tripped carry breaker this long after it tripped (e.g. 24h; default: "
                         "never, as the seed's breaker waits for a person)")
    bt.set_defaults(func=_cmd_backtest)

    em = sub.add_parser("emulator", help="serve OKX v5 (or Binance USDⓈ-M) REST on replayed real prices for any ccxt "
                        "client")
    em.add_argument("--port", type=parse_port, default=8443)
    em.add_argument("--dialect", choices=("okx", "binanceusdm"), default="okx",
                    help="the REST dialect served: OKX v5, or Binance USDⓈ-M futures (no passphrase needed)")
    em.add_argument("--api-key", default="", help="the API key clients sign with")
    em.add_argument("--secret", default="", help="default: $HEDGEOPS_EMULATOR_SECRET")
    em.add_argument("--passphrase", default="", help="default: $HEDGEOPS_EMULATOR_PASSPHRASE")
    em.add_argument("--account", action="append", default=[], metavar="KEY:SECRET:PASSPHRASE[:USDT[:ENV]]",
                    help="one more API key, its own account (repeatable; USDT: its starting trading USDT; ENV: live, "
                    "the default, or demo: a demo-trading key, which must sign with x-simulated-trading: 1, as "
                    "ccxt's sandbox mode does; e.g. k:s:p::demo)")
    em.add_argument("--keys-file", default=None, metavar="PATH",
                    help="API keys from a JSON or YAML list of {apiKey, secret, passphrase, usdt?, env?}, one "
                    "account each")
    em.add_argument("--at", type=parse_time, default=None,
                    help="replay start (default: two weeks after the first time every instrument served has data, "
                    "so indicators have history to warm up on)")
    em.add_argument("--speed", type=float, default=1.0, help="replayed seconds per wall second")
    em.add_argument("--trading-usdt", type=parse_amount, default="100000",
                    help="starting USDT in each key's trading account")
    em.add_argument("--funding-usdt", type=parse_amount, default="0",
                    help="starting USDT in each key's funding account")
    em.add_argument("--maker-fee", type=parse_amount, default="0.0002", help="maker fee rate (0.0002 = 2 bp)")
    em.add_argument("--taker-fee", type=parse_amount, default="0.0005", help="taker fee rate (0.0005 = 5 bp)")
    em.set_defaults(func=cmd_emulator)

    cr = sub.add_parser("crds", help="write crds/*.yaml from the API models")
    cr.add_argument("--out", default="crds")
    cr.add_argument("--chart", default="charts/hedgeops", help="also write the chart's copy ('' for none)")
    cr.add_argument("--check", action="store_true", help="fail if the files differ from the models")
    cr.set_defaults(func=_cmd_crds)

    va = sub.add_parser("validate", help="validate manifests against the CRD schemas and CEL rules (exit 0 valid, "
                        "1 invalid, 2 usage error)",
                        description="Validate HedgeOps objects as the API server would, for a GitOps CI: files, "
                        "folders (recursively; hidden folders and files other than .yaml/.yml/.json skipped with a "
                        "note) and '-' for stdin. Other kinds (Secret, ConfigMap, ...) are skipped with a note. One "
                        "line per problem naming the file and the field, then a summary. Exit 0 when valid, 1 when "
                        "anything is invalid, 2 for a usage error.")
    va.add_argument("paths", nargs="+", help="files, folders, or - for stdin")
    add_output_option(va)
    va.set_defaults(func=_cmd_validate)

    from hedgeops.operator.usage import SETTINGS_EPILOG, SettingsHelpFormatter

    op = sub.add_parser("operator", help="run the kopf operator against the current cluster", epilog=SETTINGS_EPILOG,
                        formatter_class=SettingsHelpFormatter)
    op.add_argument("--namespace", "-n", action="append", default=[], help="watch only these namespaces")
    op.add_argument("--liveness", default="http://0.0.0.0:8080/healthz",
                    help="liveness endpoint ('' for none; the TradingView webhook is on $HEDGEOPS_WEBHOOK_PORT, 8081)")
    op.set_defaults(func=_cmd_operator)

    jo = sub.add_parser("journal", help="print an object's journal, e.g. hedgebook/jlp")
    jo.add_argument("ref", help="<kind>/<name>")
    jo.add_argument("--namespace", "-n", default="default")
    jo.add_argument("--redis-url", default=None, help="default: $HEDGEOPS_REDIS_URL")
    jo.add_argument("--count", type=parse_count, default=100, help="the last COUNT entries (default: 100)")
    add_output_option(jo)
    jo.set_defaults(func=_cmd_journal)

    ap = sub.add_parser("approve", help="approve a book's pending plan by its id (policy approval: Manual)")
    ap.add_argument("ref", help="hedgebook/<name>")
    ap.add_argument("plan_id", help="the id shown in status.pendingPlan.id")
    _kube_options(ap)
    ap.set_defaults(func=_cmd_approve)

    ca = sub.add_parser("close-all", help="flatten a book, an arbitrage or a market maker at market (perps "
                        "reduce-only; a maker's quotes are cancelled first)")
    ca.add_argument("ref", help="hedgebook/<name>, fundingarbitrage/<name> or marketmaker/<name>")
    ca.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _kube_options(ca)
    ca.set_defaults(func=_cmd_close_all)

    rn = sub.add_parser("rebalance-now", help="rebalance an Allocation book to its target weights once, now "
                        "(approval, risk limits and cost tolerance still apply)")
    rn.add_argument("ref", help="hedgebook/<name>")
    rn.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _kube_options(rn)
    rn.set_defaults(func=_cmd_rebalance_now)
    return p


# Each command's error types that mean "bad input": a message and exit 2, never a traceback. Looked up only in the
# modules the command loaded (one never imported raised nothing): importing them all cost seconds per command.
_INPUT_ERRORS = {"hedgeops.local.runner": "LocalRunError", "hedgeops.control": "ControlError",
                 "hedgeops.kube": "KubeError", "hedgeops.manifest_report": "UsageError"}


def _input_errors() -> tuple[type[BaseException], ...]:
    return tuple(getattr(sys.modules[module], name) for module, name in _INPUT_ERRORS.items()
                 if module in sys.modules)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`hedgeops validate … | head -1`): the command's own result when it was decided
        # before the output was cut (a failed validation stays 1), else 141 (128 + SIGPIPE), as a shell reports a
        # command a closed pipe stopped; never 0 for what did not finish. Point stdout at /dev/null so the
        # interpreter's own flush at exit does not complain again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        decided = getattr(args, "decided", None)
        return decided if isinstance(decided, int) else BROKEN_PIPE
    except Refused as exc:
        say_refused(str(exc))
        return REFUSED
    except Exception as exc:
        validate = sys.modules.get("hedgeops.api.validate")
        if validate is not None and isinstance(exc, validate.ManifestError):
            # The manifests given cannot run: a usage error; one line, or one indented line per problem.
            if len(exc.problems) == 1:
                say_error(str(exc.problems[0]))
                return USAGE
            print(f"hedgeops: error: the manifests cannot run ({len(exc.problems)} problems):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return USAGE
        if isinstance(exc, (UsageError, *_input_errors())):
            say_error(str(exc))
            return USAGE
        if args.debug:
            raise
        say_error(f"{type(exc).__name__}: {exc} (run with --debug for details)")
        return REFUSED


if __name__ == "__main__":
    sys.exit(main())

"""`hedgeops`: local, crds, validate, operator, journal."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hedgeops.api.validate import ManifestError

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


def _cmd_local(args: argparse.Namespace) -> int:
    from hedgeops.local.runner import LocalOptions, run_local

    summary = asyncio.run(run_local(LocalOptions(
        paths=[Path(p) for p in args.paths], duration=args.duration, start=args.start, json=args.json,
        metrics_port=args.metrics_port)))
    if args.json:
        print(json.dumps(summary, indent=2))
    return 130 if summary.get("interrupted") else 0


def _cmd_crds(args: argparse.Namespace) -> int:
    from hedgeops.api.crd import render_all

    out = Path(args.out)
    rendered = render_all()
    if args.check:
        stale = [n for n, text in rendered.items() if not (out / n).exists() or (out / n).read_text() != text]
        if stale:
            print(f"out of date in {out}: {', '.join(stale)}; run `hedgeops crds`", file=sys.stderr)
            return 1
        print(f"{len(rendered)} CRDs in {out} are up to date")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from hedgeops.manifests import load_resources

    resources = load_resources(args.paths)
    for r in resources:
        print(f"ok  {r.kind}/{r.key}")
    return 0


def _cmd_operator(args: argparse.Namespace) -> int:
    from hedgeops.operator.main import run_operator

    return run_operator(namespaces=args.namespace, clusterwide=not args.namespace, liveness=args.liveness)


def _cmd_journal(args: argparse.Namespace) -> int:
    import os

    import redis.asyncio as aioredis

    from hedgeops.api import KINDS
    from hedgeops.runtime.journal import RedisJournal, journal_stream

    kind_name, _, name = args.ref.partition("/")
    kinds = {k.lower(): k for k in KINDS} | {c.PLURAL: k for k, c in KINDS.items()}
    kind = kinds.get(kind_name.lower())
    if kind is None or not name:
        print(f"error: expected <kind>/<name> with kind one of {', '.join(sorted(KINDS))}", file=sys.stderr)
        return 2
    url = args.redis_url or os.environ.get("HEDGEOPS_REDIS_URL")
    if not url:
        print("error: no Redis: pass --redis-url or set HEDGEOPS_REDIS_URL", file=sys.stderr)
        return 2

    async def read() -> list[tuple[str, dict[str, object]]]:
        client = aioredis.Redis.from_url(url)
        try:
            return await RedisJournal(client).read(journal_stream(kind, f"{args.namespace}/{name}"), args.count)
        finally:
            await client.aclose()

    entries = asyncio.run(read())
    if not entries:
        print(f"no journal entries for {kind} {args.namespace}/{name}")
    for entry_id, entry in entries:
        rest = {k: v for k, v in entry.items() if k not in ("at", "type", "fence")}
        print(f"{entry.get('at', entry_id)}  {entry.get('type', '?'):<9} fence={entry.get('fence', '-')}  "
              + json.dumps(rest, separators=(",", ":")))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hedgeops", description="Delta-neutral strategies, declared and reconciled.")
    p.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = p.add_subparsers(dest="command", required=True)

    lo = sub.add_parser("local", help="run the reconcilers on a laptop against the paper exchange replaying real data")
    lo.add_argument("paths", nargs="+", help="manifest files or folders")
    lo.add_argument("--for", dest="duration", type=parse_duration, default=None,
                    help="simulated time to run, e.g. 7d (default: all the data)")
    lo.add_argument("--from", dest="start", type=parse_time, default=None, help="replay start (default: data start)")
    lo.add_argument("--json", action="store_true", help="print the summary as JSON (progress goes to stderr)")
    lo.add_argument("--metrics-port", type=int, default=None, help="serve /metrics on 127.0.0.1:PORT (0: any)")
    lo.set_defaults(func=_cmd_local)

    cr = sub.add_parser("crds", help="write crds/*.yaml from the API models")
    cr.add_argument("--out", default="crds")
    cr.add_argument("--check", action="store_true", help="fail if the files differ from the models")
    cr.set_defaults(func=_cmd_crds)

    va = sub.add_parser("validate", help="validate manifests against the CRD schemas and CEL rules")
    va.add_argument("paths", nargs="+")
    va.set_defaults(func=_cmd_validate)

    op = sub.add_parser("operator", help="run the kopf operator against the current cluster")
    op.add_argument("--namespace", "-n", action="append", default=[], help="watch only these namespaces")
    op.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="liveness endpoint")
    op.set_defaults(func=_cmd_operator)

    jo = sub.add_parser("journal", help="print an object's journal, e.g. hedgebook/jlp")
    jo.add_argument("ref", help="<kind>/<name>")
    jo.add_argument("--namespace", "-n", default="default")
    jo.add_argument("--redis-url", default=None, help="default: $HEDGEOPS_REDIS_URL")
    jo.add_argument("--count", type=int, default=100)
    jo.set_defaults(func=_cmd_journal)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hedgeops.local.runner import LocalRunError

    try:
        return int(args.func(args))
    except ManifestError as exc:
        print("refused:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except LocalRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

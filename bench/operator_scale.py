"""One operator process, many HedgeBooks: exchange traffic, engine time, cycle lag and memory.

    python bench/operator_scale.py [--books 500] [--accounts 167] [--interval 60] [--cycles 2] [--tick 2]
        [--json] [--write]

The real operator (`hedgeops operator`, a child process) runs kopf against the kmock Kubernetes emulator
(tests/kube_emulator.py) and trades Live through real ccxt to the in-process OKX emulator, with a real
redis-server for locks and journal when one is installed. `--books` HedgeBooks are spread over `--accounts`
exchange accounts, all on one RebalancePolicy checking every `--interval` seconds.

One position, one owner: no two books share a perp on one account (the operator would refuse the newer), and the
bundled data has three perps (SOL, ETH, BTC), so each account carries up to three single-leg books, one per
perp, and 500 books need 167 accounts (each its own Secret, its own ccxt client and rate limiter). Until 2026-12
this bench put 100 two-leg books on each of 5 accounts, sharing positions; its figures (4 requests per account
per interval, about 200 MB) are not comparable with these. After every book's first cycle and one more interval
to settle, traffic is counted over `--cycles` whole intervals, from the middle of one interval slot to the middle
of another.

Figures: exchange requests per interval (total and per account: the target is a small constant per account,
whatever the number of books), the engine's time per book decision (median, from the operator's own
hedgeops_decision_duration_seconds histogram, interpolated within its buckets), cycle lag p99 (how late a due
cycle started, hedgeops_cycle_lag_seconds, over the measured window), the share of books reconciled within
the last interval, and the operator process's resident memory (VmRSS).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the kmock emulator with the API-server behaviour kopf needs lives with the tests

from hedgeops.exchange.emulator.okx_http import serving  # noqa: E402
from hedgeops.exchange.emulator.state import Credentials, Emulator  # noqa: E402
from hedgeops.exchange.marketdata.replay import MarketReplay  # noqa: E402

AT = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # the emulator's prices stand still at this real moment
SECRET, PASSPHRASE = "bench-secret", "bench-pass"
NS = "default"
API = f"/apis/hedgeops.io/v1alpha1/namespaces/{NS}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _say(args: argparse.Namespace, text: str) -> None:
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


@contextmanager
def _redis(workdir: Path) -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


PERPS = (("SOL", "SOL/USDT:USDT", 40), ("ETH", "ETH/USDT:USDT", 2), ("BTC", "BTC/USDT:USDT", 0.1))


def _book(i: int, accounts: int) -> dict[str, Any]:
    """Book i: account i mod accounts, and on it the perp no other book of that account trades."""
    account = f"acct-{i % accounts}"
    asset, symbol, qty = PERPS[i // accounts]
    return {"apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook", "metadata": {"name": f"book-{i:04d}"},
            "spec": {"mode": "Live", "exchange": {"name": "okx", "account": account,
                                                  "credentialsSecretRef": {"name": account}},
                     "holdings": {"source": "Static", "static": {asset: qty}},
                     "legs": [{"asset": asset, "symbol": symbol}],
                     "policyRef": {"name": "scale"}}}


def _histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts (upper bound -> count) of a histogram, summed over its labels."""
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == name + "_bucket":
                le = float(sample.labels["le"])
                out[le] = out.get(le, 0.0) + sample.value
    return out


def _quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-quantile of the observations made between two scrapes, interpolated linearly within a bucket."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cum in zip(bounds, counts, strict=True):
        if cum >= rank:
            if bound == float("inf"):
                return lower
            inside = cum - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cum
    return lower


def _counter(text: str, name: str, label: str) -> dict[str, float]:
    """A counter's value by one label, summed over the others."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                key = sample.labels.get(label, "")
                out[key] = out.get(key, 0.0) + sample.value
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def _scrape(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import kmock

    from tests.kube_emulator import ClusterEmulator, write_kubeconfig

    keys = {f"acct-{i}": Credentials(SECRET, PASSPHRASE) for i in range(args.accounts)}
    emu = Emulator(MarketReplay(), lambda: AT, keys, trading_usdt=Decimal(10_000_000))
    with tempfile.TemporaryDirectory() as tmp, _redis(Path(tmp)) as redis_url:
        async with serving(emu) as (app, url), ClusterEmulator() as kube, kmock.Server(kube) as server:
            kube.declare_crds(ROOT / "crds")
            kubeconfig = Path(tmp) / "kubeconfig"
            write_kubeconfig(kubeconfig, str(server.url), "bench")
            b64 = {k: base64.b64encode(v.encode()).decode()
                   for k, v in (("secret", SECRET), ("passphrase", PASSPHRASE))}
            for key in keys:
                await kube.post(f"/api/v1/namespaces/{NS}/secrets", json={
                    "apiVersion": "v1", "kind": "Secret", "metadata": {"name": key},
                    "data": {"apiKey": base64.b64encode(key.encode()).decode(), **b64}})
            await kube.post(f"{API}/rebalancepolicies", json={
                "apiVersion": "hedgeops.io/v1alpha1", "kind": "RebalancePolicy", "metadata": {"name": "scale"},
                "spec": {"preset": "Compact", "checkIntervalSeconds": args.interval}})
            for i in range(args.books):
                await kube.post(f"{API}/hedgebooks", json=_book(i, args.accounts))
            return await _measure(args, kube, kubeconfig, url, app, redis_url)


async def _measure(args: argparse.Namespace, kube: Any, kubeconfig: Path, url: str, app: Any,
                   redis_url: str | None) -> dict[str, Any]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGEOPS_")}
    env.update({"KUBECONFIG": str(kubeconfig), "HEDGEOPS_PRICES": "live", "HEDGEOPS_LIVE_TRADING": "true",
                "HEDGEOPS_EXCHANGE_URLS": f"okx={url}", "HEDGEOPS_METRICS_PORT": str(port),
                "HEDGEOPS_METRICS_ADDR": "127.0.0.1", "HEDGEOPS_WEBHOOK_PORT": "off",
                "HEDGEOPS_TICK_SECONDS": str(args.tick), "HEDGEOPS_LOG_LEVEL": "WARNING", "HEDGEOPS_IDENTITY": "bench",
                # The emulator's tickers carry its replay time, not the operator's wall clock (issue 19).
                "HEDGEOPS_MAX_DATA_AGE_SECONDS": "off"})
    if redis_url:
        env["HEDGEOPS_REDIS_URL"] = redis_url
    exe = Path(sys.executable).parent / "hedgeops"
    # Its log goes to a file: a pipe nobody reads fills up and blocks the operator on its next log line.
    log_path = Path(tempfile.gettempdir()) / f"hedgeops-operator-scale-{os.getpid()}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([str(exe), "operator", "--liveness", ""], env=env, stdout=subprocess.DEVNULL,
                            stderr=log)

    def log_tail() -> str:
        return log_path.read_bytes().decode(errors="replace")[-2000:]

    try:
        loop = asyncio.get_running_loop()
        started = loop.time()

        def checked() -> int:
            return sum(1 for (res, _, _), o in list(kube.objects.items())
                       if res.plural == "hedgebooks" and (o.raw.get("status") or {}).get("lastCheck"))

        last = -1
        while (done := checked()) < args.books:
            if proc.poll() is not None:
                raise RuntimeError(f"the operator exited: {log_tail()}")
            if loop.time() - started > args.interval * 3 + 120:
                raise RuntimeError(f"only {done}/{args.books} books reconciled after {loop.time() - started:.0f}s; "
                                   f"the operator's log ({log_path}) ends:\n{log_tail()}")
            if done != last:
                _say(args, f"first cycle: {done}/{args.books} books")
                last = done
            await asyncio.sleep(1)
        first_cycle = loop.time() - started
        _say(args, f"first cycle: every book reconciled in {first_cycle:.1f}s; measuring {args.cycles} "
                   f"intervals of {args.interval}s")
        # One whole interval to settle first: books whose first cycle was Degraded in the start-up burst (a lock
        # or the exchange busy) are retried on the 5 s grid and rejoin the shared slots only at the next one.
        now = time.time()
        mid = (int(now // args.interval) + 2) * args.interval + args.interval / 2  # middle of the slot after next
        await asyncio.sleep(mid - now)
        before_requests, before = app.requests, await _scrape(port)
        await asyncio.sleep(args.cycles * args.interval)
        after_requests, after = app.requests, await _scrape(port)
        recent = time.time() - args.interval - args.tick  # a due cycle starts within a tick of its slot
        checks = [(o.raw.get("status") or {}).get("lastCheck") for (res, _, _), o in list(kube.objects.items())
                  if res.plural == "hedgebooks"]
        fresh = sum(1 for c in checks if c and datetime.fromisoformat(c).timestamp() >= recent)
        rss = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    log_path.unlink(missing_ok=True)
    decision = _quantile(_histogram(before, "hedgeops_decision_duration_seconds"),
                         _histogram(after, "hedgeops_decision_duration_seconds"), 0.5)
    lag = _quantile(_histogram(before, "hedgeops_cycle_lag_seconds"), _histogram(after, "hedgeops_cycle_lag_seconds"),
                    0.99)
    per_cycle = (after_requests - before_requests) / args.cycles
    # A failed (Degraded) cycle is retried within 5 s under a slot of its own, so it observes its account anew:
    # the requests above one observation per account per interval are these.
    errors_before = _counter(before, "hedgeops_reconcile_errors_total", "reason")
    failed = {reason: int(n - errors_before.get(reason, 0.0))
              for reason, n in _counter(after, "hedgeops_reconcile_errors_total", "reason").items()
              if n > errors_before.get(reason, 0.0)}
    return {"books": args.books, "accounts": args.accounts, "interval_s": args.interval, "cycles": args.cycles,
            "tick_s": args.tick, "locks": "redis" if redis_url else "in-memory",
            "requests_per_cycle": round(per_cycle, 1),
            "requests_per_account_cycle": round(per_cycle / args.accounts, 1),
            "decision_ms_median": None if decision is None else round(decision * 1000, 3),
            "cycle_lag_p99_s": None if lag is None else round(lag, 2),
            "books_reconciled_last_interval": fresh, "failed_cycles": failed, "rss_mb": rss,
            "first_cycle_all_books_s": round(first_cycle, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--books", type=int, default=500)
    p.add_argument("--accounts", type=int, default=None,
                   help=f"exchange accounts (default: the fewest that hold --books, {len(PERPS)} perps each)")
    p.add_argument("--interval", type=int, default=60, help="the policy's checkIntervalSeconds")
    p.add_argument("--cycles", type=int, default=2, help="intervals measured after every book's first cycle")
    p.add_argument("--tick", type=float, default=2.0, help="HEDGEOPS_TICK_SECONDS of the operator")
    p.add_argument("--json", action="store_true")
    p.add_argument("--write", action="store_true", help="store the figures in bench/results/operator_scale.json")
    args = p.parse_args()
    if args.accounts is None:
        args.accounts = max(1, -(-args.books // len(PERPS)))
    if args.books < 1 or args.accounts < 1 or args.accounts > args.books or args.interval < 1 or args.cycles < 1:
        p.error("need books >= accounts >= 1, interval >= 1, cycles >= 1")
    if args.books > len(PERPS) * args.accounts:
        p.error(f"{args.books} books on {args.accounts} accounts would share positions: one account holds at most "
                f"{len(PERPS)} books here (one per perp); give at least {-(-args.books // len(PERPS))} accounts")
    report = asyncio.run(run(args))
    if args.write:
        from _results import store

        store("operator_scale", report)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

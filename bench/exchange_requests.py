"""Exchange traffic and latency of the HedgeBook cycle trading Live through real ccxt against the in-process
OKX emulator on loopback.

    python bench/exchange_requests.py [--books 1,10,100] [--cycles 3] [--acks 100] [--json] [--write]

1. Requests per cycle: N books on ONE account reconciled once each per cycle (as the operator does within an
   interval); the HTTP requests the emulator answered, per cycle, after a warm-up cycle. The books are flat
   (nothing to trade), so the figure is observation alone: it should not grow with N.
2. Trigger → ack: a book whose holdings jump out of band is reconciled; the time from the start of the cycle
   (observe, decide, gate, plan, journal) until the venue acknowledges its first order (create + lookup by
   client id), over `--acks` alternating emergency hedges and unwinds. p50 and p99 in milliseconds, twice:
   with ccxt's rate limiter on (as in production: it paces each request to OKX's published limits, about
   100 ms apart) and off (what HedgeOps and the loopback themselves take).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.venue import Venue
from hedgeops.model.orders import OrderRequest, OrderState
from hedgeops.runtime.app import AppConfig, build_app
from hedgeops.runtime.venues import Account, CcxtVenues, PaperVenues, Venues

AT = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
SECRET, PASSPHRASE = "bench-secret", "bench-pass"


KEYS = ("bench-flat", "bench-throttled", "bench-unthrottled")  # one emulator account each


async def _secret(namespace: str, name: str) -> Mapping[str, str]:
    return {"apiKey": name, "secret": SECRET, "passphrase": PASSPHRASE}


def _book(name: str, sol: int, eth: int, account: str = "bench-flat") -> HedgeBook:
    return HedgeBook.model_validate({"kind": "HedgeBook", "metadata": {"name": name, "uid": f"uid-{name}"}, "spec": {
        "mode": "Live", "exchange": {"name": "okx", "account": account, "credentialsSecretRef": {"name": account}},
        "holdings": {"source": "Static", "static": {"SOL": sol, "ETH": eth}},
        "legs": [{"asset": "SOL", "symbol": "SOL/USDT:USDT"}, {"asset": "ETH", "symbol": "ETH/USDT:USDT"}],
        "policyRef": {"name": "p"}}})


POLICY = RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"},
                                         "spec": {"preset": "Compact", "limits": {"maxRebalancesPerDay": 100_000}}})


class AckTimer:
    """A Venue wrapper noting when the first order of a cycle was acknowledged."""

    def __init__(self, inner: Venue) -> None:
        self.inner = inner
        self.first_ack: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def place(self, order: OrderRequest) -> OrderState:
        state = await self.inner.place(order)
        if self.first_ack is None:
            self.first_ack = time.perf_counter()
        return state


async def requests_per_cycle(url: str, app: Any, book_counts: list[int], cycles: int) -> dict[str, float]:
    venues = Venues(PaperVenues(lambda: AT), CcxtVenues(_secret, {"okx": url}, snapshot_max_age_s=60))
    # The operator's own composition root, unscheduled: each call below is one cycle.
    reconciler = build_app(AppConfig(owner="bench", scheduled=False), venues=venues,
                           locks_clock=lambda: 0.0).hedgebooks
    out = {}
    try:
        for n in book_counts:
            books = [_book(f"flat-{i}", 0, 0) for i in range(n)]
            counts = []
            for c in range(cycles + 1):
                venue = await venues.venue_for(books[0].spec.exchange, books[0].spec.mode, "default")
                assert isinstance(venue, CcxtVenue)
                venue.invalidate()  # a new cycle: the last one's view has aged out
                before = app.requests
                for b in books:
                    result = await reconciler.reconcile(b, AT, None, POLICY)
                    assert getattr(result, "plan", None) is None, result.status.conditions  # a failed cycle has no plan
                if c:  # the first cycle also loads the markets
                    counts.append(app.requests - before)
            out[str(n)] = statistics.mean(counts)
    finally:
        await venues.close()
    return out


async def trigger_to_ack(url: str, acks: int, rate_limit: bool) -> dict[str, float]:
    live = CcxtVenues(_secret, {"okx": url}, snapshot_max_age_s=60, rate_limit=rate_limit)
    account = "bench-throttled" if rate_limit else "bench-unthrottled"
    hedged = _book("acker", 0, 0, account)
    inner = await live.venue_for(hedged.spec.exchange, hedged.spec.mode, "default")
    assert isinstance(inner, CcxtVenue)
    timer = AckTimer(inner)

    class Fixed:
        async def account(self, *_: Any) -> Account:
            return Account(timer, "bench")

        async def close(self) -> None:
            return None

    reconciler = build_app(AppConfig(owner="bench", scheduled=False), venues=Fixed(),
                           locks_clock=lambda: 0.0).hedgebooks
    latencies: list[float] = []
    try:
        for i in range(acks + 1):
            target = _book("acker", 20 if i % 2 == 0 else 0, 0, account)  # hedge 20 SOL, then unwind it
            b = target.model_copy(update={"status": hedged.status})
            inner.invalidate()
            timer.first_ack = None
            t0 = time.perf_counter()
            result = await reconciler.reconcile(b, AT, None, POLICY)
            completed = getattr(result, "completed", None)  # a failed cycle returns a plain Outcome
            assert completed is not None and timer.first_ack is not None, result.status.conditions
            if i:  # the first also loads the markets
                latencies.append((timer.first_ack - t0) * 1000)
            hedged = b.model_copy(update={"status": result.status})
    finally:
        await live.close()
    latencies.sort()
    return {"n": len(latencies), "p50": round(statistics.median(latencies), 2),
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2)}


async def measure(book_counts: list[int], cycles: int, acks: int) -> dict[str, Any]:
    emu = Emulator(MarketReplay(), lambda: AT, {k: Credentials(SECRET, PASSPHRASE) for k in KEYS})
    async with serving(emu) as (app, url):
        return {"benchmark": "exchange_requests",
                "requests_per_cycle": await requests_per_cycle(url, app, book_counts, cycles),
                "trigger_to_ack_ms": await trigger_to_ack(url, acks, rate_limit=True),
                "trigger_to_ack_ms_unthrottled": await trigger_to_ack(url, acks, rate_limit=False)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--books", default="1,10,100")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--acks", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", action="store_true", help="store the figures in bench/results/exchange_requests.json")
    args = ap.parse_args()
    report = asyncio.run(measure([int(x) for x in args.books.split(",")], args.cycles, args.acks))
    if args.write:
        from _results import store

        store("exchange_requests", report)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("exchange requests per cycle, N books on one account (real ccxt → emulator on loopback):")
    for n, r in report["requests_per_cycle"].items():
        print(f"  {n:>4} books: {r:g} requests")
    for key, label in (("trigger_to_ack_ms", "ccxt rate limiter on"), ("trigger_to_ack_ms_unthrottled", "off")):
        t = report[key]
        print(f"trigger → acknowledged order, {label}, {t['n']} emergency cycles: p50 {t['p50']} ms, "
              f"p99 {t['p99']} ms")


if __name__ == "__main__":
    main()

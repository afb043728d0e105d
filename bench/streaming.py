"""Streaming (ccxt.pro websockets) against REST polling, side by side in one run: real ccxt and ccxt.pro against the
in-process OKX emulator on loopback, ccxt's rate limiter ON for both (as in production), the objects reconciled by
the operator's own composition root and the same wait-for-a-wake-or-the-tick loop its timers run (without kopf:
the status is carried in memory, so the operator's status patch and its watch round trip are not in the figures).

    python bench/streaming.py [--events 40] [--steady 60] [--maker 30] [--drops 5] [--poll-interval 5] [--json]
        [--write]

1. Emergency → ack: a Live HedgeBook (100 SOL, 3 ETH, hedged; Compact bands) on its own account; another client of
   the account fills a 10 SOL market order over the socket (10 % off the hedge, beyond the 5 % emergency band),
   alternately buying and selling. Timed from the moment that order is sent to the moment the book's correcting
   order is acknowledged. Streaming: the positions push wakes the book. Polling: the book sees it at its next
   check; the baseline at its fairest is checked every `--poll-interval` seconds (the policy's minimum that still
   leaves REST within OKX's limits; the default policy checks every 60 s) on a 1 s tick.
2. REST requests per account per minute in steady state: a book, a market maker and a carry pair on one account,
   prices replayed at wall pace, for `--steady` seconds: streaming against polling (operator defaults: 5 s tick).
3. Market-maker quote age at fill: one maker per venue while the replay runs at 60x (a 5-minute bar every 5 s), for
   `--maker` seconds; each fill's age is the wall time from the quote's acknowledgement to the fill's first sight,
   and its touch drift how far the mid had moved (bps) from the one the quote was priced on, just before the move
   that filled it (a stale quote is a far one: an old quote the touch never left is not stale). Streaming requotes
   when the touch moves beyond the tolerance or a quote fills; polling every intervalSeconds.
4. Recovery after a dropped connection (`--drops` times): the emulator closes every socket (code 4000) and the
   book is pushed beyond its emergency band during the gap. Measured: time untrusted (drop → the first trusted
   snapshot after the REST reconcile), orders that reached the socket while untrusted (the venue's own send counter
   between the drop and the return of trust: must be 0), and the correcting order's ack after trust returns
   (exactly one per gap).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.pro as ccxtpro

from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.funding import FundingArbitrage
from hedgeops.api.marketmaker import MarketMaker
from hedgeops.engine.common.controls import Controls
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.model.orders import OrderRequest, OrderState
from hedgeops.runtime.app import App, AppConfig, build_app
from hedgeops.runtime.clock import ReplayClock
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SECRET, PASSPHRASE = "bench-secret", "bench-pass"
SOL = "SOL/USDT:USDT"
D = Decimal


class Clock:
    def __init__(self) -> None:
        self.t = START

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


async def _secret(namespace: str, name: str) -> Mapping[str, str]:
    return {"apiKey": name, "secret": SECRET, "passphrase": PASSPHRASE}


def _exchange(account: str) -> dict[str, Any]:
    return {"name": "okx", "account": account, "credentialsSecretRef": {"name": account}}


def book(account: str) -> HedgeBook:
    return HedgeBook.model_validate({"kind": "HedgeBook", "metadata": {"name": f"book-{account}", "namespace":
                                                                       "default", "uid": f"uid-book-{account}"},
                                     "spec": {"mode": "Live", "exchange": _exchange(account),
                                              "holdings": {"source": "Static", "static": {"SOL": 100, "ETH": 3}},
                                              "legs": [{"asset": "SOL", "symbol": SOL},
                                                       {"asset": "ETH", "symbol": "ETH/USDT:USDT"}],
                                              "policyRef": {"name": "p"}}})


def policy(interval: int) -> RebalancePolicy:
    return RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"}, "spec": {
        "preset": "Compact", "checkIntervalSeconds": interval, "limits": {"maxRebalancesPerDay": 100_000}}})


def maker(account: str) -> MarketMaker:
    return MarketMaker.model_validate({"kind": "MarketMaker", "metadata": {"name": f"mm-{account}", "namespace":
                                                                           "default", "uid": f"uid-mm-{account}"},
                                       "spec": {"mode": "Live", "exchange": _exchange(account), "symbol": SOL,
                                                "spreadRatio": "0.002", "quantity": 1, "maxOrders": 1,
                                                "positionThreshold": 20, "maxPosition": 40, "stopLossQuote": -5000,
                                                "intervalSeconds": 10}})


def carry(account: str) -> FundingArbitrage:
    return FundingArbitrage.model_validate({"kind": "FundingArbitrage", "metadata": {
        "name": f"carry-{account}", "namespace": "default", "uid": f"uid-carry-{account}"}, "spec": {
        "mode": "Live", "exchange": _exchange(account), "pairs": [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"}],
        "capital": {"amountQuote": 10000}, "entry": {"minFundingRate": "0.00001"}, "exit": {"stopLossRatio": -0.02},
        "liquidity": {"minDepthQuote": 10000}}})


class Acks:
    """The account venue's place() wrapped: when each order was acknowledged."""

    def __init__(self, venue: Any) -> None:
        self.venue, self.inner = venue, venue.place
        self.times: list[tuple[float, str]] = []
        self.event = asyncio.Event()
        venue.place = self.place

    async def place(self, order: OrderRequest) -> OrderState:
        state = await self.inner(order)
        self.times.append((time.perf_counter(), order.client_order_id))
        self.event.set()
        return state

    async def next(self, timeout: float) -> float:
        await asyncio.wait_for(self.event.wait(), timeout)
        self.event.clear()
        return self.times[-1][0]


def app_for(url: str, streaming: bool) -> App:
    venues = Venues(PaperVenues(lambda: START), CcxtVenues(_secret, {"okx": url}, streaming=streaming,
                                                           rate_limit=True, snapshot_max_age_s=5.0))
    # The emulator replays 2025 on its own clock: the market-data age check is off (as in the operator's tests).
    return build_app(AppConfig(owner="bench", streaming=streaming, max_data_age_seconds=None), venues=venues)


async def run_loop(app: App, obj: Any, reconcile: Callable[..., Awaitable[Any]], inputs: Any, tick: float,
                   stop: asyncio.Event) -> None:
    """What the operator's timer does for one object: wait for a wake or the tick, then reconcile."""
    key = f"{obj.KIND}/default/{obj.metadata.name}"
    first = True
    while not stop.is_set():
        if app.wakeups is not None:
            woken = await app.wakeups.wait(key, tick, stop.wait)
        else:
            woken = None
            if not first:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), tick)
        first = False
        if stop.is_set():
            return
        out = await reconcile(obj, app.clock.now(), Controls(), inputs, woken)
        if out.changed:
            obj = obj.model_copy(update={"status": out.status})


def perp(emu: Emulator, key: str) -> Decimal:
    p = emu.account(key).venue.account.positions({}).get(SOL)
    return p.qty if p is not None else D(0)


async def until(fn: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not fn():
        if time.perf_counter() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.005)


def outsider(url: str, key: str) -> Any:
    """Another client of the account (a person, another bot) on OKX's websocket."""
    ex = ccxtpro.okx({"apiKey": key, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                      "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"}})
    ex.urls["api"] = {"rest": url, "ws": url.replace("http://", "ws://") + "/ws/v5"}
    return ex


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2) if ordered else float("nan")


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": round(statistics.median(values), 2) if values else float("nan"),
            "p99": pct(values, 0.99), "max": round(max(values), 2) if values else float("nan")}


async def rest_perp(client: Any) -> Decimal:
    """The account's SOL perp position, as the exchange says over REST (another client of the account)."""
    rows = await client.fetch_positions([SOL])
    return sum((D(str(r.get("contracts") or 0)) * (1 if r.get("side") == "long" else -1) for r in rows
                if r.get("symbol") == SOL), D(0))


async def until_async(fn: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.perf_counter() + timeout
    while not await fn():
        if time.perf_counter() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(every)


async def emergency_to_ack(url: str, streaming: bool, events: int, interval: int, spacing: float) -> dict[str, Any]:
    key = "stream-ack" if streaming else "poll-ack"
    app = app_for(url, streaming)
    b, stop = book(key), asyncio.Event()
    other = outsider(url, key)
    task = asyncio.ensure_future(run_loop(app, b, app.hedgebooks.reconcile, policy(interval), 1.0, stop))
    latencies: list[float] = []
    try:
        await other.load_markets()
        await until_async(lambda: _is(rest_perp(other), D(-100)), 60, "first hedge", 0.2)
        acct = await app.venues.account(b.spec.exchange, b.spec.mode, "default")
        acks = Acks(acct.venue)
        await asyncio.sleep(spacing)
        for i in range(events):
            side = "buy" if i % 2 == 0 else "sell"
            acks.event.clear()
            t0 = time.perf_counter()
            await other.create_order_ws(SOL, "market", side, 10)
            acked = await acks.next(interval + 30)
            latencies.append((acked - t0) * 1000)
            await asyncio.sleep(0.3)
            await until_async(lambda: _is(rest_perp(other), D(-100)), 30, "hedge restored", 0.2)
            await asyncio.sleep(spacing)
    finally:
        stop.set()
        await task
        await other.close()
        await app.close()
    return {"venue": "streaming" if streaming else f"polling every {interval} s", "event_to_ack_ms":
            summary(latencies)}


async def _is(value: Awaitable[Decimal], wanted: Decimal) -> bool:
    return await value == wanted


async def steady_requests(url: str, app_requests: Callable[[], int], clock: Clock, streaming: bool,
                          seconds: float) -> dict[str, Any]:
    key = "stream-steady" if streaming else "poll-steady"
    app = app_for(url, streaming)
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(run_loop(app, book(key), app.hedgebooks.reconcile, policy(60), 5.0, stop)),
             asyncio.ensure_future(run_loop(app, maker(key), app.marketmakers.reconcile, None, 5.0, stop)),
             asyncio.ensure_future(run_loop(app, carry(key), app.fundingarbitrages.reconcile, None, 5.0, stop))]
    try:
        await asyncio.sleep(15)  # the first cycles: markets, the first plans, the carry's entry
        before = app_requests()
        for _ in range(int(seconds / 0.1)):
            clock.advance(0.1)  # wall pace
            await asyncio.sleep(0.1)
        used = app_requests() - before
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await app.close()
    return {"venue": "streaming" if streaming else "polling (5 s tick)", "seconds": seconds,
            "rest_requests_per_minute": round(used * 60 / seconds, 1)}


async def quote_age_at_fill(url: str, emu: Emulator, clock: Clock, streaming: bool, seconds: float) -> dict[str, Any]:
    key = "stream-mm" if streaming else "poll-mm"
    app = app_for(url, streaming)
    mm, stop = maker(key), asyncio.Event()
    task = asyncio.ensure_future(run_loop(app, mm, app.marketmakers.reconcile, None, 1.0, stop))
    ages: list[float] = []
    drifts: list[float] = []
    inst = BY_SYMBOL[SOL]
    try:
        await until(lambda: bool(emu.account(key).ord_ids), 60, "first quotes")
        acct = await app.venues.account(mm.spec.exchange, mm.spec.mode, "default")
        acks = Acks(acct.venue)
        placed: dict[str, tuple[float, Decimal]] = {}
        seen: set[str] = set()
        venue = emu.account(key).venue
        for _ in range(int(seconds / 0.05)):
            before = emu.quote(inst)  # the touch a quote acknowledged now was priced on, and the one before a fill
            for t, cid in acks.times:
                placed.setdefault(cid, (t, (before.bid + before.ask) / 2))
            clock.advance(3.0)  # 60x: a 5-minute bar every 5 s
            await asyncio.sleep(0.05)
            for cid, (t, mid) in list(placed.items()):
                if cid in seen:
                    continue
                state = await venue.order(cid, SOL)
                if state is not None and state.filled > 0:
                    seen.add(cid)
                    ages.append(time.perf_counter() - t)
                    # How far the touch had moved from the one the quote was priced on, just before the move that
                    # filled it: what a requote would have corrected (a stale quote is a far one, not an old one).
                    drifts.append(float(abs((before.bid + before.ask) / 2 - mid) / mid * 10_000))
    finally:
        stop.set()
        await task
        await app.close()
    triggered = {s.labels["reason"]: int(s.value) for m in app.metrics.stream_cycles.collect() for s in m.samples
                 if s.name.endswith("_total")}
    return {"venue": "streaming" if streaming else "polling (intervalSeconds 10)", "seconds": seconds,
            "fills": len(ages), "quote_age_at_fill_s": summary(ages), "touch_drift_at_fill_bps": summary(drifts),
            "triggered_cycles": triggered}


async def recovery(url: str, drops: int) -> dict[str, Any]:
    key = "stream-drop"
    app = app_for(url, True)
    b, stop = book(key), asyncio.Event()
    other = ccxt_rest(url, key)
    task = asyncio.ensure_future(run_loop(app, b, app.hedgebooks.reconcile, policy(3600), 1.0, stop))
    untrusted_s: list[float] = []
    ack_after_s: list[float] = []
    orders_per_gap: list[int] = []
    sent_untrusted = 0
    try:
        await other.load_markets()
        await until_async(lambda: _is(rest_perp(other), D(-100)), 60, "first hedge", 0.2)
        acct = await app.venues.account(b.spec.exchange, b.spec.mode, "default")
        venue: Any = acct.venue
        acks = Acks(venue)
        # The socket sends counted at the instant trust returns (the venue's own notification, synchronous with the
        # flag): read by polling instead, the correcting order sent within the poll's 5 ms would count as untrusted.
        at_trust: list[int] = []
        venue.add_listener(lambda u: at_trust.append(venue.stats.ws_orders) if u.kind == "trust" and venue.trusted
                           else None)
        for i in range(drops):
            await asyncio.sleep(1.5)
            sent, sends = len(acks.times), venue.stats.ws_orders
            at_trust.clear()
            t0 = time.perf_counter()
            status, answer = await control(url, "/emulator/ws/drop", {"code": 4000}, key)
            assert status == 200, answer
            await until(lambda: not venue.trusted, 10, "untrusted after the drop")
            # Unhedged during the gap by another client over REST (which still answers).
            await other.create_order(SOL, "market", "buy" if i % 2 == 0 else "sell", 10)
            await until(lambda: venue.trusted, 30, "trusted again")
            t_trusted = time.perf_counter()
            sent_untrusted += at_trust[0] - sends
            untrusted_s.append(t_trusted - t0)
            await until(lambda a=acks, n=sent: len(a.times) > n, 30, "the correcting order acknowledged")
            ack_after_s.append(acks.times[-1][0] - t_trusted)
            await until_async(lambda: _is(rest_perp(other), D(-100)), 30, "hedge restored after the gap", 0.2)
            await asyncio.sleep(1.0)
            orders_per_gap.append(len(acks.times) - sent)
    finally:
        stop.set()
        await task
        await other.close()
        await app.close()
    return {"drops": drops, "untrusted_s": summary(untrusted_s), "ack_after_trust_s": summary(ack_after_s),
            "orders_sent_while_untrusted": sent_untrusted,
            "orders_per_gap": orders_per_gap}


def ccxt_rest(url: str, key: str) -> Any:
    import ccxt.async_support as ccxt_async

    ex = ccxt_async.okx({"apiKey": key, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                         "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"}})
    ex.urls["api"] = {"rest": url}
    return ex


async def control(url: str, path: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    """The emulator's signed test controls (POST /emulator/ws/*), signed as an OKX private call."""
    text = json.dumps(body)
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sign = base64.b64encode(hmac.new(SECRET.encode(), f"{stamp}POST{path}{text}".encode(), hashlib.sha256)
                            .digest()).decode()
    headers = {"OK-ACCESS-KEY": key, "OK-ACCESS-SIGN": sign, "OK-ACCESS-TIMESTAMP": stamp,
               "OK-ACCESS-PASSPHRASE": PASSPHRASE, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.post(url + path, data=text, headers=headers) as resp:
        return resp.status, await resp.text()


KEYS = [f"{m}-{what}" for m in ("stream", "poll") for what in ("ack", "steady", "mm")] + ["stream-drop"]


async def serve_emulator() -> None:
    """The emulator in its own process (`--serve`): an exchange's latency must not share our event loop. Wall-paced
    replay, test controls on; prints its URL, serves until stdin closes."""
    clock = ReplayClock(START, 1.0)
    emu = Emulator(MarketReplay(), clock.now, {k: Credentials(SECRET, PASSPHRASE) for k in KEYS})
    await emu.account("__warm__").venue.snapshot([SOL, "ETH/USDT:USDT", "ETH/USDT"])
    async with serving(emu, controls=True) as (_app, url):
        print(url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def remote_emulator() -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 120)
    return proc, line.decode().strip()


async def stop_remote(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"benchmark": "streaming", "rate_limiter": "on"}
    # Latency: the exchange in another process, so its own work does not sit in our event loop.
    proc, url = await remote_emulator()
    try:
        report["emergency_to_ack"] = [
            await emergency_to_ack(url, True, args.events, args.poll_interval, 1.2),
            await emergency_to_ack(url, False, max(2, args.events // 4), args.poll_interval, 1.2)]
        report["recovery"] = await recovery(url, args.drops)
    finally:
        await stop_remote(proc)
    # Counts and seconds: in process, on a clock the bench moves.
    clock = Clock()
    emu = Emulator(MarketReplay(), clock, {k: Credentials(SECRET, PASSPHRASE) for k in KEYS})
    async with serving(emu) as (app, local):
        await emu.account("__warm__").venue.snapshot([SOL, "ETH/USDT:USDT", "ETH/USDT"])
        report["steady_state"] = [await steady_requests(local, lambda: app.requests, clock, s, args.steady)
                                  for s in (True, False)]
        report["maker"] = [await quote_age_at_fill(local, emu, clock, s, args.maker) for s in (True, False)]
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--events", type=int, default=40)
    ap.add_argument("--steady", type=float, default=60.0)
    ap.add_argument("--maker", type=float, default=30.0)
    ap.add_argument("--drops", type=int, default=5)
    ap.add_argument("--poll-interval", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", action="store_true", help="store the figures in bench/results/streaming.json")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the emulator's own process
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve_emulator())
        return
    report = asyncio.run(measure(args))
    if args.write:
        from _results import store

        store("streaming", report)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("streaming vs polling, real ccxt/ccxt.pro → the OKX emulator on loopback, rate limiter on")
    for r in report["emergency_to_ack"]:
        t = r["event_to_ack_ms"]
        print(f"  emergency → ack, {r['venue']}: {t['n']} events, p50 {t['p50']} ms, p99 {t['p99']} ms, "
              f"max {t['max']} ms")
    for r in report["steady_state"]:
        print(f"  steady state, {r['venue']}: {r['rest_requests_per_minute']} REST requests/min per account "
              f"(book + market maker + carry, {r['seconds']:g} s)")
    for r in report["maker"]:
        a = r["quote_age_at_fill_s"]
        d = r["touch_drift_at_fill_bps"]
        print(f"  maker quote age at fill, {r['venue']}: {r['fills']} fills, p50 {a['p50']} s, p99 {a['p99']} s; "
              f"touch moved since the quote, at fill: p50 {d['p50']} bps, max {d['max']} bps")
    rec = report["recovery"]
    print(f"  dropped connection × {rec['drops']}: untrusted p50 {rec['untrusted_s']['p50']} s "
          f"(max {rec['untrusted_s']['max']} s), orders sent while untrusted {rec['orders_sent_while_untrusted']}, "
          f"orders per gap {rec['orders_per_gap']}, correcting ack {rec['ack_after_trust_s']['p50']} s after trust")


if __name__ == "__main__":
    main()

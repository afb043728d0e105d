"""The fault suite: every kind through every fault, trading Live through real ccxt to the in-process OKX emulator,
with a real redis-server for locks, journal and intents (issue 13, "Done means").

    python bench/faults.py [--json] [--write] [--kinds hedgebook,allocation,carry,marketmaker] [--faults 429,5xx,...]

Kinds: a HedgeBook (Hedge objective: SOL and ETH held, their perps short), a HedgeBook (Allocation objective:
BTC/ETH/USDT weights on spot), a FundingArbitrage (ETH cash and carry) and a MarketMaker (SOL perp). Each
(kind, fault) runs on its own exchange account and namespace, in a fresh "process" (its own CcxtVenues, Services
and reconcilers; rate limiter off, snapshot cache off), the runtime reconcilers called directly, one cycle every
5 minutes of a clock the emulator shares (the feed is that clock). Cycle 0 starts from an empty account, so every
kind has a plan of several orders to send; the fault strikes in cycle 0 and stays on for `--hold` more cycles
(the fault window), is cleared, and cycles run until the object is Ready=True and at its target again.

Faults and where they strike:
- 429, 5xx, timeout: every request (timeout: every private one, answered after the ccxt timeout with the work
  done) fails from the moment the first order of cycle 0 was accepted (mid-plan) until cleared.
- partial-fill, reject: every fill executes half / every new order is refused (51008) in the window.
- stale-data: the emulator's clock (its tickers' stamps) stands still while the cycles' clock goes on past
  Services.max_data_age_s: a frozen feed.
- redis-down: the redis-server is terminated mid-plan (after the first order), restarted (append-only file, as
  the chart runs it) when the window ends.
- redis-oom: CONFIG SET maxmemory 1 with noeviction mid-plan; every write is refused until restored.
- api-down: the Secret reader raises ConnectionError. Reading the credentials Secret through the API server is
  the only API-server call a cycle makes at the runtime level (a status that cannot be written after a cycle is
  a process whose work is lost: the sigkill case).
- sigkill: cycle 0 dies after its first order (nothing after it runs: no status written, no lock released); a
  new process (new CcxtVenues, Services and owner, same Redis, same emulator) starts once the dead one's lock
  has expired and continues from the object's last written status.

Figures per (kind, fault), each promised zero except the last:
- unsafe: orders the emulator accepted while the fault made trading unsafe (stale data, Redis down or out of
  memory, API server down); "n/a" for the other faults, whose window is not unsafe by definition.
- dup: duplicate orders: a client order id journalled as accepted twice, a plan leg whose orders filled more
  than the leg (a maker and a taker both filled), or a position beyond the target (a leg re-sent under a new
  plan: hedge beyond the holding, carry legs beyond the pair's capital, quotes beyond maxOrders a side).
- orphans: orders open on the venue after recovery that the object's status (working plan, quotes) does not know.
- recover: cycles after the fault cleared until Ready=True and at target (hedge within band of the holdings,
  weights within drift, both carry legs open, every quote resting); "never" within --max-recovery is broken.

The JSON also says where each fault struck ("mid-plan", "cycle-start", or "between-cycles" when cycle 0 failed
before its first order, so the mid-plan case was not exercised) and the Ready=False reasons the object reported.

It exits 0 even when a promise is broken (a bench reports, it does not assert): broken rows say BROKEN and the
JSON has a "broken" list. Without redis-server it exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as aioredis

from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.common import Condition, Mode
from hedgeops.api.funding import FundingArbitrage, Phase
from hedgeops.api.marketmaker import MarketMaker
from hedgeops.engine.carry.rules import pair_notional
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Account as EmuAccount
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.model.orders import OrderRequest, OrderState
from hedgeops.runtime.app import App, AppConfig, build_app
from hedgeops.runtime.journal import RedisJournal, journal_stream
from hedgeops.runtime.locks import Lease, RedisLocks
from hedgeops.runtime.venues import CcxtVenues

D = Decimal
START = datetime(2025, 1, 2, 0, 0, tzinfo=UTC)  # ETH funding positive then: the carry enters at once
# One cycle every 5 minutes of the shared clock, on the replay's bar boundaries: the emulator stamps a ticker with
# the end of the 5-minute bar it replays, so only there is its quote as fresh as a live exchange's (a cycle one
# minute into a bar would find every quote 60 s old, past MAX_DATA_AGE_S, and stop as StaleMarketData).
STEP_S = 300.0
SECRET, PASSPHRASE = "faults-secret", "faults-pass"
LOCK_TTL_S = 1.0  # short, so a dead process's lock frees within the run (the operator's default is 30 s)
CCXT_TIMEOUT_MS = 1500
EXCHANGE_TIMEOUT_S = 2.0  # what a timed-out request waits before its (late) answer: beyond ccxt's timeout
MAX_DATA_AGE_S = 30.0  # the operator's default
BIG = 10**9  # a fault counter that does not run out within the window

KINDS = ("hedgebook", "allocation", "carry", "marketmaker")
FAULTS = ("429", "5xx", "timeout", "partial-fill", "reject", "stale-data", "redis-down", "redis-oom", "api-down",
          "sigkill")
UNSAFE = {"stale-data", "redis-down", "redis-oom", "api-down"}  # trading must stop in these windows
MID_PLAN = {"429", "5xx", "timeout", "redis-down", "redis-oom"}  # strike after cycle 0's first order

HEDGE_HELD = {"SOL": D(100), "ETH": D(3)}
HEDGE_LEGS = {"SOL": "SOL/USDT:USDT", "ETH": "ETH/USDT:USDT"}
ALLOC_TARGETS = {"BTC": D("0.4"), "ETH": D("0.3"), "USDT": D("0.3")}
ALLOC_DRIFT = D("0.05")
CARRY_SPOT, CARRY_PERP = "ETH/USDT", "ETH/USDT:USDT"
MM_SYMBOL, MM_LAYERS = "SOL/USDT:USDT", 2


class Killed(BaseException):
    """SIGKILL as the code after it sees it: nothing more runs (not even `except Exception`)."""


# ---- the world: one clock, one emulator, one redis-server --------------------------------------------------


class Clock:
    """The cycles' clock; the emulator reads `exchange`, which stands still while the feed is frozen."""

    def __init__(self, start: datetime) -> None:
        self.t = start
        self.frozen: datetime | None = None

    def exchange(self) -> datetime:
        return self.frozen or self.t

    def monotonic(self) -> float:  # the Secret cache's TTL runs on the cycles' clock: one read per cycle
        return self.t.timestamp()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server on a loopback port, with an append-only file so a restart keeps locks and intents."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.proc is not None:
            return
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@dataclass
class World:
    clock: Clock
    emu: Emulator
    url: str
    redis: RedisServer
    client: aioredis.Redis
    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    api_down: bool = False

    async def read_secret(self, namespace: str, name: str) -> Mapping[str, str]:
        if self.api_down:
            raise ConnectionError("the Kubernetes API server is unreachable")
        return dict(self.secrets[(namespace, name)])


@dataclass
class Process:
    """What one operator process holds: its clients, lock handle and reconcilers, built by the operator's own
    composition root (runtime/app.py) around venues pointed at the emulator."""

    live: CcxtVenues
    locks: RedisLocks
    app: App

    async def venue(self, namespace: str, ref: Any) -> CcxtVenue:
        venue = (await self.live.account(ref, Mode.LIVE, namespace)).venue
        assert isinstance(venue, CcxtVenue)
        return venue


def process(world: World, owner: str) -> Process:
    live = CcxtVenues(world.read_secret, {"okx": world.url}, timeout_ms=CCXT_TIMEOUT_MS, snapshot_max_age_s=0,
                      rate_limit=False, monotonic=world.clock.monotonic)
    # Unscheduled: the driver decides when each object cycles (every call is a cycle).
    app = build_app(AppConfig(owner=owner, lock_ttl_seconds=LOCK_TTL_S, max_data_age_seconds=MAX_DATA_AGE_S,
                              scheduled=False), venues=live, redis=world.client)
    locks = app.services.locks
    assert isinstance(locks, RedisLocks)
    return Process(live, locks, app)


# ---- the objects: how each kind is stepped and when it is back at its target ------------------------------


def _ready(conditions: list[Condition]) -> tuple[bool, str, str]:
    """Ready's status, reason and message."""
    c = next((c for c in conditions if c.type == "Ready"), None)
    return (False, "", "") if c is None else (c.status.value == "True", c.reason, c.message)


def _exchange(namespace: str) -> dict[str, Any]:
    return {"name": "okx", "account": namespace, "credentialsSecretRef": {"name": "creds"}}


def _meta(namespace: str, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", "generation": 1}


class Driver(Protocol):
    kind: str
    namespace: str

    @property
    def ref(self) -> Any: ...

    @property
    def stream(self) -> str: ...

    def status(self) -> Any: ...

    def restore(self, status: Any) -> None: ...

    async def cycle(self, proc: Process, now: datetime) -> tuple[bool, str, str]: ...

    async def at_target(self, acct: EmuAccount) -> bool: ...

    def known_open(self) -> set[str]: ...

    async def overshoot(self, acct: EmuAccount) -> int: ...


class HedgeDriver:
    kind = "HedgeBook"

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.obj = HedgeBook.model_validate({"kind": "HedgeBook", "metadata": _meta(namespace, "book"), "spec": {
            "mode": "Live", "exchange": _exchange(namespace),
            "holdings": {"source": "Static", "static": {k: str(v) for k, v in HEDGE_HELD.items()}},
            "legs": [{"asset": a, "symbol": s} for a, s in HEDGE_LEGS.items()], "policyRef": {"name": "p"}}})
        self.policy = RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"}, "spec": {
            "preset": "Compact", "minOrder": {"SOL": 0.05, "ETH": 0.005},
            "limits": {"maxRebalancesPerDay": 100_000}}})

    @property
    def ref(self) -> Any:
        return self.obj.spec.exchange

    @property
    def stream(self) -> str:
        return journal_stream("HedgeBook", self.obj.key)

    def status(self) -> Any:
        return self.obj.status

    def restore(self, status: Any) -> None:
        self.obj = self.obj.model_copy(update={"status": status})

    async def cycle(self, proc: Process, now: datetime) -> tuple[bool, str, str]:
        res = await proc.app.hedgebooks.reconcile(self.obj, now, None, self.policy)
        self.restore(res.status)
        return _ready(res.status.conditions)

    def _bands(self) -> dict[str, Decimal]:
        st = self.obj.status
        return {e.asset: e.bandRatio for e in st.exposures if e.bandRatio is not None} if st is not None else {}

    async def at_target(self, acct: EmuAccount) -> bool:
        st = self.obj.status
        if st is None or not _ready(st.conditions)[0] or st.workingPlan is not None:
            return False
        positions, bands = acct.venue.account.positions({}), self._bands()
        for asset, symbol in HEDGE_LEGS.items():
            pos = positions.get(symbol)
            qty = pos.qty if pos else D(0)
            if asset not in bands or abs(qty + HEDGE_HELD[asset]) > bands[asset] * HEDGE_HELD[asset]:
                return False
        return True

    def known_open(self) -> set[str]:
        st = self.obj.status
        plan = st.workingPlan if st is not None else None
        return {o.clientOrderId for o in plan.orders} if plan is not None else set()

    async def overshoot(self, acct: EmuAccount) -> int:
        """Legs hedged beyond their holding by more than the band: a leg sent twice."""
        positions, bands = acct.venue.account.positions({}), self._bands()
        out = 0
        for asset, symbol in HEDGE_LEGS.items():
            pos = positions.get(symbol)
            if pos is not None and -pos.qty > HEDGE_HELD[asset] * (1 + bands.get(asset, D("0.05"))):
                out += 1
        return out


class AllocationDriver(HedgeDriver):
    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.obj = HedgeBook.model_validate({"kind": "HedgeBook", "metadata": _meta(namespace, "alloc"), "spec": {
            "mode": "Live", "exchange": _exchange(namespace),
            "holdings": {"source": "ExchangeBalance", "exchangeBalance": {"assets": list(ALLOC_TARGETS)}},
            "legs": [], "policyRef": {"name": "p"},
            "objective": {"type": "Allocation", "targetWeights": {k: str(v) for k, v in ALLOC_TARGETS.items()}}}})
        self.policy = RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"}, "spec": {
            "preset": "Compact", "execution": {"normal": "Taker"}, "allocation": {"driftRatio": str(ALLOC_DRIFT)},
            "limits": {"maxRebalancesPerDay": 100_000}}})

    async def _weights(self, acct: EmuAccount) -> dict[str, Decimal]:
        snap = await acct.venue.snapshot([f"{a}/USDT" for a in ALLOC_TARGETS if a != "USDT"])
        values = {a: snap.balances.get(a, D(0)) * (snap.quotes[f"{a}/USDT"].bid if a != "USDT" else D(1))
                  for a in ALLOC_TARGETS}
        total = sum(values.values(), D(0))
        return {a: v / total for a, v in values.items()} if total else {}

    async def at_target(self, acct: EmuAccount) -> bool:
        st = self.obj.status
        if st is None or not _ready(st.conditions)[0] or st.workingPlan is not None:
            return False
        weights = await self._weights(acct)
        return bool(weights) and all(abs(weights[a] - w) <= ALLOC_DRIFT for a, w in ALLOC_TARGETS.items())

    async def overshoot(self, acct: EmuAccount) -> int:
        """Assets bought beyond twice their drift past the target weight: a buy sent twice."""
        weights = await self._weights(acct)
        return sum(1 for a, w in ALLOC_TARGETS.items() if a != "USDT" and weights.get(a, D(0)) > w + 2 * ALLOC_DRIFT)


class CarryDriver:
    kind = "FundingArbitrage"

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.obj = FundingArbitrage.model_validate({"kind": "FundingArbitrage", "metadata": _meta(namespace, "eth"),
                                                    "spec": {
            "mode": "Live", "exchange": _exchange(namespace), "pairs": [{"spot": CARRY_SPOT, "perp": CARRY_PERP}],
            "capital": {"amountQuote": "10000"}, "exit": {"stopLossRatio": "-0.02"},
            "entry": {"minFundingRate": "0.00001"}}})

    @property
    def ref(self) -> Any:
        return self.obj.spec.exchange

    @property
    def stream(self) -> str:
        return journal_stream("FundingArbitrage", self.obj.key)

    def status(self) -> Any:
        return self.obj.status

    def restore(self, status: Any) -> None:
        self.obj = self.obj.model_copy(update={"status": status})

    async def cycle(self, proc: Process, now: datetime) -> tuple[bool, str, str]:
        res = await proc.app.fundingarbitrages.reconcile(self.obj, now)
        self.restore(res.status)
        return _ready(res.status.conditions)

    async def at_target(self, acct: EmuAccount) -> bool:
        st = self.obj.status
        return (st is not None and _ready(st.conditions)[0] and bool(st.legs)
                and all(leg.phase is Phase.OPEN and leg.spotQty > 0 and leg.perpQty == -leg.spotQty
                        for leg in st.legs))

    def known_open(self) -> set[str]:
        return set()  # the carry sends market orders only: nothing of its own may rest

    async def overshoot(self, acct: EmuAccount) -> int:
        """Either leg beyond the pair's capital share by 20% (an entry sent twice), or the perp beyond the spot."""
        snap = await acct.venue.snapshot([CARRY_SPOT, CARRY_PERP])
        spot = snap.balances.get("ETH", D(0))
        pos = snap.positions.get(CARRY_PERP)
        perp = -pos.qty if pos else D(0)
        cap = pair_notional(self.obj.spec, 1) / snap.quotes[CARRY_PERP].last * D("1.2")
        return sum(1 for qty in (spot, perp) if qty > cap) + (1 if perp > spot * D("1.02") + D("0.01") else 0)


class MakerDriver:
    kind = "MarketMaker"

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.obj = MarketMaker.model_validate({"kind": "MarketMaker", "metadata": _meta(namespace, "sol"), "spec": {
            "mode": "Live", "exchange": _exchange(namespace), "symbol": MM_SYMBOL,
            "spreadRatio": "0.01", "quantity": "1", "maxOrders": MM_LAYERS, "positionThreshold": "3",
            "maxPosition": "5", "stopLossQuote": "-100", "intervalSeconds": int(STEP_S)}})

    @property
    def ref(self) -> Any:
        return self.obj.spec.exchange

    @property
    def stream(self) -> str:
        return journal_stream("MarketMaker", self.obj.key)

    def status(self) -> Any:
        return self.obj.status

    def restore(self, status: Any) -> None:
        self.obj = self.obj.model_copy(update={"status": status})

    async def cycle(self, proc: Process, now: datetime) -> tuple[bool, str, str]:
        res = await proc.app.marketmakers.reconcile(self.obj, now)
        self.restore(res.status)
        return _ready(res.status.conditions)

    async def at_target(self, acct: EmuAccount) -> bool:
        st = self.obj.status
        if st is None or not _ready(st.conditions)[0] or st.reason != "Quoting":
            return False
        resting = {o.client_order_id for o in acct.venue.account.open_orders()}
        known = self.known_open()
        return len(known) == 2 * MM_LAYERS and known <= resting

    def known_open(self) -> set[str]:
        st = self.obj.status
        return {str(q["clientOrderId"]) for q in st.quotes} if st is not None else set()

    async def overshoot(self, acct: EmuAccount) -> int:
        """Quotes resting beyond maxOrders a side: a quote sent twice."""
        sides = Counter(o.side for o in acct.venue.account.open_orders())
        return sum(max(0, n - MM_LAYERS) for n in sides.values())


DRIVERS: dict[str, Callable[[str], Driver]] = {"hedgebook": HedgeDriver, "allocation": AllocationDriver,
                                              "carry": CarryDriver, "marketmaker": MakerDriver}


# ---- faults -------------------------------------------------------------------------------------------------


def fault_switch(world: World, fault: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """(arm, clear) for one fault."""
    faults = world.emu.faults
    armed: list[bool] = []

    async def arm() -> None:
        armed.append(True)
        if fault == "429":
            faults.rate_limited = BIG
        elif fault == "5xx":
            faults.maintenance = BIG
        elif fault == "timeout":
            faults.timeouts = BIG
        elif fault == "partial-fill":
            faults.partial_fills = BIG
        elif fault == "reject":
            faults.rejects = BIG
        elif fault == "stale-data":
            world.clock.frozen = world.clock.t
        elif fault == "redis-down":
            world.redis.stop()
        elif fault == "redis-oom":
            await world.client.config_set("maxmemory-policy", "noeviction")
            await world.client.config_set("maxmemory", "1")
        elif fault == "api-down":
            world.api_down = True

    async def clear() -> None:  # idempotent: the scenario clears again on its way out, whatever happened
        faults.rate_limited = faults.maintenance = faults.timeouts = faults.partial_fills = faults.rejects = 0
        world.clock.frozen = None
        world.api_down = False
        if fault == "redis-down":
            world.redis.start()
        elif fault == "redis-oom" and armed:
            await world.client.config_set("maxmemory", "0")
        armed.clear()

    return arm, clear


def after_orders(venue: CcxtVenue, n: int, then: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Once the venue has accepted `n` orders, run `then` (inside that cycle, before its next step). Returns the
    undo (the venue as it was)."""
    place, sent = venue.place, [0]

    async def placing(order: OrderRequest) -> OrderState:
        state = await place(order)
        sent[0] += 1
        if sent[0] == n:
            venue.place = place  # type: ignore[method-assign]
            await then()
        return state

    venue.place = placing  # type: ignore[method-assign]

    def undo() -> None:
        venue.place = place  # type: ignore[method-assign]

    return undo


def dying_after(venue: CcxtVenue, n: int) -> None:
    """The process dies at the order after the first `n`."""
    place, sent = venue.place, [0]

    async def dying(order: OrderRequest) -> OrderState:
        if sent[0] == n:
            raise Killed
        sent[0] += 1
        return await place(order)

    venue.place = dying  # type: ignore[method-assign]


# ---- one (kind, fault) ------------------------------------------------------------------------------------------


@dataclass
class Row:
    kind: str
    fault: str
    struck: str  # mid-plan (after cycle 0's first order), cycle-start, or between-cycles (cycle 0 sent nothing)
    orders_sent_while_unsafe: int | None
    duplicate_orders: int
    orphan_orders: int
    cycles_to_recover: int | None
    reasons: dict[str, str]  # Ready=False reasons seen, with the first message of each
    broken: list[str]
    errors: list[str]

    @property
    def verdict(self) -> str:
        return "BROKEN" if self.broken else "ok"


async def _step(driver: Driver, proc: Process, world: World, reasons: dict[str, str], errors: list[str]) -> None:
    world.clock.t += timedelta(seconds=STEP_S)
    try:
        ready, reason, message = await driver.cycle(proc, world.clock.t)
    except Exception as exc:  # a cycle must never raise: that is a finding, recorded, and the run goes on
        errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
        return
    if not ready:
        reasons.setdefault(reason, message[:200])


async def _duplicates(world: World, driver: Driver, acct: EmuAccount) -> int:
    accepted = Counter(e.get("clientOrderId") for _, e in await RedisJournal(world.client).read(driver.stream, 10_000)
                       if e.get("type") == "order" and e.get("outcome") == "accepted")
    twice = sum(n - 1 for n in accepted.values() if n > 1)
    legs: dict[str, list[OrderState]] = {}
    for cid, state in acct.venue.account.orders.items():
        if cid in acct.ord_ids and cid.startswith("ho"):
            legs.setdefault(cid[:-1], []).append(state)  # one plan leg: its maker (m) and taker (t) ids
    overfilled = sum(len(states) - 1 for states in legs.values()
                     if sum((s.filled for s in states), D(0)) > max(s.amount for s in states))
    return twice + overfilled + await driver.overshoot(acct)


async def scenario(world: World, kind: str, fault: str, hold: int, max_recovery: int) -> Row:
    namespace = f"{kind}-{fault}"
    world.emu.keys[namespace] = Credentials(SECRET, PASSPHRASE)  # its own exchange account
    world.secrets[(namespace, "creds")] = {"apiKey": namespace, "secret": SECRET, "passphrase": PASSPHRASE}
    acct = world.emu.account(namespace)
    driver = DRIVERS[kind](namespace)
    arm, clear = fault_switch(world, fault)
    reasons: dict[str, str] = {}
    errors: list[str] = []
    # Each fault in its own two hours of replay, the same whichever kinds and faults run: a subset's figures are
    # the full run's.
    world.clock.t = START + timedelta(hours=2 * FAULTS.index(fault))
    proc = process(world, f"{namespace}-1")
    venue = await proc.venue(namespace, driver.ref)
    opened: list[int] = []
    closed = 0
    struck = "mid-plan"  # sigkill: the process dies after cycle 0's first order

    async def strike() -> None:
        await arm()
        opened.append(len(acct.ord_ids))

    try:
        if fault == "sigkill":
            before = driver.status()
            dying_after(venue, 1)

            async def no_release(lease: Lease) -> None:  # a dead process releases nothing
                return None

            proc.locks.release = no_release  # type: ignore[method-assign]
            with contextlib.suppress(Killed):
                await _step(driver, proc, world, reasons, errors)
            driver.restore(before)  # its status was never written
            await proc.live.close()
            await asyncio.sleep(LOCK_TTL_S * 1.2)  # the dead process's lock runs out
            proc = process(world, f"{namespace}-2")
        else:
            undo = after_orders(venue, 1, strike) if fault in MID_PLAN else None
            if undo is None:
                await strike()
            await _step(driver, proc, world, reasons, errors)
            if undo is not None:
                undo()
            struck = "mid-plan" if undo is not None else "cycle-start"
            if not opened:  # no order in cycle 0 (it failed before one): the fault strikes after it
                struck = "between-cycles"
                await strike()
            for _ in range(hold):
                await _step(driver, proc, world, reasons, errors)
            closed = len(acct.ord_ids)
            await clear()
        recovered = None
        for k in range(1, max_recovery + 1):
            await _step(driver, proc, world, reasons, errors)
            if await driver.at_target(acct):
                recovered = k
                break
        unsafe = closed - opened[0] if fault in UNSAFE else None
        orphans = len({o.client_order_id for o in acct.venue.account.open_orders()} - driver.known_open())
        dups = await _duplicates(world, driver, acct)
    finally:
        await clear()
        await proc.live.close()
    broken = [*(["orders sent while unsafe"] if unsafe else []), *(["duplicate orders"] if dups else []),
              *(["orphan orders"] if orphans else []),
              *([f"not recovered within {max_recovery} cycles"] if recovered is None else []),
              *([f"a cycle raised: {e}" for e in errors])]
    return Row(kind, fault, struck, unsafe, dups, orphans, recovered, reasons, broken, errors)


async def run(kinds: list[str], faults: list[str], hold: int, max_recovery: int, workdir: Path,
              binary: str) -> list[Row]:
    server = RedisServer(binary, workdir)
    server.start()
    client = aioredis.Redis.from_url(server.url, socket_timeout=2.0, socket_connect_timeout=2.0)
    clock = Clock(START)
    emu = Emulator(MarketReplay(), clock.exchange, {})
    emu.faults.timeout_seconds = EXCHANGE_TIMEOUT_S
    for inst in OKX_INSTRUMENTS.values():  # load every replayed series now, not inside a cycle's first request
        emu.quote(inst)
        emu.volume_24h(inst)
    rows = []
    try:
        async with serving(emu) as (_, url):
            world = World(clock, emu, url, server, client)
            for kind in kinds:
                for fault in faults:
                    rows.append(await scenario(world, kind, fault, hold, max_recovery))
                    print(f"  {kind:<12} {fault:<13} {rows[-1].verdict}", file=sys.stderr)
    finally:
        await client.aclose()
        server.stop()
    return rows


def _cell(x: int | None, none: str) -> str:
    return none if x is None else str(x)


def _list(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad) or '(none given)'}; choose from "
                                         f"{','.join(allowed)}")
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--kinds", type=lambda s: _list(s, KINDS, "kind"), default=list(KINDS))
    ap.add_argument("--faults", type=lambda s: _list(s, FAULTS, "fault"), default=list(FAULTS))
    ap.add_argument("--hold", type=int, default=2, help="cycles the fault stays on after cycle 0 (default 2)")
    ap.add_argument("--max-recovery", type=int, default=10, help="cycles allowed to recover (default 10)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", action="store_true", help="store the figures in bench/results/faults.json")
    args = ap.parse_args()
    if args.hold < 0 or args.max_recovery < 1:
        ap.error("--hold must be >= 0 and --max-recovery >= 1")
    binary = shutil.which("redis-server")
    if binary is None:
        print("faults: redis-server is not installed (apt-get install redis-server; `make test` does it)",
              file=sys.stderr)
        sys.exit(2)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hedgeops-faults-") as workdir:
        rows = asyncio.run(run(args.kinds, args.faults, args.hold, args.max_recovery, Path(workdir), binary))
    wall = time.perf_counter() - t0
    broken = [f"{r.kind}/{r.fault}: {'; '.join(r.broken)}" for r in rows if r.broken]
    report = {"benchmark": "faults", "kinds": args.kinds, "faults": args.faults, "hold": args.hold,
              "wall_seconds": round(wall, 1),
              "results": [{"kind": r.kind, "fault": r.fault, "struck": r.struck,
                           "orders_sent_while_unsafe": r.orders_sent_while_unsafe,
                           "duplicate_orders": r.duplicate_orders, "orphan_orders": r.orphan_orders,
                           "cycles_to_recover": r.cycles_to_recover, "verdict": r.verdict,
                           "not_ready_reasons": r.reasons, "broken": r.broken} for r in rows],
              "broken": broken}
    if args.write:
        from _results import store

        store("faults", report)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"fault suite: {len(rows)} runs in {wall:.1f} s (real ccxt → emulator, real redis-server; fault on for "
          f"cycle 0 + {args.hold}; promised: unsafe 0, dup 0, orphans 0, recovery within {args.max_recovery})")
    print(f"{'kind':<12} {'fault':<13} {'unsafe':>6} {'dup':>4} {'orphans':>7} {'recover':>7}  verdict  not ready as")
    for r in rows:
        print(f"{r.kind:<12} {r.fault:<13} {_cell(r.orders_sent_while_unsafe, 'n/a'):>6} {r.duplicate_orders:>4} "
              f"{r.orphan_orders:>7} {_cell(r.cycles_to_recover, 'never'):>7}  {r.verdict:<7}  "
              f"{', '.join(r.reasons) or '-'}")
    for b in broken:
        print(f"BROKEN {b}")


if __name__ == "__main__":
    main()

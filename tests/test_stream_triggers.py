"""Event-driven reconciles: the wake-ups' rate cap and timing (runtime/wakeups.py), the triggers evaluating probes
on stream updates (runtime/triggers.py), and each kind's probe on live snapshots (runtime/probes.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.funding import FundingArbitrage, FundingArbitrageStatus
from hedgeops.api.hedgebook import HedgeBookStatus
from hedgeops.api.marketmaker import MarketMaker, MarketMakerStatus
from hedgeops.engine.common.controls import Controls
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import AccountSnapshot, OrderState, OrderStatus, OrderType, Position, Side
from hedgeops.runtime.probes import book_probe, carry_probe, maker_probe
from hedgeops.runtime.triggers import StreamTriggers, streams
from hedgeops.runtime.wakeups import Wake, Wakeups

D = Decimal
AT = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
SOL, ETH = "SOL/USDT:USDT", "ETH/USDT:USDT"
MARKETS = {SOL: MarketRules(SOL, "SOL", "USDT", D("0.01"), D("0.01"), D("0.01"), linear_swap=True),
           ETH: MarketRules(ETH, "ETH", "USDT", D("0.001"), D("0.01"), D("0.001"), linear_swap=True)}


def snap(positions: dict[str, str] | None = None, prices: dict[str, str] | None = None,
         orders: tuple[OrderState, ...] = ()) -> AccountSnapshot:
    prices = prices or {SOL: "150", ETH: "2500"}
    quotes = {s: Quote(s, D(p) - D("0.01"), D(p) + D("0.01"), D(p), AT) for s, p in prices.items()}
    return AccountSnapshot(AT, quotes, {s: Position(s, D(q), D(prices[s]), D(0)) for s, q in (positions or {}).items()},
                           {"USDT": D(100_000)}, orders)


# ---- wake-ups -----------------------------------------------------------------------------------------------------

async def test_first_wait_is_immediate_then_a_tick_unless_woken() -> None:
    w = Wakeups(min_spacing_s=0.0)
    assert await asyncio.wait_for(w.wait("k", 5), 0.5) is None  # the start-up cycle, at once
    started = time.perf_counter()
    assert await w.wait("k", 0.2) is None  # nothing woke it: its tick
    assert time.perf_counter() - started >= 0.19
    waiting = asyncio.ensure_future(w.wait("k", 5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    started = time.perf_counter()
    w.wake("k", Wake(True, "EmergencyAssetDeviation"))
    assert await asyncio.wait_for(waiting, 0.5) == "EmergencyAssetDeviation"
    assert time.perf_counter() - started < 2  # at once, not at the 5 s tick (a loose bound: a busy machine)


async def test_a_normal_wake_waits_for_the_tick_and_an_urgent_one_overtakes_it() -> None:
    w = Wakeups(min_spacing_s=0.0)
    await w.wait("k", 1)
    w.wake("k", Wake(False, "AssetDeviation"))
    started = time.perf_counter()
    assert await w.wait("k", 0.2) == "AssetDeviation"  # taken at the tick, not before
    assert time.perf_counter() - started >= 0.19
    w.wake("k", Wake(False, "AssetDeviation"))
    waiting = asyncio.ensure_future(w.wait("k", 5))
    await asyncio.sleep(0.02)
    w.wake("k", Wake(True, "EmergencyTotalDeviation"))
    assert await asyncio.wait_for(waiting, 0.5) == "EmergencyTotalDeviation"


async def test_a_storm_of_wakes_is_one_cycle_per_spacing() -> None:
    w = Wakeups(min_spacing_s=0.3)
    await w.wait("k", 5)
    cycles: list[float] = []

    async def loop() -> None:
        while len(cycles) < 3:
            if await w.wait("k", 5) is not None:
                cycles.append(time.perf_counter())

    runner = asyncio.ensure_future(loop())
    started = time.perf_counter()
    while not runner.done() and time.perf_counter() - started < 3:
        w.wake("k", Wake(True, "TouchMoved"))  # every 5 ms: 120 wakes over the three cycles
        await asyncio.sleep(0.005)
    await asyncio.wait_for(runner, 1)
    gaps = [b - a for a, b in itertools.pairwise(cycles)]
    assert all(g >= 0.29 for g in gaps), gaps
    assert w.merged > 50  # folded into the pending one, never a cycle each


async def test_stopped_ends_the_wait() -> None:
    w = Wakeups()
    await w.wait("k", 5)
    stop = asyncio.Event()
    waiting = asyncio.ensure_future(w.wait("k", 30, stop.wait))
    await asyncio.sleep(0.02)
    stop.set()
    assert await asyncio.wait_for(waiting, 0.5) is None


# ---- triggers -----------------------------------------------------------------------------------------------------

class FakeStream:
    """The two methods the triggers use of a streaming venue; `trusted` False: live_snapshot() is None."""

    def __init__(self, current: AccountSnapshot) -> None:
        self.current, self.trusted = current, True
        self.listeners: list[Callable[[Any], None]] = []

    def add_listener(self, fn: Callable[[Any], None]) -> None:
        self.listeners.append(fn)

    def live_snapshot(self) -> AccountSnapshot | None:
        return self.current if self.trusted else None

    def push(self, current: AccountSnapshot) -> None:
        self.current = current
        for fn in self.listeners:
            fn(object())


async def test_triggers_evaluate_probes_once_per_burst_and_only_on_a_trusted_stream() -> None:
    w = Wakeups(min_spacing_s=0.0)
    triggers = StreamTriggers(w)
    venue = FakeStream(snap())
    seen: list[AccountSnapshot] = []

    def probe(s: AccountSnapshot) -> Wake | None:
        seen.append(s)
        return Wake(True, "Moved") if s.positions else None

    triggers.watch("HedgeBook/default/a", venue, probe)
    triggers.watch("HedgeBook/default/b", venue, lambda s: 1 / 0)  # type: ignore[arg-type,return-value]
    triggers.watch("HedgeBook/default/b", venue, probe)  # replaced, not added
    assert len(venue.listeners) == 1  # one listener per account venue
    assert len(seen) == 2  # each new probe judged the live snapshot at once
    for _ in range(10):
        venue.push(snap())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert triggers.evaluations == 1 and len(seen) == 4  # ten updates, one evaluation of each probe
    assert w.pending("HedgeBook/default/a") is None
    venue.trusted = False
    venue.push(snap({SOL: "-1"}))
    await asyncio.sleep(0)
    # Nothing judged on an untrusted stream; each object runs at its next tick to say so (Degraded).
    assert w.pending("HedgeBook/default/a") == "StreamGap"
    assert await w.wait("HedgeBook/default/a", 0.01) == "StreamGap"
    venue.push(snap({SOL: "-1"}))  # still untrusted: no second wake
    await asyncio.sleep(0)
    assert w.pending("HedgeBook/default/a") is None
    venue.trusted = True
    venue.push(snap({SOL: "-1"}))
    await asyncio.sleep(0)
    # Trusted again: every object looks again, and one whose probe fires is woken at once (urgent outranks).
    assert w.pending("HedgeBook/default/a") == "Moved" and w.pending("HedgeBook/default/b") == "Moved"
    triggers.forget("HedgeBook/default/a")
    triggers.watch("HedgeBook/default/c", object(), probe)  # a polling venue takes no probe
    assert not streams(object())


async def test_a_new_probe_drops_the_wake_its_predecessor_left_and_judges_at_once() -> None:
    """An update pushed while the object's own orders were going out woke it on the status from before its cycle;
    the cycle's new probe replaces that judgement (else every correction would be followed by a cycle for
    nothing, and the rate cap would then delay the next real one)."""
    w = Wakeups(min_spacing_s=0.0)
    triggers = StreamTriggers(w)
    venue = FakeStream(snap({SOL: "-90"}))
    triggers.watch("k", venue, lambda s: Wake(True, "EmergencyAssetDeviation"))
    assert w.pending("k") == "EmergencyAssetDeviation"
    triggers.watch("k", venue, lambda s: None)  # the cycle settled it
    assert w.pending("k") is None
    triggers.watch("k", venue, lambda s: Wake(False, "AssetDeviation"))  # the cycle left something to do
    assert w.pending("k") == "AssetDeviation"


async def test_a_failing_probe_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    w = Wakeups(min_spacing_s=0.0)
    triggers = StreamTriggers(w)
    venue = FakeStream(snap())
    triggers.watch("x/ns/bad", venue, lambda s: 1 / 0)  # type: ignore[arg-type,return-value]
    triggers.watch("x/ns/good", venue, lambda s: Wake(True, "Yes"))
    venue.push(snap())
    await asyncio.sleep(0)
    assert w.pending("x/ns/good") == "Yes"
    assert "x/ns/bad failed" in caplog.text


# ---- probes -------------------------------------------------------------------------------------------------------

def _book(source: str = "Static") -> HedgeBook:
    return HedgeBook.model_validate({"kind": "HedgeBook", "metadata": {"name": "b", "namespace": "default",
                                                                       "uid": "uid-b"}, "spec": {
        "mode": "Live", "exchange": {"name": "okx", "account": "a", "credentialsSecretRef": {"name": "s"}},
        "holdings": {"source": source, "static": {"SOL": 100, "ETH": 3}},
        "legs": [{"asset": "SOL", "symbol": SOL}, {"asset": "ETH", "symbol": ETH}], "policyRef": {"name": "p"}}})


POLICY = RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"},
                                         "spec": {"preset": "Compact"}})  # 2 %/1.5 %, emergency 5 %/3 %


def test_book_probe_wakes_at_once_beyond_the_emergency_band_and_at_the_tick_beyond_the_normal_one() -> None:
    status = HedgeBookStatus(lastCheck=AT, lastRebalance=None)
    probe = book_probe(_book(), POLICY, status, MARKETS, Fees(), Controls())
    assert probe is not None
    hedged = {SOL: "-100", ETH: "-3"}
    assert probe(snap(hedged)) is None  # within its bands
    normal = probe(snap({SOL: "-97.5", ETH: "-3"}))  # SOL 2.5 % off: beyond 2 %, within 5 %
    assert normal == Wake(False, "AssetDeviation")
    emergency = probe(snap({SOL: "-90", ETH: "-3"}))  # an outside fill or a liquidation took 10 SOL off the hedge
    assert emergency == Wake(True, "EmergencyAssetDeviation")
    assert book_probe(_book(), POLICY, status, MARKETS, Fees(), Controls(halt="stop")) is None
    assert book_probe(_book(), None, status, MARKETS, Fees(), Controls()) is None


def test_maker_probe_requotes_on_a_fill_and_on_a_touch_beyond_the_tolerance() -> None:
    mm = MarketMaker.model_validate({"kind": "MarketMaker", "metadata": {"name": "m", "namespace": "default"},
                                     "spec": {"symbol": SOL, "spreadRatio": "0.002", "quantity": 1,
                                              "positionThreshold": 5, "maxPosition": 10, "stopLossQuote": -100}})
    quote = {"clientOrderId": "hoq1", "side": "buy", "price": "149.8", "amount": "1", "filled": "0"}
    status = MarketMakerStatus(bid=D("149.99"), ask=D("150.01"), quotes=[quote])
    probe = maker_probe(mm, status, Controls())
    assert probe is not None
    resting = OrderState("hoq1", SOL, Side.BUY, D(1), D(0), D("149.8"), None, OrderStatus.OPEN, D(0), OrderType.LIMIT)
    assert probe(snap(orders=(resting,))) is None
    assert probe(snap(prices={SOL: "150.1", ETH: "2500"}, orders=(resting,))) is None  # 0.07 %: within 0.1 %
    assert probe(snap(prices={SOL: "150.2", ETH: "2500"}, orders=(resting,))) == Wake(True, "TouchMoved")
    part = OrderState("hoq1", SOL, Side.BUY, D(1), D("0.4"), D("149.8"), None, OrderStatus.OPEN, D(0),
                      OrderType.LIMIT)
    assert probe(snap(orders=(part,))) == Wake(True, "QuoteFilled")
    assert probe(snap()) == Wake(True, "QuoteFilled")  # gone from the book: filled (or cancelled by someone)
    assert maker_probe(mm, MarketMakerStatus(), Controls()) is None  # nothing quoted yet


def test_carry_probe_estimates_margin_at_the_live_mark() -> None:
    fa = FundingArbitrage.model_validate({"kind": "FundingArbitrage", "metadata": {"name": "c", "namespace": "d"},
                                          "spec": {"pairs": [{"spot": "SOL/USDT", "perp": SOL}],
                                                   "capital": {"amountQuote": 10_000}, "leverage": 2,
                                                   "exit": {"stopLossRatio": "-0.05"}}})
    leg = {"spot": "SOL/USDT", "perp": SOL, "spotQty": "10", "perpQty": "-10", "marginRatio": "1"}
    status = FundingArbitrageStatus.model_validate({"legs": [leg]})
    probe = carry_probe(fa, status, Controls(), snap())
    assert probe is not None
    assert probe(snap(prices={SOL: "150.5", ETH: "2500"})) is None  # a third of a percent
    assert probe(snap(prices={SOL: "152", ETH: "2500"})) == Wake(False, "MarkMoved")  # 1.3 %: m ≈ 0.96
    # Up 13 %: a short at 2x loses 26 % of its margin: m = (150 + 2·(−1)·19.5)/169.5 ≈ 0.65 < topUp 0.8.
    assert probe(snap(prices={SOL: "169.5", ETH: "2500"})) == Wake(True, "MarginLine")


def test_allocation_probe_wakes_at_the_tick_when_a_price_move_drifts_a_weight_beyond_its_band() -> None:
    """The price-driven trigger: an Allocation book's weights move with prices (a Hedge book's units do not)."""
    book = HedgeBook.model_validate({"kind": "HedgeBook", "metadata": {"name": "i", "namespace": "default"}, "spec": {
        "mode": "Live", "exchange": {"name": "okx", "account": "a", "credentialsSecretRef": {"name": "s"}},
        "holdings": {"source": "ExchangeBalance", "exchangeBalance": {"assets": ["BTC", "USDT"]}},
        "objective": {"type": "Allocation", "targetWeights": {"BTC": 0.5, "USDT": 0.5}}, "policyRef": {"name": "p"}}})
    policy = RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"},
                                             "spec": {"allocation": {"driftRatio": "0.05"}}})
    weights = [{"asset": a, "priceQuote": 1, "qty": 1, "valueQuote": 1, "weight": "0.5", "targetWeight": "0.5",
                "driftRatio": 0, "bandRatio": "0.05"} for a in ("BTC", "USDT")]
    status = HedgeBookStatus.model_validate({"weights": weights})
    probe = book_probe(book, policy, status, {}, Fees(), Controls())
    assert probe is not None

    def at(price: str) -> AccountSnapshot:
        q = Quote("BTC/USDT", D(price) - 1, D(price) + 1, D(price), AT)
        return AccountSnapshot(AT, {"BTC/USDT": q}, {}, {"BTC": D(1), "USDT": D(100_000)}, ())

    assert probe(at("100000")) is None  # 50/50
    assert probe(at("115000")) is None  # 53.5 %: within 5 points
    assert probe(at("125000")) == Wake(False, "WeightDrift")  # 55.6 %
    working = status.model_copy(update={"workingPlan": {"planId": "p1", "seq": 1, "startedAt": AT,
                                                        "urgency": "Normal", "orders": []}})
    assert book_probe(book, policy, working, {}, Fees(), Controls()) is None  # its own plan moves the weights
    beyond = [{**w, "driftRatio": "0.06" if w["asset"] == "BTC" else "-0.06"} for w in weights]
    declined = HedgeBookStatus.model_validate({"weights": beyond})  # its last cycle saw it beyond and declined
    assert book_probe(book, policy, declined, {}, Fees(), Controls()) is None


def test_book_probe_stays_quiet_for_what_its_cycle_would_decline() -> None:
    """Beyond a band but refused by the gate (the day's cost spent) or waiting for approval: a wake would run a
    cycle, and write the status, once per spacing for nothing, forever."""
    spent = RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"}, "spec": {
        "preset": "Compact", "limits": {"maxDailyCostQuote": 1}}})
    today = {"date": AT.date().isoformat(), "rebalances": 3, "costQuote": "5"}
    status = HedgeBookStatus.model_validate({"lastCheck": AT, "today": today})
    probe = book_probe(_book(), spent, status, MARKETS, Fees(), Controls())
    assert probe is not None and probe(snap({SOL: "-90", ETH: "-3"})) is None
    fresh = HedgeBookStatus.model_validate({"lastCheck": AT})
    assert book_probe(_book(), spent, fresh, MARKETS, Fees(), Controls())(snap({SOL: "-90", ETH: "-3"})) \
        == Wake(True, "EmergencyAssetDeviation")  # type: ignore[misc]
    awaiting = fresh.model_copy(update={"pendingPlan": {"planId": "p1"}})
    assert book_probe(_book(), spent, awaiting, MARKETS, Fees(), Controls())(snap({SOL: "-90", ETH: "-3"})) is None  # type: ignore[misc]


async def test_the_spacing_holds_even_when_the_tick_is_shorter() -> None:
    w = Wakeups(min_spacing_s=0.3)
    await w.wait("k", 0.05)
    cycles: list[float] = []

    async def loop() -> None:
        while len(cycles) < 3:
            if await w.wait("k", 0.05) is not None:
                cycles.append(time.perf_counter())

    runner = asyncio.ensure_future(loop())
    while not runner.done():
        w.wake("k", Wake(True, "TouchMoved"))
        await asyncio.sleep(0.005)
    gaps = [b - a for a, b in itertools.pairwise(cycles)]
    assert all(g >= 0.29 for g in gaps), gaps


async def test_a_deleted_object_leaves_no_probe_to_wake_its_successor() -> None:
    from types import SimpleNamespace

    from hedgeops.operator.handlers import forget_deleted
    from hedgeops.runtime.metrics import Metrics

    w = Wakeups(min_spacing_s=0.0)
    triggers = StreamTriggers(w)
    venue = FakeStream(snap())
    key = "HedgeBook/default/b"
    triggers.watch(key, venue, lambda s: Wake(True, "EmergencyAssetDeviation"))
    runtime = SimpleNamespace(app=SimpleNamespace(metrics=Metrics(), wakeups=w,
                                                  services=SimpleNamespace(triggers=triggers)),
                              patched_at={"uid-b": ("lastCheck", "x")}, mistyped={"uid-b": frozenset()})
    body = {"kind": "HedgeBook", "metadata": {"namespace": "default", "name": "b", "uid": "uid-b"}}
    forget_deleted(runtime, body)  # type: ignore[arg-type]
    venue.push(snap({SOL: "-1"}))
    await asyncio.sleep(0)
    assert w.pending(key) is None and not runtime.patched_at

"""A fill is decided on only once its position (or balance) is in the snapshot. Exchanges push their private channels
independently: OKX's orders push tells of a fill before the positions and account pushes show it (the emulator
pushes in that order, and can hold the rest back: ws_private_lag_seconds). Between the two, a snapshot would pair
"filled" with the position from before the fill, and a book deciding on it would hedge the same move twice.

- Settling: a fill is pending until a row covers it (trade numbers where both have them, else times), each order
  on its own; a REST reconcile settles what it asked after; a REST-learned fill waits for its push to stamp it.
- The emulator: an event's orders push leaves first; reversed on request; the lag fault holds the rest back.
- The venue (real ccxt.pro): settling between the two pushes; a snapshot waits for the settling row, or asks REST
  after its bounded wait; nothing settles when the position came first; a fill whose row never comes is a gap.
- The triggers judge no probe while a fill settles, and judge once it has settled.
- A Live book on a lagging stream, its wakes barely spaced: one outside fill, exactly one correcting order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.hedgebook import HedgeBookStatus
from hedgeops.engine.common.controls import Controls
from hedgeops.exchange.ccxt.client import ApiCredentials
from hedgeops.exchange.emulator.okx_ws import PRIVATE_ORDER
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS
from hedgeops.exchange.stream import StreamingVenue, streaming_venue
from hedgeops.exchange.stream.settling import Settling, Stamp, covers
from hedgeops.exchange.stream.state import LiveState
from hedgeops.model.market import Fees
from hedgeops.model.orders import AccountSnapshot, OrderRequest, OrderType, Side
from hedgeops.runtime.app import AppConfig, build_app
from hedgeops.runtime.probes import book_probe
from hedgeops.runtime.triggers import Scoped, StreamTriggers
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues
from hedgeops.runtime.wakeups import Wake, Wakeups

from .emulator_controls import control
from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig, okx
from .emulator_ws import SWAP, answer, login_args, until, ws_base

D = Decimal
SPOT = "SOL/USDT"


# ---- the state's rule -----------------------------------------------------------------------------------------

def test_a_fill_is_pending_until_a_row_covers_it() -> None:
    s = Settling()
    assert not s.filled("a", "position X", Stamp(1000), Stamp(1000), at=0.0)  # the row already shows it
    assert not s
    assert s.filled("a", "position X", Stamp(1000), Stamp(999), at=0.0)
    assert not s.shown("position X", Stamp(999)) and s.keys() == {"position X"}  # a row from before the fill
    assert not s.shown("position X", None) and not s.shown("position X", Stamp(None))  # no stamp proves nothing
    assert s.filled("a", "position X", Stamp(1200), None, at=5.0)  # the same order fills more
    assert s.pending["a"].fill == Stamp(1200) and s.pending["a"].since == 0.0  # waiting since its first fill
    assert not s.shown("position X", Stamp(1100))
    assert not s.shown("balance", Stamp(5000))  # another key settles nothing here
    assert s.shown("position X", Stamp(1200)) and not s
    assert not s.shown("position X", Stamp(1300))  # nothing left to settle


def test_numbered_trades_decide_where_times_are_equal() -> None:
    # Two fills in one millisecond: the row of the first has the second's time but not its trade.
    assert not covers(Stamp(1000, 7), Stamp(1000, 8)) and covers(Stamp(1000, 8), Stamp(1000, 8))
    assert covers(Stamp(1000, 9), Stamp(1000, 8))
    assert covers(Stamp(1000), Stamp(1000, 8)) and not covers(Stamp(999), Stamp(1000, 8))  # unnumbered: times
    assert not covers(Stamp(None, None), Stamp(1000)) and not covers(Stamp(5000, 9), None)  # unstamped fill


def test_each_order_is_held_on_its_own_so_trade_numbers_never_cross_instruments() -> None:
    # Spot fills on two instruments share the balance: OKX numbers trades per instrument, so a newer ETH fill may
    # carry a smaller number than an older BTC one. Each waits for a row that covers it by its own stamp.
    s = Settling()
    s.filled("btc", "balance", Stamp(1000, 900_000_000), None, at=0.0)
    s.filled("eth", "balance", Stamp(1005, 5_000), None, at=0.1)
    assert s.shown("balance", Stamp(1002)) and set(s.pending) == {"eth"}  # the BTC fill is shown, ETH's not yet
    assert s.shown("balance", Stamp(1005)) and not s


def test_the_wait_is_the_oldest_pending_fills_own_counted_from_the_sessions_trust() -> None:
    s = Settling()
    assert s.waited(10.0, floor=0.0) == 0.0
    for i in range(50):  # a busy account: a fill every 0.1 s, each shown 0.15 s later
        s.filled(f"o{i}", "position X", Stamp(1000 + i), None, at=i * 0.1)
        s.shown("position X", Stamp(1000 + i - 2))
        assert s.waited(i * 0.1, floor=0.0) <= 0.2 + 1e-9
    s.filled("late", "position Y", Stamp(5), None, at=1.0)
    assert s.waited(40.0, floor=0.0) == 39.0
    assert s.waited(40.0, floor=38.0) == 2.0  # a fill pending across a gap waits from the new session's trust


def test_a_rest_learned_fill_waits_for_its_push_to_stamp_it() -> None:
    s = Settling()
    assert s.filled("a", "position X", None, None, at=0.0) and s.unstamped("a")
    assert not s.shown("position X", Stamp(10**12, 10**9))  # no row covers an unstamped fill
    assert s.filled("a", "position X", Stamp(1000, 8), Stamp(900, 7), at=1.0)  # its push stamps it
    assert not s.unstamped("a") and s.pending["a"].since == 0.0
    assert s.shown("position X", Stamp(1000, 8)) and not s


def test_a_push_about_an_older_fill_never_replaces_a_newer_stamp() -> None:
    # REST told of trade 9 (the order's last); the push of its first trade, 8, arrives after: still waiting for 9.
    s = Settling()
    s.filled("a", "position X", Stamp(1000, 9), None, at=0.0)
    s.filled("a", "position X", Stamp(1000, 8), None, at=0.5)
    assert s.pending["a"].fill == Stamp(1000, 9)
    assert not s.shown("position X", Stamp(1000, 8)) and s.shown("position X", Stamp(1000, 9))
    # The same with the row of trade 8 already there when trade 8's push comes late: it still waits for trade 9.
    s.filled("b", "position X", Stamp(1000, 9), None, at=0.0)
    assert s.filled("b", "position X", Stamp(1000, 8), Stamp(1000, 8), at=0.5)
    assert s.pending["b"].fill == Stamp(1000, 9)
    assert not s.filled("c", "position X", Stamp(1000, 8), Stamp(1000, 8), at=0.5) and "c" not in s.pending


def test_a_reconcile_settles_what_it_asked_after_where_its_answers_were_applied() -> None:
    state = LiveState()
    state.settling.filled("a", "position X", Stamp(10), None, at=0.0)
    state.settling.filled("b", "balance", Stamp(20), None, at=0.0)
    state.settling.filled("c", "position Y", None, None, at=0.0)
    since = state.mark()
    state.settling.filled("b", "balance", Stamp(30), None, at=1.0)  # a newer fill pushed while REST was asked
    state.reconcile(since, {}, [], {}, [], [])
    assert set(state.settling.pending) == {"b"}
    # A positions push during the reconcile: REST's positions are not applied, so its fills stay pending (the
    # stream's own rows must cover them), while the balance's are settled.
    state = LiveState()
    state.settling.filled("a", "position X", Stamp(10), None, at=0.0)
    state.settling.filled("b", "balance", Stamp(20), None, at=0.0)
    since = state.mark()
    state.apply_positions([])
    state.reconcile(since, {}, [], {}, [], [])
    assert set(state.settling.pending) == {"a"}


# ---- the emulator's push order --------------------------------------------------------------------------------

async def channels_after_a_fill(rig: Rig, cid: str) -> list[tuple[str, float]]:
    """The private channels pushed (and when, wall seconds after the order was sent) for one market fill on the
    account, by a raw client subscribed as ccxt.pro subscribes (account, positions, orders)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/private") as ws:
        assert (await answer(ws, login_args()))["code"] == "0"
        for channel in ("account", "positions", "orders"):
            arg: dict[str, str] = {"channel": channel}
            if channel != "account":
                arg["instType"] = "ANY"
            await ws.send_str(json.dumps({"op": "subscribe", "args": [arg]}))
        await asyncio.sleep(0.3)  # the subscriptions' answers and first pushes
        while not ws.closed:
            try:
                await asyncio.wait_for(ws.receive_str(), 0.05)
            except TimeoutError:
                break
        t0, seen = time.perf_counter(), list[tuple[str, float]]()

        async def read() -> None:  # concurrently with the order: each push timed as it lands
            while len({c for c, _ in seen}) < 3:
                message = json.loads(await ws.receive_str())
                if "data" in message:
                    seen.append((message["arg"]["channel"], time.perf_counter() - t0))

        reader = asyncio.ensure_future(read())
        await outside_buy(rig, cid, 1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, 3)
        return seen


async def test_the_orders_push_of_a_fill_leaves_first_and_the_lag_fault_holds_the_rest_back(rig: Rig) -> None:
    assert rig.app.streams.private_order == PRIVATE_ORDER == ("orders", "positions", "account")
    seen = await channels_after_a_fill(rig, "first1")
    assert [c for c, _ in seen] == ["orders", "positions", "account"]
    rig.app.streams.private_order = PRIVATE_ORDER[::-1]
    seen = await channels_after_a_fill(rig, "first2")
    assert [c for c, _ in seen] == ["account", "positions", "orders"]
    rig.app.streams.private_order = PRIVATE_ORDER
    rig.emu.faults.ws_private_lag_seconds = 0.4
    at = dict(await channels_after_a_fill(rig, "first3"))
    assert at["positions"] - at["orders"] >= 0.35 and at["account"] >= at["positions"]


async def test_the_lag_control_takes_seconds_and_refuses_anything_else(rig: Rig) -> None:
    assert (await control(rig.url, "/emulator/ws/lag", {"seconds": 0.25}))[0] == 200
    assert rig.emu.faults.ws_private_lag_seconds == 0.25
    for bad in ({"seconds": -1}, {"seconds": 61}, {"seconds": True}, {"seconds": "1"}, {}):
        status, body = await control(rig.url, "/emulator/ws/lag", bad)
        assert body["code"] == "51000", (bad, status, body)
    assert rig.emu.faults.ws_private_lag_seconds == 0.25


# ---- the venue ------------------------------------------------------------------------------------------------

async def outside_buy(rig: Rig, cid: str, contracts: int) -> None:
    """Another client of the account buys at market over REST (its orders push reaches the venue too)."""
    other = okx(rig.url)
    try:
        await other.create_order(SWAP, "market", "buy", contracts, None, {"clOrdId": cid})
    finally:
        await other.close()


def qty(snap: AccountSnapshot) -> Decimal:
    p = snap.positions.get(SWAP)
    return p.qty if p is not None else D(0)


async def test_a_snapshot_waits_for_the_fills_position_and_asks_rest_past_its_bound(
        rig: Rig, sv: StreamingVenue) -> None:
    before = qty(await sv.snapshot([SWAP]))
    contract = sv.rest._contract_size(SWAP)
    rig.emu.faults.ws_private_lag_seconds = 0.5
    await outside_buy(rig, "lag1", 2)
    await until(lambda: "lag1" in sv.state.orders, timeout=3)
    assert sv.settling and sv.state.orders["lag1"].filled == 2 * contract
    assert qty(sv.state.snapshot([SWAP])) == before  # the live state still has the position from before
    requests = sv.stats.rest_requests
    started = time.perf_counter()
    snap = await sv.snapshot([SWAP])  # waits for the positions push, no request
    assert 0.2 < time.perf_counter() - started < 1.5
    assert qty(snap) == before + 2 * contract and not sv.settling
    assert sv.stats.rest_requests == requests and sv.stats.settle_fallbacks == 0

    # A positions push later than the venue waits (2 s by default, as the README says; 0.2 s here): the snapshot
    # is asked of REST, and it shows the fill.
    assert sv.settle_wait_s == 2.0
    sv.settle_wait_s = 0.2
    rig.emu.faults.ws_private_lag_seconds = 1.5
    await outside_buy(rig, "lag2", 1)
    await until(lambda: "lag2" in sv.state.orders, timeout=3)
    assert sv.settling
    snap = await sv.snapshot([SWAP])
    assert qty(snap) == before + 3 * contract
    assert sv.stats.settle_fallbacks == 1 and sv.stats.rest_requests > requests
    await until(lambda: not sv.settling, timeout=3)  # the late push settles it after all
    assert qty(await sv.snapshot([SWAP])) == before + 3 * contract and sv.stats.settle_fallbacks == 1


async def test_a_fill_whose_order_ends_in_the_next_push_is_pending_all_the_same(
        rig: Rig, sv: StreamingVenue) -> None:
    """A market order filled in part, its rest cancelled: OKX pushes the fill, then the cancel with no fill of its
    own, back to back; ccxt merges both into one cached order without the fill's stamp. The venue reads the fill
    from the push itself, so it is pending until the position shows it."""
    before = qty(await sv.snapshot([SWAP]))
    contract = sv.rest._contract_size(SWAP)
    rig.emu.faults.partial_fills = 1
    rig.emu.faults.ws_private_lag_seconds = 0.5
    seen: list[list[dict[str, Any]]] = []
    raw_fills = sv._raw_fills

    def spy(client: Any, message: Any) -> None:  # every orders push as the exchange sent it
        if isinstance(message, dict) and (message.get("arg") or {}).get("channel") == "orders":
            seen.append(message["data"])
        raw_fills(client, message)

    sv._raw_fills = spy  # type: ignore[method-assign]
    await outside_buy(rig, "ioc1", 2)
    await until(lambda: "ioc1" in sv.state.orders and sv.state.orders["ioc1"].done, timeout=3)
    assert [(r[0]["state"], r[0]["fillSz"]) for r in seen] == [("partially_filled", "1"), ("canceled", "0")]
    assert sv.settling and sv.state.orders["ioc1"].filled == contract
    assert qty(await sv.snapshot([SWAP])) == before + contract and not sv.settling
    assert sv.stats.settle_fallbacks == 0


async def test_a_spot_fill_settles_on_the_balance_push(rig: Rig, sv: StreamingVenue) -> None:
    before = (await sv.snapshot([SWAP, SPOT])).balances.get("SOL", D(0))
    rig.emu.faults.ws_private_lag_seconds = 0.5
    # The account row carries no trade number, only its time: the fill must come later than the last account push
    # (on the test's frozen clock every push and fill would share one millisecond).
    rig.clock.advance(1)
    other = okx(rig.url)
    other.options["fetchMarkets"], other.options["defaultType"] = {"types": ["spot"]}, "spot"
    try:
        await other.create_order(SPOT, "market", "buy", 2, None, {"clOrdId": "spot1", "tgtCcy": "base_ccy"})
    finally:
        await other.close()
    await until(lambda: "spot1" in sv.state.orders, timeout=3)
    assert sv.state.settling.keys() == {"balance"}
    snap = await sv.snapshot([SWAP, SPOT])  # waits for the account push
    assert not sv.settling and snap.balances["SOL"] == before + 2


async def test_nothing_settles_when_the_position_is_pushed_before_the_fill(rig: Rig, sv: StreamingVenue) -> None:
    rig.app.streams.private_order = PRIVATE_ORDER[::-1]
    before = qty(await sv.snapshot([SWAP]))
    seen: list[bool] = []
    sv.add_listener(lambda _u: seen.append(sv.settling))
    await outside_buy(rig, "rev1", 1)
    await until(lambda: "rev1" in sv.state.orders, timeout=3)
    assert not sv.settling and not any(seen)
    assert qty(await sv.snapshot([SWAP])) == before + sv.rest._contract_size(SWAP)


async def test_a_cancel_of_an_order_filled_before_the_session_is_no_new_fill(rig: Rig) -> None:
    """An order partly filled before the venue's session (a restart, a gap) is cancelled: its cancel push reports
    no fill of its own, and the position rows (stamped by their update time, not their creation) cover the old one."""
    other = okx(rig.url)
    sv = streaming_venue("okx", ApiCredentials(KEY, SECRET, PASSPHRASE), base_url=rig.url, rate_limit=False)
    try:
        bid = (await other.fetch_ticker(SWAP))["bid"]
        await other.create_order(SWAP, "market", "buy", 4, None, {"clOrdId": "base1"})  # a position exists
        rig.clock.advance(60)
        rig.emu.faults.partial_fills = 1
        placed = await other.create_order(SWAP, "limit", "buy", 4, float(bid) * 0.999, {"clOrdId": "part1"})
        for _ in range(24):  # the replay trades through it: half fills, the rest rests
            rig.clock.advance(300)
            if (await other.fetch_order(placed["id"], SWAP))["filled"]:
                break
        assert (await other.fetch_order(placed["id"], SWAP))["status"] == "open"
        await sv.snapshot([SWAP])
        rig.clock.advance(60)
        await other.cancel_order(placed["id"], SWAP)
        await until(lambda: "part1" in sv.state.orders and sv.state.orders["part1"].done, timeout=5)
        assert not sv.settling
        started = time.perf_counter()
        await sv.snapshot([SWAP])
        assert time.perf_counter() - started < 0.5 and sv.stats.settle_fallbacks == 0
    finally:
        await sv.close()
        await other.close()


async def test_a_fill_pending_across_a_gap_waits_for_the_reconcile_not_the_watchdog(rig: Rig) -> None:
    """A fill still pending when its session ends is settled by the next session's REST reconcile: the watchdog
    counts its wait from the new session's trust, so a slow reconcile does not end every session after it."""
    sv = streaming_venue("okx", ApiCredentials(KEY, SECRET, PASSPHRASE), base_url=rig.url, rate_limit=False)
    sv.supervisor._silence["private"] = 1.0
    rig.app.streams.periodic_s = 0.2
    real = sv.reconcile

    async def slow() -> None:  # REST round trips as long as a real exchange's
        await asyncio.sleep(1.2)
        # No push while REST answers: a positions push meanwhile would keep the stream's rows instead of REST's,
        # and the ghost fill below (which no row can cover) would rightly stay pending. A push the emulator sent
        # (or a tick it was mid-way through) just before the freeze must land before the reconcile's mark, so
        # wait a few push periods first (CI once saw one land during the reconcile); the freeze stays well
        # inside the 1 s silence bound.
        rig.emu.faults.ws_frozen = True
        try:
            await asyncio.sleep(0.3)
            await real()
        finally:
            rig.emu.faults.ws_frozen = False

    sv.reconcile = slow  # type: ignore[method-assign]
    try:
        await sv.snapshot([SWAP])
        sessions = sv.supervisor.sessions
        # A fill no push will ever cover (a stamp from the future): the watchdog ends the session after 1 s.
        sv.state.settling.filled("ghost", f"position {SWAP}", Stamp(10**15, 10**12), None, at=sv._monotonic())
        await until(lambda: not sv.trusted, timeout=5)
        await until(lambda: sv.trusted, timeout=15)  # the reconcile settled it
        assert not sv.settling and sv.supervisor.sessions == sessions + 1
        await asyncio.sleep(2.0)
        assert sv.trusted and sv.supervisor.sessions == sessions + 1  # and no later session was ended for it
    finally:
        await sv.close()


async def test_a_fill_a_rest_answer_tells_of_first_waits_for_its_push(rig: Rig, sv: StreamingVenue) -> None:
    """An order placed over REST (an exchange without socket orders, or a lost reply) comes back filled before any
    push: it is pending on the fill REST stamps (OKX's fillTime and tradeId) until the position covers it."""
    before = qty(await sv.snapshot([SWAP]))
    contract = sv.rest._contract_size(SWAP)
    sv._stream_client = lambda: None  # type: ignore[method-assign]  # no socket orders: place() goes over REST
    rig.emu.faults.ws_private_lag_seconds = 0.5
    placed = await sv.place(OrderRequest("rest1", SWAP, Side.BUY, contract, OrderType.MARKET))
    assert placed.filled == contract
    assert sv.settling and sv.state.settling.pending["rest1"].key == f"position {SWAP}"
    assert qty(await sv.snapshot([SWAP])) == before + contract  # waited for the push, not REST
    assert not sv.settling and sv.stats.settle_fallbacks == 0
    # Its orders push lost: the REST answer alone tells of the fill, stamped with REST's own fillTime and
    # tradeId, so the lagging positions push covers it without the push that never comes.
    rig.emu.faults.ws_skip["orders"] = 1
    await sv.place(OrderRequest("rest2", SWAP, Side.BUY, contract, OrderType.MARKET))
    pending = sv.state.settling.pending["rest2"]
    assert pending.fill is not None and pending.fill.trade is not None
    assert qty(await sv.snapshot([SWAP])) == before + 2 * contract  # waited for the positions push
    assert not sv.settling and sv.stats.settle_fallbacks == 0


async def test_a_fill_whose_position_never_comes_is_a_gap(rig: Rig) -> None:
    sv = streaming_venue("okx", ApiCredentials(KEY, SECRET, PASSPHRASE), base_url=rig.url, rate_limit=False)
    sv.supervisor._silence["private"] = 1.0
    rig.app.streams.periodic_s = 0.2  # the account pushes keep the private connection heard
    try:
        before = qty(await sv.snapshot([SWAP]))
        rig.emu.faults.ws_skip["positions"] = 1_000_000  # every positions push lost, the socket open
        reasons: list[str] = []
        sv.add_listener(lambda _u: reasons.append(sv.untrusted_reason) if not sv.trusted else None)
        await outside_buy(rig, "lost1", 1)
        await until(lambda: not sv.trusted, timeout=5)
        assert "a fill's position or balance not pushed" in reasons[0]
        rig.emu.faults.ws_skip.clear()
        await until(lambda: sv.trusted, timeout=10)  # reconnected; the REST reconcile covers the fill
        assert not sv.settling
        assert qty(await sv.snapshot([SWAP])) == before + sv.rest._contract_size(SWAP)
    finally:
        await sv.close()


# ---- the triggers ---------------------------------------------------------------------------------------------

class SettlingStream:
    def __init__(self) -> None:
        self.settling: frozenset[str] = frozenset()
        self.listeners: list[Callable[[Any], None]] = []

    def add_listener(self, fn: Callable[[Any], None]) -> None:
        self.listeners.append(fn)

    def settling_keys(self) -> frozenset[str]:
        return self.settling

    def live_snapshot(self) -> AccountSnapshot | None:
        return AccountSnapshot(at=None, quotes={}, positions={}, balances={}, open_orders=())  # type: ignore[arg-type]

    def push(self) -> None:
        for fn in self.listeners:
            fn(object())


async def test_no_probe_is_judged_while_a_fill_it_reads_settles() -> None:
    triggers = StreamTriggers(Wakeups(min_spacing_s=0.0))
    venue = SettlingStream()
    judged: list[str] = []

    def probe(name: str) -> Callable[[AccountSnapshot], Wake]:
        def judge(_s: AccountSnapshot) -> Wake:
            judged.append(name)
            return Wake(True, "Moved")
        return judge

    venue.settling = frozenset({"position SOL/USDT:USDT"})
    triggers.watch("HedgeBook/default/plain", venue, probe("plain"))  # reads everything
    triggers.watch("HedgeBook/default/sol", venue, Scoped(probe("sol"), frozenset({"position SOL/USDT:USDT"})))
    triggers.watch("HedgeBook/default/btc", venue, Scoped(probe("btc"), frozenset({"position BTC/USDT:USDT"})))
    triggers.watch("MarketMaker/default/mm", venue, Scoped(probe("mm"), frozenset()))
    assert judged == ["btc", "mm"]  # a new probe is not judged on a snapshot its own reads are settling in
    venue.push()
    await asyncio.sleep(0)
    assert judged == ["btc", "mm", "btc", "mm"] and triggers.settling_skips == 2
    assert triggers.wakeups.pending("HedgeBook/default/sol") is None
    venue.settling = frozenset()
    venue.push()  # the push that settles it
    await asyncio.sleep(0)
    assert sorted(judged[4:]) == ["btc", "mm", "plain", "sol"]
    assert triggers.wakeups.pending("HedgeBook/default/sol") == "Moved"


def test_the_books_probe_reads_its_legs_instruments_and_balances_where_its_holdings_are_them() -> None:
    spec = {"mode": "Live", "exchange": {"name": "okx", "account": "main", "credentialsSecretRef": {"name": "c"}},
            "holdings": {"source": "Static", "static": {"SOL": 100}},
            "legs": [{"asset": "SOL", "symbol": SWAP}], "policyRef": {"name": "p"}}
    static = HedgeBook.model_validate({"kind": "HedgeBook", "metadata": {"name": "b"}, "spec": spec})
    markets = {SWAP: OKX_INSTRUMENTS["SOL-USDT-SWAP"].rules()}
    probe = book_probe(static, compact(), HedgeBookStatus(), markets, Fees(D("0.0002"), D("0.0005")), Controls())
    assert isinstance(probe, Scoped) and probe.reads == {f"position {SWAP}"}
    spot = HedgeBook.model_validate({"kind": "HedgeBook", "metadata": {"name": "b"}, "spec": {
        **spec, "instruments": [{"asset": "SOL", "kind": "Spot"}]}})
    probe = book_probe(spot, compact(), HedgeBookStatus(), markets, Fees(D("0.0002"), D("0.0005")), Controls())
    assert isinstance(probe, Scoped) and probe.reads == {f"position {SWAP}", "balance"}


# ---- a Live book on a lagging stream --------------------------------------------------------------------------

async def _secret(namespace: str, name: str) -> Mapping[str, str]:
    return {"apiKey": KEY, "secret": SECRET, "passphrase": PASSPHRASE}


def book() -> HedgeBook:
    return HedgeBook.model_validate({
        "kind": "HedgeBook", "metadata": {"name": "lagging", "namespace": "default", "uid": "uid-lagging"},
        "spec": {"mode": "Live", "exchange": {"name": "okx", "account": "main", "credentialsSecretRef": {
            "name": "okx-creds"}}, "holdings": {"source": "Static", "static": {"SOL": 100}},
            "legs": [{"asset": "SOL", "symbol": SWAP}], "policyRef": {"name": "p"}}})


def compact() -> RebalancePolicy:
    return RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"}, "spec": {
        "preset": "Compact", "checkIntervalSeconds": 3600, "limits": {"maxRebalancesPerDay": 100_000}}})


async def test_a_book_on_a_lagging_stream_corrects_an_outside_fill_exactly_once(rig: Rig) -> None:
    venues = Venues(PaperVenues(rig.clock), CcxtVenues(_secret, {"okx": rig.url}, streaming=True, rate_limit=False))
    # Wakes 50 ms apart at most, the positions push 600 ms behind each fill: without settling, the wake the
    # book's own fill pushes (the old position beside a filled order) would hedge the same move again.
    app = build_app(AppConfig(owner="t", streaming=True, stream_min_spacing_seconds=0.05,
                              max_data_age_seconds=None), venues=venues)
    assert app.wakeups is not None
    b, inputs, stop = book(), compact(), asyncio.Event()
    key = f"HedgeBook/default/{b.metadata.name}"

    async def loop() -> None:
        obj, first = b, True
        while not stop.is_set():
            woken = None if first else await app.wakeups.wait(key, 3600, stop.wait)  # type: ignore[union-attr]
            first = False
            if stop.is_set():
                return
            out = await app.hedgebooks.reconcile(obj, app.clock.now(), Controls(), inputs, woken)
            if out.changed:
                obj = obj.model_copy(update={"status": out.status})

    task = asyncio.ensure_future(loop())
    acct = rig.emu.account(KEY)
    contract = OKX_INSTRUMENTS["SOL-USDT-SWAP"].ct_val
    try:
        await until(lambda: len(acct.ord_ids) == 1, timeout=20)  # the first hedge
        await until(lambda: perp(rig) == D(-100), timeout=10)
        rig.emu.faults.ws_private_lag_seconds = 0.6
        ours = len(acct.ord_ids)
        await outside_buy(rig, "outside1", int(D(10) / contract))  # 10 SOL back: beyond the emergency band
        await until(lambda: len(acct.ord_ids) >= ours + 2, timeout=10)  # the outside order and the correction
        await asyncio.sleep(2.0)  # every push of both fills has landed, and any wake they made has run
        assert perp(rig) == D(-100)
        assert len(acct.ord_ids) == ours + 2, "the outside fill was corrected more than once"
    finally:
        stop.set()
        app.wakeups.wake(key, Wake(True, "stop"))
        await asyncio.wait_for(task, 10)
        await app.close()


def perp(rig: Rig) -> Decimal:
    p = rig.emu.account(KEY).venue.account.positions({}).get(SWAP)
    return p.qty if p is not None else D(0)

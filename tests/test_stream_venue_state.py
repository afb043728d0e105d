"""The StreamingVenue's parts that need no socket: the live state's merge rules (an order never goes back, a
reconcile keeps what the stream said meanwhile, an open order REST no longer lists is forgotten, an older quote is
ignored, a long session holds its open orders and a bounded number of final ones) and the supervisor's backoff
between failing sessions."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxtpro

from hedgeops.exchange.stream.state import LiveState
from hedgeops.exchange.stream.supervisor import Supervisor
from hedgeops.model.market import Quote
from hedgeops.model.orders import OrderState, OrderStatus, OrderType, Position, Side

T0 = datetime(2025, 6, 1, tzinfo=UTC)
D = Decimal


def order(cid: str, status: OrderStatus = OrderStatus.OPEN, filled: str = "0") -> OrderState:
    return OrderState(cid, "SOL/USDT:USDT", Side.BUY, D(1), D(filled), D(100), None, status, D(0), OrderType.LIMIT)


def q(last: str, at: datetime = T0) -> Quote:
    return Quote("SOL/USDT:USDT", D(last), D(last), D(last), at)


def test_an_order_never_goes_back() -> None:
    s = LiveState()
    assert s.apply_order(order("a", OrderStatus.OPEN, "0.5"))
    assert not s.apply_order(order("a", OrderStatus.OPEN, "0"))  # an older answer landing late
    assert s.apply_order(order("a", OrderStatus.CLOSED, "1"))
    assert not s.apply_order(order("a", OrderStatus.OPEN, "1"))
    assert s.orders["a"].status == OrderStatus.CLOSED and s.open_orders() == ()


def test_an_older_quote_is_ignored() -> None:
    s = LiveState()
    assert s.apply_quote(q("10", T0 + timedelta(seconds=1)))
    assert not s.apply_quote(q("9", T0))
    assert s.quotes["SOL/USDT:USDT"].last == 10


def test_positions_are_replaced_whole_and_zero_ones_are_gone() -> None:
    s = LiveState()
    assert s.apply_positions([Position("SOL/USDT:USDT", D(2), D(100), D(0))]) == {"SOL/USDT:USDT"}
    assert s.apply_positions([Position("SOL/USDT:USDT", D(0), D(0), D(0))]) == {"SOL/USDT:USDT"}
    assert s.positions == {}


def test_a_reconcile_overwrites_but_keeps_what_the_stream_said_meanwhile() -> None:
    s = LiveState()
    s.apply_balances({"USDT": D(5)})
    s.apply_order(order("gone"))
    s.apply_order(order("pushed"))
    since = s.mark()
    s.apply_order(order("pushed", OrderStatus.OPEN, "0.5"))  # pushed during the reconcile
    s.apply_positions([Position("SOL/USDT:USDT", D(3), D(100), D(0))])  # pushed during the reconcile
    s.reconcile(since, {"SOL/USDT:USDT": q("10")}, [], {"USDT": D(7)}, [order("other")], [order("mine")])
    assert s.balances == {"USDT": D(7)}  # REST's word: the stream said nothing meanwhile
    assert s.positions["SOL/USDT:USDT"].qty == 3  # the stream's word: it spoke during the reconcile
    assert {o.client_order_id for o in s.open_orders()} == {"pushed", "other", "mine"}  # "gone" is forgotten
    assert s.orders["pushed"].filled == D("0.5")
    snap = s.snapshot(["SOL/USDT:USDT"])
    assert snap.quotes["SOL/USDT:USDT"].last == 10 and snap.at == T0


class FailingClient:
    id = "okx"

    async def watch_balance(self) -> Any:
        raise ccxtpro.NetworkError("connection refused")

    async def watch_positions(self) -> Any:
        await asyncio.sleep(3600)

    async def watch_orders(self) -> Any:
        await asyncio.sleep(3600)

    async def close(self) -> None:
        self.closed = True


class Sink:
    def __init__(self) -> None:
        self.clients: list[FailingClient] = []
        self.trust: list[tuple[bool, str]] = []

    def new_client(self) -> Any:
        self.clients.append(FailingClient())
        return self.clients[-1]

    def on_ticker(self, client: Any, symbol: str) -> None: ...

    def on_balance(self, client: Any) -> None: ...

    def on_positions(self, client: Any) -> None: ...

    def on_orders(self, client: Any, orders: list[Any]) -> None: ...

    def on_funding(self, client: Any, symbol: str) -> None: ...

    async def reconcile(self) -> None: ...

    def set_trust(self, trusted: bool, reason: str) -> None:
        self.trust.append((trusted, reason))

    def settling_for(self) -> float:
        return 0.0


async def test_failing_sessions_back_off_exponentially_and_close_every_client() -> None:
    sink = Sink()
    sup = Supervisor(sink)
    started = time.monotonic()
    sup.start()
    await asyncio.sleep(1.0)
    await sup.close()
    # 0.1 + 0.2 + 0.4 s between the first four sessions, the fifth would start after another 0.8 s
    assert len(sink.clients) == 4, (len(sink.clients), time.monotonic() - started)
    assert sup.reconnects == 3
    assert all(getattr(c, "closed", False) for c in sink.clients)
    assert not any(t for t, _ in sink.trust)
    assert "balance stream: NetworkError: connection refused" in sink.trust[0][1]
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("stream")]


class CountingDict(dict[str, OrderState]):
    """The state's orders, counting reads by key and refusing a scan of the whole."""

    reads = 0

    def __getitem__(self, key: str) -> OrderState:
        CountingDict.reads += 1
        return super().__getitem__(key)

    def values(self) -> Any:
        raise AssertionError("open_orders scanned every order held")

    def items(self) -> Any:
        raise AssertionError("open_orders scanned every order held")


def test_a_long_session_holds_its_open_orders_and_a_bounded_number_of_final_ones() -> None:
    s = LiveState()
    for i in range(100_000):
        s.apply_order(order(f"o{i}"))
        s.apply_order(order(f"o{i}", OrderStatus.CANCELED))
    for i in range(3):
        s.apply_order(order(f"live{i}"))
    assert len(s.orders) <= 1000 + 3  # the default FINAL_KEPT finals, and the open ones
    assert s.orders["o99999"].status == OrderStatus.CANCELED  # the newest finals are kept for lookups
    assert "o0" not in s.orders
    assert not s.touched_orders  # recorded only while a reconcile runs
    s.orders = CountingDict(s.orders)
    CountingDict.reads = 0
    assert [o.client_order_id for o in s.open_orders()] == ["live0", "live1", "live2"]
    assert CountingDict.reads == 3  # only the open ones were read
    # A reconcile still sees what the stream touched while it ran, and no more afterwards.
    since = s.mark()
    s.apply_order(order("live0", OrderStatus.OPEN, "0.5"))
    assert s.touched_orders == {"live0"}
    s.reconcile(since, {}, [], {}, [order("live1")], [])
    assert [o.client_order_id for o in s.open_orders()] == ["live0", "live1"]  # live2: REST no longer lists it
    assert not s.touched_orders
    s.apply_order(order("live1", OrderStatus.CLOSED, "1"))
    assert not s.touched_orders and [o.client_order_id for o in s.open_orders()] == ["live0"]

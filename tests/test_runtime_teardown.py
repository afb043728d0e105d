"""What a deleted object leaves resting is cancelled before it goes (runtime/teardown.py, the operator's finalizer):
every kind, on the paper venue replaying real prices. The body a deletion hands over can predate the last cycle's
status patch, so the newest write-ahead intent counts too; only the object's own orders are touched, positions are
left as they are, and a failure that passes (the exchange down) is reported as worth a retry, orders untouched."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgeops.exchange.venue import RetryableVenueError
from hedgeops.model.orders import OrderRequest
from hedgeops.runtime.journal import journal_stream
from hedgeops.runtime.venues import VenueUnavailable

from .runtime_fixtures import book, killed_after, rig
from .test_runtime_carry import Carry
from .test_runtime_grid import BTC, layered
from .test_runtime_hedgebook import bought_4_sol, step
from .test_runtime_marketmaker import HALT, MM, SOL, held, maker

D = Decimal


def cancels(r: Any, kind: str, key: str) -> list[dict[str, Any]]:
    return [e for _, e in r.journal.streams[journal_stream(kind, key)] if e["type"] == "cancel"]


async def test_a_deleted_market_makers_quotes_come_off_even_from_a_body_older_than_its_last_cycle() -> None:
    m = MM(rig())
    stale = m.mm  # the body as the deletion hands it over: the cycle's status patch never reached it
    await m.tick()
    v = await m.venue()
    await v.place(OrderRequest("manual-1", SOL, "buy", D("1"), "limit", D("1")))  # someone else's order
    quotes = {o.client_order_id for o in v.account.open_orders()} - {"manual-1"}
    assert len(quotes) == 4
    position = await held(v)
    result = await m.rec.teardown(stale, m.r.clock.now())
    assert result.failure is None and set(result.cancelled) == quotes
    assert {o.client_order_id for o in v.account.open_orders()} == {"manual-1"}  # only its own
    assert await held(v) == position  # positions are not touched
    journalled = cancels(m.r, "MarketMaker", "default/sol")
    assert {e["clientOrderId"] for e in journalled} == quotes and {e["reason"] for e in journalled} == {"Deleted"}
    again = await m.rec.teardown(m.mm, m.r.clock.now())  # a retried finalizer: nothing left, nothing journalled
    assert again.failure is None and not again.cancelled and len(cancels(m.r, "MarketMaker", "default/sol")) == 4
    assert not m.r.journal.intents  # nothing rests: its intents went with it (one Redis key each, else for ever)


async def test_a_market_maker_killed_mid_cycle_has_what_reached_the_venue_cancelled() -> None:
    m = MM(rig())
    v = await m.venue()
    async with killed_after(v, 2) as sent:
        await m.tick()
    result = await m.rec.teardown(m.mm, m.r.clock.now())
    assert result.failure is None and set(result.cancelled) == set(sent) and not v.account.open_orders()


async def test_a_deleted_books_resting_maker_order_is_cancelled() -> None:
    r = rig()
    b, _ = await step(r, book())
    b, _ = await step(r, bought_4_sol(b))  # 4% long SOL: a normal rebalance, maker first
    working = b.status.workingPlan  # type: ignore[union-attr]
    assert working is not None and working.orders[0].state == "open"
    paper = r.venues.paper("okx", "b1")
    assert paper is not None and len(paper.account.open_orders()) == 1
    result = await r.reconciler.teardown(b, r.clock.now())
    assert result.failure is None and list(result.cancelled) == [working.orders[0].clientOrderId]
    assert not paper.account.open_orders()
    assert cancels(r, "HedgeBook", "default/b1")[-1]["reason"] == "Deleted"


async def test_a_deleted_books_teardown_needs_neither_its_policy_nor_its_holdings() -> None:
    """`kubectl delete -f folder/` deletes the policy with the book: the maker order must come off all the same."""
    r = rig()
    b, _ = await step(r, book())
    b, _ = await step(r, bought_4_sol(b))
    gone = b.model_copy(update={"spec": b.spec.model_copy(update={"policyRef": b.spec.policyRef.model_copy(
        update={"name": "deleted-with-it"})})})
    result = await r.reconciler.teardown(gone, r.clock.now())
    assert result.failure is None and len(result.cancelled) == 1


async def test_a_deleted_carrys_grid_orders_are_cancelled_and_its_legs_kept() -> None:
    a = Carry(rig(), layered())
    await a.tick()
    venue = await a.venue()
    grid = [o.client_order_id for o in venue.account.open_orders() if o.symbol == BTC]
    assert len(grid) == 10
    legs = await a.legs()
    result = await a.rec.teardown(a.fa, a.r.clock.now())
    assert result.failure is None and sorted(result.cancelled) == sorted(grid)
    assert not venue.account.open_orders() and await a.legs() == legs


async def test_an_exchange_down_is_worth_a_retry_and_leaves_the_orders_for_it() -> None:
    m = MM(rig())
    await m.tick()
    v = await m.venue()

    async def down(*_: Any) -> Any:
        raise RetryableVenueError("503 from the exchange")

    v.order = down  # type: ignore[method-assign]
    result = await m.rec.teardown(m.mm, m.r.clock.now())
    assert result.retry and result.failure is not None and result.failure[0] == "ExchangeUnavailable"
    assert len(v.account.open_orders()) == 4 and not result.cancelled
    assert m.r.journal.intents  # kept for the retry: they may name what rests
    del v.order  # the exchange is back: the retry cancels them
    result = await m.rec.teardown(m.mm, m.r.clock.now())
    assert result.failure is None and len(result.cancelled) == 4 and not v.account.open_orders()


def unreachable(m: MM) -> None:
    """The account's venue cannot be had, as with a Live book whose Secret is gone."""
    async def refuse(*_: Any) -> Any:
        raise VenueUnavailable("Secret default/okx-creds not found")

    m.r.venues.account = refuse  # type: ignore[method-assign]


async def test_an_object_that_never_traded_goes_at_once_even_with_its_venue_out_of_reach() -> None:
    """A Live book with a mistyped Secret, deleted to be fixed, must not hang Terminating: with nothing resting in
    its status or intents, no venue is asked for."""
    m = MM(rig())
    unreachable(m)
    assert (await m.tick()).status.conditions[0].reason == "VenueUnavailable"
    result = await m.rec.teardown(m.mm, m.r.clock.now())
    assert result.failure is None and not result.cancelled


async def test_with_orders_resting_a_venue_out_of_reach_is_waited_for_whatever_the_reason() -> None:
    """A missing Secret (VenueUnavailable, permanent for a cycle) can come back, and the quotes are there either
    way: the deletion waits for it rather than leave them."""
    m = MM(rig())
    await m.tick()
    unreachable(m)
    result = await m.rec.teardown(m.mm, m.r.clock.now())
    assert result.retry and result.failure is not None and result.failure[0] == "VenueUnavailable"


async def test_a_cycle_under_way_when_the_deletion_begins_has_its_orders_cancelled_and_none_starts_after() -> None:
    """kopf runs the finalizer beside a timer tick already under way: the deletion waits for that cycle (its quotes
    are then in its intent, newer than the body's status) and cancels them; no cycle starts for the object after,
    nor does one that was waiting for the account's lock when the deletion began."""
    import asyncio

    m = MM(rig())
    v = await m.venue()
    stale = m.mm
    gate, entered = asyncio.Event(), asyncio.Event()
    snapshot = v.snapshot

    async def slow(symbols: Any) -> Any:
        entered.set()
        await gate.wait()
        return await snapshot(symbols)

    v.snapshot = slow  # type: ignore[method-assign]
    tick = asyncio.ensure_future(m.tick())
    await entered.wait()  # the cycle holds the lock and has placed nothing yet
    teardown = asyncio.ensure_future(m.rec.teardown(stale, m.r.clock.now()))
    await asyncio.sleep(0.05)
    assert not teardown.done()  # it waits for the cycle, not "nothing rests, gone at once"
    gate.set()
    await tick
    result = await teardown
    assert result.failure is None and len(result.cancelled) == 4 and not v.account.open_orders()
    v.snapshot = snapshot  # type: ignore[method-assign]
    after = await m.tick(60)
    assert not after.changed and not v.account.open_orders()  # a late tick trades nothing for it


async def test_a_cancel_refused_keeps_no_other_order_resting_and_is_retried() -> None:
    """OKX answers 51410 (cancel pending) now and then: the other quotes still come off, and the deletion waits
    for a retry rather than let the refused one rest behind it."""
    from hedgeops.exchange.venue import OrderRejected

    m = MM(rig())
    await m.tick()
    v = await m.venue()
    first = sorted(o.client_order_id for o in v.account.open_orders())[0]
    cancel = v.cancel

    async def refuse_one(cid: str, symbol: str) -> Any:
        if cid == first:
            raise OrderRejected("51410 cancellation pending")
        return await cancel(cid, symbol)

    v.cancel = refuse_one  # type: ignore[method-assign]
    result = await m.rec.teardown(m.mm, m.r.clock.now())
    assert result.retry and result.failure is not None and result.failure[0] == "CancelRefused"
    assert len(result.cancelled) == 3 and [o.client_order_id for o in v.account.open_orders()] == [first]
    v.cancel = cancel  # type: ignore[method-assign]
    again = await m.rec.teardown(m.mm, m.r.clock.now())
    assert again.failure is None and list(again.cancelled) == [first] and not v.account.open_orders()


async def test_an_object_whose_orders_are_all_final_goes_without_its_venue() -> None:
    """Intents are never cleared: one the status already accounts for must not make every object that ever traded
    need its venue (a namespace deleted with its Secret would stay Terminating for good)."""
    m = MM(rig())
    await m.tick()
    await m.tick(1, HALT)  # quotes cancelled: nothing rests, the status says so
    assert not (await m.venue()).account.open_orders() and not m.mm.status.quotes  # type: ignore[union-attr]
    unreachable(m)
    result = await m.rec.teardown(m.mm, m.r.clock.now())
    assert result.failure is None and not result.cancelled


async def test_the_status_alone_and_the_intent_alone_each_name_what_rests() -> None:
    """A book's maker order named by its status (the body current), and by its intent alone (the body from before
    the cycle that placed it); likewise the carry's grid orders."""
    for current in (True, False):
        r = rig()
        b, _ = await step(r, book())
        stale = b
        b, _ = await step(r, bought_4_sol(b))
        result = await r.reconciler.teardown(b if current else stale, r.clock.now())
        assert result.failure is None and len(result.cancelled) == 1, current
        a = Carry(rig(), layered())
        stale_fa = a.fa
        await a.tick()
        result = await a.rec.teardown(a.fa if current else stale_fa, a.r.clock.now())
        assert result.failure is None and len(result.cancelled) == 10, current


async def test_an_unreadable_intent_or_a_bug_is_told_never_raised() -> None:
    m = MM(rig())
    await m.tick()
    stale = maker()

    async def garbled(key: str) -> Any:
        raise ValueError("Expecting value: line 1 column 1 (char 0)")  # what json.loads says of a garbled intent

    m.r.journal.read_intent = garbled  # type: ignore[method-assign]
    result = await m.rec.teardown(stale, m.r.clock.now())
    assert result.failure is not None and result.failure[0] == "UnreadableIntent" and not result.retry
    del m.r.journal.read_intent
    v = await m.venue()

    async def bug(*_: Any) -> Any:
        raise TypeError("a bug of ours")

    v.order = bug  # type: ignore[method-assign]
    result = await MM(m.r).rec.teardown(m.mm, m.r.clock.now())
    assert result.retry and result.failure is not None and result.failure[:2] == ("TeardownFailed",
                                                                                "TypeError: a bug of ours")

"""The HedgeBook cycle on the paper venue: observe → decide → gate → act → report."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api import HedgeBook
from hedgeops.api.hedgebook import HedgeBookStatus
from hedgeops.engine.common.ids import client_order_id
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.kinds.book_result import CycleResult
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import RedisLocks, account_lock_key
from hedgeops.runtime.venues import paper_account_key

from .runtime_fixtures import Rig, as_result, book, controls, killed_after, policy, rig

D = Decimal


def cond(status: HedgeBookStatus, type_: str) -> tuple[str, str]:
    c = next(c for c in status.conditions if c.type == type_)
    return c.status.value, c.reason


async def step(r: Rig, b: HedgeBook, **kw: object) -> tuple[HedgeBook, CycleResult]:
    pol = kw.pop("pol", policy())
    result = as_result(await r.reconciler.reconcile(b, r.clock.now(), controls(**kw), pol))  # type: ignore[arg-type]
    return b.model_copy(update={"status": result.status}), result


async def test_unhedged_book_gets_an_emergency_taker_hedge_journalled_with_the_fence() -> None:
    r = rig()
    b, res = await step(r, book())
    assert res.decision is not None and res.decision.urgency.value == "Emergency"
    assert res.completed is not None and res.completed.urgency == "Emergency"
    assert b.status is not None and b.status.rebalancesTotal == 1 and b.status.workingPlan is None
    positions = (await r.venues.paper("okx", "b1").snapshot(["SOL/USDT:USDT"])).positions  # type: ignore[union-attr]
    assert positions["SOL/USDT:USDT"].qty == D("-100.00") and positions["ETH/USDT:USDT"].qty == D("-3.000")
    types = [e["type"] for e in r.entries(b)]
    assert types[0] == "plan" and types.count("order") == 2 and types[-1] == "rebalance"
    assert all(e["fence"] >= 1 for e in r.entries(b))
    # Next cycle: within band, nothing to do.
    r.clock.advance(300)
    b, res = await step(r, b)
    assert res.plan is None and cond(b.status, "WithinBand") == ("True", "WithinBand")  # type: ignore[arg-type]
    assert cond(b.status, "Ready") == ("True", "Reconciled")  # type: ignore[arg-type]


def bought_4_sol(b: HedgeBook) -> HedgeBook:
    """The same book after its owner bought 4 SOL more (4% long SOL against the hedge)."""
    holdings = b.spec.holdings.model_copy(update={"static": {"SOL": D(104), "ETH": D(3)}})
    return b.model_copy(update={"spec": b.spec.model_copy(update={"holdings": holdings})})


async def test_normal_rebalance_maker_that_fills_completes_without_a_taker() -> None:
    r = rig()
    b, _ = await step(r, book())
    # Buy 4 SOL more: the book is now 4% long SOL → normal (not emergency: SOL's emergency band is 5%).
    b = bought_4_sol(b)
    r.clock.advance(300)
    b, res = await step(r, b)
    assert res.decision is not None and res.decision.urgency.value == "Normal"
    working = b.status.workingPlan  # type: ignore[union-attr]
    assert working is not None and [o.type for o in working.orders] == ["maker"]
    assert working.orders[0].clientOrderId.endswith("m") and working.makerDeadline is not None
    # The next bar trades through the post-only price: the maker fills and the plan completes on it alone.
    r.clock.advance(300)
    b, res = await step(r, b)
    assert res.completed is not None and b.status.workingPlan is None  # type: ignore[union-attr]
    assert [e["orderType"] for e in r.entries(b) if e["type"] == "order"][-1] == "maker"
    assert not any(e["type"] == "cancel" for e in r.entries(b))
    pos = (await r.venues.paper("okx", "b1").snapshot(["SOL/USDT:USDT"])).positions  # type: ignore[union-attr]
    assert pos["SOL/USDT:USDT"].qty == D("-104.00")


async def test_normal_rebalance_goes_maker_then_taker_after_the_timeout() -> None:
    """A maker that has not filled by makerTimeoutSeconds is cancelled and its remainder sent at market under
    the plan's taker client id. The default timeout (30 s) is shorter than a bar (5 min): stepping the clock
    within the bar, no bar can trade through the post-only price, so the maker really rests until then."""
    r = rig()
    pol = policy()
    timeout = pol.spec.maker_timeout_s()
    assert timeout < 300
    b, _ = await step(r, book(), pol=pol)
    b = bought_4_sol(b)
    r.clock.advance(300)
    b, res = await step(r, b, pol=pol)
    assert res.plan is not None and res.decision is not None and res.decision.urgency.value == "Normal"
    [planned] = res.plan.orders
    maker_id = planned.client_order_id
    taker_id = client_order_id(res.plan.plan_id, planned.slot, "t")
    assert maker_id.endswith("m") and taker_id != maker_id
    venue = r.venues.paper("okx", "b1")
    assert venue is not None and venue.account.orders[maker_id].status == "open"

    # Before the deadline: the maker rests, nothing is cancelled, no taker is sent.
    r.clock.advance(timeout // 2)
    b, res = await step(r, b, pol=pol)
    assert res.completed is None
    working = b.status.workingPlan  # type: ignore[union-attr]
    assert working is not None and [(o.clientOrderId, o.state) for o in working.orders] == [(maker_id, "open")]
    assert venue.account.orders[maker_id].status == "open" and taker_id not in venue.account.orders

    # Past the deadline (still within the bar, so still unfilled): cancel, then the taker under the taker id.
    r.clock.advance(timeout)
    b, res = await step(r, b, pol=pol)
    assert venue.account.orders[maker_id].status == "canceled"
    assert venue.account.orders[maker_id].filled == 0
    taker = venue.account.orders[taker_id]
    assert taker.type == "market" and taker.status == "closed" and taker.amount == planned.amount
    assert res.completed is not None and b.status.workingPlan is None  # type: ignore[union-attr]
    plan_entries = [e for e in r.entries(b) if e.get("clientOrderId") in (maker_id, taker_id)]
    assert [(e["type"], e["clientOrderId"], e.get("orderType") or e.get("reason")) for e in plan_entries] == [
        ("order", maker_id, "maker"), ("cancel", maker_id, "MakerTimeout"), ("order", taker_id, "taker"),
        ("fill", taker_id, None)]
    pos = (await venue.snapshot(["SOL/USDT:USDT"])).positions
    assert pos["SOL/USDT:USDT"].qty == D("-104.00")


async def test_restart_between_submit_and_status_write_never_doubles_the_order() -> None:
    r = rig()
    b, _ = await step(r, book())
    moved = bought_4_sol(b)
    r.clock.advance(300)
    after, res = await step(r, moved)
    assert after.status is not None and after.status.workingPlan is not None
    # Crash: the status with the working plan was never written. The plan's write-ahead intent was: the next
    # cycle adopts that plan (its orders found by client id) instead of planning the same sequence number again.
    again, res2 = await step(r, moved)
    assert res2.plan is None and res2.events[0].reason == "PlanRecovered"
    assert again.status is not None and again.status.rebalanceSeq == after.status.rebalanceSeq
    venue = r.venues.paper("okx", "b1")
    assert venue is not None
    assert len([o for o in venue.account.orders if o.startswith("ho" + res.plan.plan_id)]) == 1  # type: ignore[union-attr]
    recovered = [e for e in r.entries(b) if e["type"] == "recovered"]
    assert len(recovered) == 1 and len(recovered[0]["found"]) == 1


async def test_killed_between_the_legs_of_a_plan_the_next_process_adopts_the_first_and_never_doubles() -> None:
    r = rig()
    b = book()
    venue = await r.venues.venue_for(b.spec.exchange, b.spec.mode, "default")
    async with killed_after(venue, 1) as sent:
        await step(r, b)
    # The next process starts from the status as it was (no plan), with the same journal.
    b2, res = await step(r, b)
    assert res.events[0].reason == "PlanRecovered"
    orders = [o for o in venue.account.orders.values()]  # type: ignore[attr-defined]
    assert [o.client_order_id for o in orders].count(sent[0]) == 1
    # The recovered plan had one order (SOL); ETH is still unhedged, so a new plan under the next sequence
    # number hedges it at once: no client id is ever used twice, and the book ends fully hedged.
    r.clock.advance(300)
    b3, _res3 = await step(r, b2)
    pos = (await venue.snapshot(["SOL/USDT:USDT", "ETH/USDT:USDT"])).positions
    assert pos["SOL/USDT:USDT"].qty == D("-100.00") and pos["ETH/USDT:USDT"].qty == D("-3.000")
    ids = [o.client_order_id for o in venue.account.orders.values()]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)) == 2
    assert b3.status is not None and b3.status.rebalanceSeq == 2


async def test_missing_policy_is_a_condition_not_a_crash() -> None:
    r = rig()
    result = await r.reconciler.reconcile(book(), r.clock.now())
    assert cond(result.status, "Ready") == ("False", "PolicyNotFound")
    assert "'p' not found" in result.events[0].message
    assert r.venues.paper("okx", "b1") is None  # never reached the exchange


async def test_unknown_symbol_is_a_condition_and_no_order() -> None:
    r = rig()
    bad = book(holdings={"source": "Static", "static": {"DOGE": 1000}},
               legs=[{"asset": "DOGE", "symbol": "DOGE/USDT:USDT"}])
    b, res = await step(r, bad)
    assert cond(b.status, "Ready") == ("False", "UnknownSymbol")  # type: ignore[arg-type]
    assert "DOGE/USDT:USDT" in res.events[0].message
    assert not r.venues.paper("okx", "b1").account.orders  # type: ignore[union-attr]


async def test_account_locked_by_another_actor_means_no_order() -> None:
    r = rig()
    other = await r.locks.acquire(account_lock_key(paper_account_key("default", "okx", "b1")), "someone-else", 60)
    assert other is not None
    b, _ = await step(r, book())
    assert cond(b.status, "Degraded") == ("True", "AccountLocked")  # type: ignore[arg-type]
    assert r.venues.paper("okx", "b1") is None or not r.venues.paper("okx", "b1").account.orders  # type: ignore[union-attr]


async def test_paused_and_halted_books_report_but_never_trade() -> None:
    r = rig()
    b, res = await step(r, book(paused=True))
    assert res.plan is not None and res.completed is None
    assert b.status is not None and b.status.exposures and b.status.totalDeviationRatio == D(1)
    b2, _ = await step(r, book("b2"), halted=True)
    assert cond(b2.status, "Halted") == ("True", "HaltAnnotation")  # type: ignore[arg-type]
    for name in ("b1", "b2"):
        assert not r.venues.paper("okx", name).account.orders  # type: ignore[union-attr]


async def test_live_mode_without_a_live_venue_refuses_clearly() -> None:
    r = rig()
    b, _ = await step(r, book(mode="Live"))
    assert cond(b.status, "Ready") == ("False", "VenueUnavailable")  # type: ignore[arg-type]


async def test_replayed_basket_drift_breaches_the_band_and_is_rebalanced() -> None:
    """A JLP-like constant-weight basket on real prices: after the initial hedge, price moves alone
    push it out of band and the cycle brings it back."""
    r = rig()
    b = book(holdings={"source": "Basket", "basket": {"tokenAmount": 3750, "tokenPriceQuote": 4,
                                                       "weights": {"SOL": 0.45, "ETH": 0.085}}})
    reasons = []
    completed: dict[tuple[str, str], int] = {}
    for _ in range(288 * 3):  # three days of 5-minute bars
        b, res = await step(r, b)
        if res.completed is not None:
            reasons.append(res.completed.reason)
            key = (res.completed.urgency, res.completed.reason)
            completed[key] = completed.get(key, 0) + 1
        r.clock.advance(300)
    assert reasons[0].startswith("Emergency")  # the initial hedge
    assert any(x in ("AssetDeviation", "TotalDeviation", "StaleDeviation") for x in reasons[1:])
    # The counter holds exactly one increment per completed rebalance, under its urgency and reason.
    assert any(urgency == "Normal" for urgency, _ in completed)
    for (urgency, reason), n in completed.items():
        value = r.metrics.registry.get_sample_value(
            "hedgeops_rebalances_total", {"namespace": "default", "name": "b1", "mode": "Paper", "urgency": urgency,
                                          "reason": reason})
        assert value == n, (urgency, reason, value, n)
    assert b.status is not None and b.status.basketMark is not None
    assert b.status.basketMark.tokenPriceQuote != D(4)  # the pool moved with real prices


async def test_daily_counters_reset_at_utc_midnight() -> None:
    r = rig()
    b, _ = await step(r, book())
    assert b.status is not None and b.status.today is not None and b.status.today.rebalances == 1
    r.clock.advance(timedelta(days=1).total_seconds())
    b, _ = await step(r, b)
    assert b.status.today.rebalances == 0 and b.status.today.date == "2025-01-03"  # type: ignore[union-attr]


async def test_someone_elses_resting_order_counts_in_the_delta_and_is_not_doubled() -> None:
    from hedgeops.model.orders import OrderRequest

    r = rig()
    b, _ = await step(r, book())
    venue = r.venues.paper("okx", "b1")
    assert venue is not None
    snap = await venue.snapshot(["SOL/USDT:USDT"])
    far_above = snap.quotes["SOL/USDT:USDT"].ask * 2  # rests, never fills in this test
    await venue.place(OrderRequest("manual1", "SOL/USDT:USDT", "sell", D(4), "limit", far_above.quantize(D("0.01")),
                                   post_only=True))
    r.clock.advance(300)
    b, res = await step(r, bought_4_sol(b))
    # The 4 SOL the owner bought are already being sold by the resting order: nothing more to trade.
    assert res.plan is None and b.status.workingPlan is None  # type: ignore[union-attr]
    sol = next(e for e in b.status.exposures if e.asset == "SOL")  # type: ignore[union-attr]
    assert sol.hedgeQty == D("-104.00")


async def test_an_active_signal_overrides_the_target_until_it_expires() -> None:
    from hedgeops.engine.hedge.signals import Priority, Signal, signal_to_status

    r = rig()
    b, _ = await step(r, book())
    now = r.clock.now()
    half = Signal("tv-1", now, now + timedelta(minutes=10), Priority.NORMAL, {}, D("0.5"))
    b = b.model_copy(update={"status": b.status.model_copy(update={"activeSignal": signal_to_status(half)})})  # type: ignore[union-attr]
    r.clock.advance(60)
    b, res = await step(r, b)
    sol = next(e for e in b.status.exposures if e.asset == "SOL")  # type: ignore[union-attr]
    assert sol.targetHedgeQty == D("-50.00") and res.plan is not None and res.plan.urgency.value == "Emergency"
    pos = (await r.venues.paper("okx", "b1").snapshot(["SOL/USDT:USDT"])).positions  # type: ignore[union-attr]
    assert pos["SOL/USDT:USDT"].qty == D("-50.00")
    r.clock.advance(600)  # expired: the book's own hedge ratio of 1 is back
    b, _ = await step(r, b)
    sol = next(e for e in b.status.exposures if e.asset == "SOL")  # type: ignore[union-attr]
    assert sol.targetHedgeQty == D("-100.00")


async def test_large_orders_are_sliced_by_max_order_quote() -> None:
    r = rig()
    _, res = await step(r, book(), pol=policy(execution={"maxOrderQuote": "5000"}))
    sol = [o for o in res.plan.orders if o.asset == "SOL"]  # type: ignore[union-attr]
    assert len(sol) > 1 and sum(o.amount for o in sol) == D(100)
    assert len({o.client_order_id for o in res.plan.orders}) == len(res.plan.orders)  # type: ignore[union-attr]
    pos = (await r.venues.paper("okx", "b1").snapshot(["SOL/USDT:USDT"])).positions  # type: ignore[union-attr]
    assert pos["SOL/USDT:USDT"].qty == D("-100.00")


async def test_halt_cancels_a_working_plans_resting_orders_within_the_cycle() -> None:
    r = rig()
    b, _ = await step(r, book())
    b = bought_4_sol(b)
    r.clock.advance(300)
    b, _ = await step(r, b)
    working = b.status.workingPlan  # type: ignore[union-attr]
    assert working is not None and working.orders[0].state == "open"
    paper = r.venues.paper("okx", "b1")
    assert paper is not None and paper.account.open_orders()
    r.clock.advance(60)
    b, res = await step(r, b, halted=True)
    assert not paper.account.open_orders() and b.status.workingPlan is None  # type: ignore[union-attr]
    assert any(ev.reason == "Halted" for ev in res.events)
    assert [e["reason"] for e in r.entries(b) if e["type"] == "cancel"] == ["Halted"]
    before = len(paper.account.orders)
    for _ in range(3):  # and nothing more is sent while halted, though the book is out of band
        r.clock.advance(300)
        b, res = await step(r, b, halted=True)
    assert len(paper.account.orders) == before and res.plan is not None and res.completed is None


async def test_manual_approval_executes_exactly_the_approved_plan_and_never_an_expired_one() -> None:
    r = rig()
    manual = policy(approval="Manual", approvalTtlSeconds=600)
    b, res = await step(r, book(), pol=manual)
    pending = b.status.pendingPlan  # type: ignore[union-attr]
    assert pending is not None and pending["state"] == "Proposed" and len(pending["orders"]) == 2
    assert cond(b.status, "AwaitingApproval")[0] == "True"  # type: ignore[arg-type]
    assert "AwaitingApproval" in [e.reason for e in res.events]
    venue = r.venues.paper("okx", "b1")
    assert venue is not None and venue.account.orders == {}
    # Waiting re-proposes the same plan under the same id (nothing is sent); a wrong id is refused.
    r.clock.advance(60)
    b, res = await step(r, b, pol=manual, approval="deadbeef-00000000")
    assert b.status.pendingPlan["id"] == pending["id"] and venue.account.orders == {}  # type: ignore[index,union-attr]
    assert "ApprovalWrongPlan" in [e.reason for e in res.events]
    # Past its expiry the plan is never executed, even when approved by its id.
    r.clock.advance(600)
    b, res = await step(r, b, pol=manual, approval=pending["id"])
    assert venue.account.orders == {}
    assert "PlanExpired" in [e.reason for e in res.events]
    fresh = b.status.pendingPlan  # type: ignore[union-attr]
    assert fresh is not None and fresh["state"] == "Proposed"
    # Approving the fresh plan executes exactly it, once.
    r.clock.advance(60)
    b, res = await step(r, b, pol=manual, approval=fresh["id"])
    assert "PlanApproved" in [e.reason for e in res.events] and len(venue.account.orders) == 2
    assert b.status.pendingPlan["state"] == "Executed"  # type: ignore[index,union-attr]
    r.clock.advance(60)
    b, res = await step(r, b, pol=manual, approval=fresh["id"])  # the same approval again: refused, no order
    assert len(venue.account.orders) == 2
    assert any(e.reason.startswith("Approval") for e in res.events)


async def test_close_all_flattens_every_hedge_leg_reduce_only_and_trades_nothing_else() -> None:
    r = rig()
    b, _ = await step(r, book())
    venue = r.venues.paper("okx", "b1")
    assert venue is not None
    r.clock.advance(300)
    b, res = await step(r, b, close_all=True)
    assert "CloseAll" in [e.reason for e in res.events]
    assert (await venue.snapshot(["SOL/USDT:USDT", "ETH/USDT:USDT"])).positions == {}
    closing = [o for o in venue.account.orders.values() if o.client_order_id.startswith("ho")][-2:]
    assert {o.side for o in closing} == {"buy"}
    r.clock.advance(300)
    b, res = await step(r, b, close_all=True)  # wildly out of band now, but close-all holds it flat
    assert [e.reason for e in res.events if e.reason != "PersistingDeviation"] == ["ClosedAll"]
    assert (await venue.snapshot(["SOL/USDT:USDT"])).positions == {}


async def test_two_books_on_one_account_in_one_process_queue_for_the_lock(redis_client: Any) -> None:
    """kopf runs each book's timer as its own task: two books on one account cycle at the same time. The lock
    store is re-entrant per owner, so without the in-process queue the second book's acquisition would fence
    the first one out in the middle of its plan (LockLost)."""
    r = rig()
    services = Services(r.venues, RedisLocks(redis_client), r.journal, r.metrics, owner="one-process")
    reconciler = HedgeBookReconciler(services)
    shared = {"name": "okx", "account": "shared"}
    sol = book("sol", exchange=shared, holdings={"source": "Static", "static": {"SOL": 100}},
               legs=[{"asset": "SOL", "symbol": "SOL/USDT:USDT"}])
    eth = book("eth", exchange=shared, holdings={"source": "Static", "static": {"ETH": 3}},
               legs=[{"asset": "ETH", "symbol": "ETH/USDT:USDT"}])
    venue = await r.venues.venue_for(sol.spec.exchange, sol.spec.mode, "default")
    place = venue.place

    async def slow_place(order: Any) -> Any:  # a real exchange answers later: let the other book's task run
        await asyncio.sleep(0.05)
        return await place(order)

    venue.place = slow_place  # type: ignore[method-assign]
    sliced = policy(execution={"maxOrderQuote": 5000})  # several orders per plan: a fence check between them
    results = [as_result(o) for o in await asyncio.gather(*(reconciler.reconcile(b, r.clock.now(), None, sliced)
                                                                for b in (sol, eth)))]
    for res in results:
        assert cond(res.status, "Ready") == ("True", "Reconciled") and res.completed is not None
    positions = (await venue.snapshot(["SOL/USDT:USDT", "ETH/USDT:USDT"])).positions
    assert positions["SOL/USDT:USDT"].qty == D(-100) and positions["ETH/USDT:USDT"].qty == D(-3)
    fences = {e["fence"] for b in (sol, eth) for e in r.entries(b)}
    assert len(fences) == 2  # one lease per cycle, one after the other


async def test_a_deviation_below_the_minimum_order_is_reported_and_trades_nothing() -> None:
    r = rig()
    pol = policy(minOrder={"SOL": 0.05, "ETH": 1})
    b, _ = await step(r, book(), pol=pol)
    # ETH drifts 2.91% (0.09 of 3.09 ETH): beyond Compact's 2% band, but no order of at least 1 ETH could correct it.
    holdings = b.spec.holdings.model_copy(update={"static": {"SOL": D(100), "ETH": D("3.09")}})
    b = b.model_copy(update={"spec": b.spec.model_copy(update={"holdings": holdings})})
    r.clock.advance(300)
    b, res = await step(r, b, pol=pol)
    assert res.plan is None and b.status is not None and b.status.workingPlan is None
    assert cond(b.status, "WithinBand") == ("False", "BelowMinimumOrder")
    message = next(c.message for c in b.status.conditions if c.type == "WithinBand")
    assert "ETH deviates 2.91%" in message and "below the minimum order" in message


async def test_close_all_under_manual_approval_never_waits_and_says_so() -> None:
    """Like an Allocation book's exit: the close-all executes at once under approval Manual, the bypass journalled
    and told (Warning ApprovalBypassed); the plan that was waiting for approval is superseded, and an approval of
    it in the same cycle is refused, both told and journalled."""
    r = rig()
    manual = policy(approval="Manual", approvalTtlSeconds=3600)
    b, _ = await step(r, book(), pol=manual)
    pending = b.status.pendingPlan  # type: ignore[union-attr]
    assert pending is not None and pending["state"] == "Proposed"
    b, _ = await step(r, b, pol=manual, approval=pending["id"])  # hedged, so that close-all has legs to close
    venue = r.venues.paper("okx", "b1")
    assert venue is not None and (await venue.snapshot(["SOL/USDT:USDT"])).positions
    r.clock.advance(300)  # the holdings grow: a new plan waits for approval
    grown = book(holdings={"source": "Static", "static": {"SOL": 150, "ETH": 3}})
    b, _ = await step(r, grown.model_copy(update={"status": b.status}), pol=manual)
    assert b.status.pendingPlan["state"] == "Proposed"  # type: ignore[index,union-attr]
    waiting = b.status.pendingPlan["id"]  # type: ignore[index,union-attr]
    r.clock.advance(300)
    b, res = await step(r, b, pol=manual, close_all=True, approval=waiting)
    assert "ApprovalBypassed" in [e.reason for e in res.events] and "CloseAll" in [e.reason for e in res.events]
    told = [e.message for e in res.events if waiting in e.message and e.reason != "ApprovalBypassed"]
    assert told and any("superseded" in m.lower() for m in told), res.events
    assert [e for e in r.entries(b) if e["type"] == "approval" and waiting in (e.get("message") or "")]
    assert (await venue.snapshot(["SOL/USDT:USDT", "ETH/USDT:USDT"])).positions == {}
    bypass = [e for e in r.entries(b) if e["type"] == "approvalBypassed"]
    plans = [e for e in r.entries(b) if e["type"] == "plan" and e["reason"] == "CloseAll"]
    assert len(bypass) == 1 and bypass[0]["planId"] == plans[0]["planId"]
    assert b.status.pendingPlan["state"] == "Superseded"  # type: ignore[index,union-attr]
    r.clock.advance(300)
    b, res = await step(r, b, pol=manual, close_all=True)  # held flat: nothing to close, nothing bypassed
    assert "ApprovalBypassed" not in [e.reason for e in res.events]


async def test_a_resting_plan_cancelled_by_close_all_is_not_said_to_be_retried() -> None:
    """An approved plan resting as maker orders when close-all arrives: its orders come off and the legs are closed
    in the same cycle; the plan that never filled is not 'tried again at its next interval' (close-all holds)."""
    r = rig()
    manual = policy(approval="Manual", approvalTtlSeconds=3600)
    b, _ = await step(r, book(), pol=manual)
    b, _ = await step(r, b, pol=manual, approval=b.status.pendingPlan["id"])  # type: ignore[index,union-attr]
    b = bought_4_sol(b)
    r.clock.advance(300)
    b, _ = await step(r, b, pol=manual)
    b, _ = await step(r, b, pol=manual, approval=b.status.pendingPlan["id"])  # type: ignore[index,union-attr]
    assert b.status.workingPlan is not None  # type: ignore[union-attr]
    b, res = await step(r, b, pol=manual, close_all=True)
    failed = [e.message for e in res.events if e.reason == "RebalanceFailed"]
    assert failed and all("cancelled by close-all" in m and "next interval" not in m for m in failed)
    assert "CloseAll" in [e.reason for e in res.events] and b.status.workingPlan is None  # type: ignore[union-attr]


class _Killed(BaseException):
    """The process dies mid-cycle (SIGKILL): nothing after this point runs, no status is written."""


async def test_a_close_all_retried_after_a_crash_journals_its_plan_once_and_sends_nothing_twice() -> None:
    """A process killed between the close-all's two orders: the successor re-runs the cycle from the last written
    status (rebalanceSeq not yet advanced), closes the leg still open under the same plan id, and
    journals neither the plan nor its bypassed approval a second time (both were, before the journal's write-once
    entries)."""
    r = rig()
    manual = policy(approval="Manual", approvalTtlSeconds=3600)
    b, _ = await step(r, book(), pol=manual)
    b, _ = await step(r, b, pol=manual, approval=b.status.pendingPlan["id"])  # type: ignore[index,union-attr]
    venue = r.venues.paper("okx", "b1")
    assert venue is not None and len((await venue.snapshot(["SOL/USDT:USDT", "ETH/USDT:USDT"])).positions) == 2
    before = b
    place, sent = venue.place, list[str]()

    async def dies_after_the_first(order):  # type: ignore[no-untyped-def]
        if sent:
            raise _Killed
        sent.append(order.client_order_id)
        return await place(order)

    venue.place = dies_after_the_first  # type: ignore[method-assign]
    r.clock.advance(300)
    with pytest.raises(_Killed):
        await step(r, before, pol=manual, close_all=True)
    venue.place = place  # type: ignore[method-assign]
    b, res = await step(r, before, pol=manual, close_all=True)
    assert (await venue.snapshot(["SOL/USDT:USDT", "ETH/USDT:USDT"])).positions == {}
    entries = r.entries(b)
    plans = [e for e in entries if e["type"] == "plan" and e["reason"] == "CloseAll"]
    bypass = [e for e in entries if e["type"] == "approvalBypassed"]
    assert len(plans) == 1 and len(bypass) == 1 and bypass[0]["planId"] == plans[0]["planId"]
    orders = [e["clientOrderId"] for e in entries[entries.index(plans[0]):]
              if e["type"] == "order" and e["outcome"] == "accepted"]
    assert len(orders) == 2 == len(set(orders)) and sent[0] in orders  # the closed leg is not sent again
    assert "ApprovalBypassed" in [e.reason for e in res.events]  # still told on the retry: the event is cheap


async def test_a_book_re_created_under_its_name_never_adopts_the_deleted_ones_plan() -> None:
    """Deleted while its post-only sell of 4 SOL rested, re-created (new uid) holding 100 SOL: the new book found
    the dead one's write-ahead intent under the same name, reported "PlanRecovered" and finished it with a market
    order (SOL perp -104 against 100 held). Intents are kept by uid: the new book plans from what it sees."""
    r = rig()
    b, _ = await step(r, book())
    r.clock.advance(300)
    b, _ = await step(r, bought_4_sol(b))  # a normal plan: a post-only sell of 4 SOL rests
    venue = r.venues.paper("okx", "b1")
    assert venue is not None and [o.amount for o in venue.account.open_orders()] == [D(4)]
    new = book()
    new = new.model_copy(update={"metadata": new.metadata.model_copy(update={"uid": "uid-b1-new"})})
    r.clock.advance(5)
    new, res = await step(r, new)
    assert "PlanRecovered" not in [e.reason for e in res.events]
    r.clock.advance(60)  # past the dead plan's maker deadline
    new, res = await step(r, new)
    assert "PlanRecovered" not in [e.reason for e in res.events]
    sol = (await venue.snapshot(["SOL/USDT:USDT"])).positions["SOL/USDT:USDT"].qty
    assert sol >= D(-100)  # never over-hedged by the dead plan's taker

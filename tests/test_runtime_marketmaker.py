"""MarketMaker cycles on the paper venue replaying real SOL prices: quotes rest post-only around the mid, fills
are booked exactly once from the orders themselves, the position lines reduce, halt cancels, close-all flattens
and holds flat, duration ends it, and a process killed mid-cycle leaves its quotes adopted rather than forgotten.
The reconciler runs with a `Schedule`, as the operator and local mode run it: a cycle every intervalSeconds, and
at the next tick when the spec or a control changes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from hedgeops.api.marketmaker import MarketMaker, MarketMakerStatus
from hedgeops.engine.common.controls import Controls
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.model.orders import OrderRequest
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.journal import journal_stream
from hedgeops.runtime.kinds.marketmaker import (
    IntendedOrder,
    MakerIntent,
    MarketMakerCycle,
    MarketMakerReconciler,
)
from hedgeops.runtime.reconcile import Outcome, Schedule

from .runtime_fixtures import Rig, killed_after, rig

D = Decimal
SOL = "SOL/USDT:USDT"
HALT = Controls(halt="hedgeops.io/halt=true is set on the object")
CLOSE_ALL = Controls(close_all=True)


def maker(**spec: Any) -> MarketMaker:
    body: dict[str, Any] = {"exchange": {"name": "okx", "account": "mm"}, "symbol": SOL, "spreadRatio": "0.002",
                            "quantity": "1", "maxOrders": 2, "positionThreshold": "3", "maxPosition": "5",
                            "stopLossQuote": "-100", "intervalSeconds": 60}
    body.update(spec)
    return MarketMaker.model_validate({"kind": "MarketMaker", "metadata": {"name": "sol", "uid": "uid-mm",
                                                                          "generation": 1}, "spec": body})


async def held(v: PaperVenue) -> Decimal:
    pos = (await v.snapshot([SOL])).positions.get(SOL)
    return pos.qty if pos else D(0)


class MM:
    def __init__(self, r: Rig, **spec: Any) -> None:
        self.r = r
        self.rec = MarketMakerReconciler(r.reconciler.s, Schedule())
        self.mm = maker(**spec)

    async def tick(self, seconds: float = 0, controls: Controls | None = None) -> Outcome[MarketMakerStatus]:
        self.r.clock.advance(seconds)
        res = await self.rec.reconcile(self.mm, self.r.clock.now(), controls)
        self.mm = self.mm.model_copy(update={"status": res.status})
        return res

    def restart(self) -> None:
        """The next process: a schedule of its own, and the object as stored (its status never written)."""
        self.rec = MarketMakerReconciler(self.r.reconciler.s, Schedule())
        self.mm = maker()

    async def venue(self) -> PaperVenue:
        v = await self.r.venues.venue_for(self.mm.spec.exchange, self.mm.spec.mode, "default")
        assert isinstance(v, PaperVenue)
        return v


async def test_quotes_rest_both_sides_and_fills_are_booked_once() -> None:
    m = MM(rig())
    res = await m.tick()
    st = res.status
    assert st.reason == "Quoting" and len(st.quotes) == 4
    mid = (st.bid + st.ask) / 2  # type: ignore[operator]
    assert all((D(q["price"]) < mid) == (q["side"] == "buy") for q in st.quotes)
    assert all(q["clientOrderId"].endswith("m") for q in st.quotes)
    v = await m.venue()
    assert len(v.account.open_orders()) == 4
    # Run an hour of replay: the real SOL moves fill quotes; the book must match the venue's fills exactly.
    for _ in range(60):
        res = await m.tick(60)
    fills = v.account.fills
    assert fills, "an hour of real SOL prices should fill a 0.2% quote"
    bought = sum((f.qty for f in fills if f.side == "buy"), D(0))
    sold = sum((f.qty for f in fills if f.side == "sell"), D(0))
    assert (res.status.boughtQty, res.status.soldQty) == (bought, sold)
    assert res.status.feesQuote == sum((f.fee_quote for f in fills), D(0)).quantize(D("0.00000001"))
    pos = (await v.snapshot([SOL])).positions.get(SOL)
    assert res.status.position == (pos.qty if pos else D(0))
    assert abs(res.status.position) <= D(5)
    # Quotes never sit in more than maxOrders layers a side.
    assert len(v.account.open_orders()) <= 4


async def test_position_beyond_the_threshold_is_reduced_reduce_only() -> None:
    m = MM(rig())
    await m.tick()
    v = await m.venue()
    await v.place(OrderRequest("manual-buy", SOL, "buy", D("4.00"), "market"))  # someone pushed it to 4 long
    res = await m.tick(60)
    assert res.status.reason == "Reduce"
    assert any(e.reason == "Reduce" for e in res.events)
    pos = (await v.snapshot([SOL])).positions[SOL].qty
    assert pos == D("3.00")  # back to the threshold line: only the excess was sold


async def test_halt_cancels_every_quote_within_the_cycle_and_duration_ends_the_run() -> None:
    m = MM(rig(), durationSeconds=600)
    await m.tick()
    v = await m.venue()
    requests = v.requests
    res = await m.tick(1)
    assert not res.changed and v.requests == requests  # not due: no call
    res = await m.tick(1, HALT)  # not due, but a halt is (a control changed: the next tick acts on it)
    assert res.status.reason == "Halted" and v.account.open_orders() == [] and res.status.quotes == []
    halted = next(c for c in res.status.conditions if c.type == "Halted")
    assert (halted.status.value, halted.reason) == ("True", "HaltAnnotation") and "halt=true" in halted.message
    res = await m.tick(60)
    assert len(v.account.open_orders()) == 4
    res = await m.tick(600)
    finished = next(c for c in res.status.conditions if c.type == "Finished")
    assert finished.status.value == "True" and v.account.open_orders() == []
    requests = v.requests
    await m.tick(600)
    assert v.requests == requests  # finished: no more calls


async def test_quotes_of_a_killed_process_are_adopted_not_forgotten() -> None:
    m = MM(rig())
    v = await m.venue()
    async with killed_after(v, 2):
        await m.tick()
    assert len(v.account.open_orders()) == 2
    m.restart()
    res = await m.tick(60)
    assert "PlanRecovered" in [e.reason for e in res.events]
    open_ids = {o.client_order_id for o in v.account.open_orders()}
    assert len(open_ids) == 4 and {q["clientOrderId"] for q in res.status.quotes} == open_ids
    ids = list(v.account.orders)
    assert len(ids) == len(set(ids))
    # The fill rate's denominator counts the killed process's quotes too: every quote the venue got, once.
    assert res.status.quotesPlaced == len(ids) == 4


async def test_a_symbol_the_venue_lists_as_no_linear_swap_is_never_quoted() -> None:
    """The CRD refuses a spot or inverse symbol; this is the same promise held against the market the venue
    actually lists (a venue can list a symbol differently from what its name says)."""
    m = MM(rig())
    v = await m.venue()
    v.account.markets[SOL] = dataclasses.replace(v.account.markets[SOL], linear_swap=False)
    res = await m.tick()
    ready = next(c for c in res.status.conditions if c.type == "Ready")
    assert (ready.status.value, ready.reason) == ("False", "MarketMismatch") and "linear" in ready.message
    assert not v.account.orders


async def test_close_all_cancels_every_quote_closes_reduce_only_and_holds_flat() -> None:
    """Seed 003's close-all for a MarketMaker: every quote cancelled, the position closed at market reduce-only,
    then flat and nothing quoted while hedgeops.io/close-all is set; quoting resumes once it is removed."""
    m = MM(rig())
    sold = (await m.tick()).status.soldQty
    v = await m.venue()
    await v.place(OrderRequest("manual-buy", SOL, "buy", D("2.00"), "market"))  # long 2: inside the lines
    sent: list[OrderRequest] = []
    place = v.place

    async def spy(req: OrderRequest) -> Any:
        sent.append(req)
        return await place(req)

    v.place = spy  # type: ignore[method-assign,assignment]
    res = await m.tick(1, CLOSE_ALL)  # not due by the interval: the control's change is acted on at once
    assert res.status.reason == "CloseAll" and v.account.open_orders() == [] and res.status.quotes == []
    assert [(r.side, r.amount, r.type, r.reduce_only) for r in sent] == [("sell", D("2.00"), "market", True)]
    assert await held(v) == 0
    assert res.status.soldQty - sold == D("2.00")  # the ledger booked the close's fill
    assert [(e.type, e.reason) for e in res.events] == [("Warning", "CloseAll")]
    ready = next(c for c in res.status.conditions if c.type == "Ready")
    assert (ready.status.value, ready.reason) == ("True", "CloseAll")
    for _ in range(5):  # held flat: a cycle every interval, nothing quoted, nothing sent
        res = await m.tick(60, CLOSE_ALL)
        assert res.status.reason == "ClosedAll" and v.account.open_orders() == []
    assert len(sent) == 1
    assert [e.reason for e in (await m.tick(60, CLOSE_ALL)).events] == []  # said once, not every cycle
    res = await m.tick(1)  # removed: quoting again at once
    assert res.status.reason == "Quoting" and len(v.account.open_orders()) == 4


async def test_close_all_comes_before_a_halt_and_flattens_a_finished_run() -> None:
    """A finished run leaves its position as is; close-all is how a person flattens it, halted or not."""
    m = MM(rig(), durationSeconds=60)
    await m.tick()
    v = await m.venue()
    await v.place(OrderRequest("manual-sell", SOL, "sell", D("1.00"), "market"))
    res = await m.tick(60)
    assert next(c for c in res.status.conditions if c.type == "Finished").status.value == "True"
    requests = v.requests
    assert not (await m.tick(60)).changed and v.requests == requests  # finished: no calls
    res = await m.tick(60, Controls(halt="maintenance", close_all=True))
    assert res.status.reason == "CloseAll" and await held(v) == 0
    conds = {c.type: c.status.value for c in res.status.conditions}
    assert conds["Finished"] == "True" and conds["Halted"] == "True"  # still finished; the halt is reported


def test_a_halt_or_close_all_with_quotes_resting_is_wanted_off_the_schedule() -> None:
    """The kind's own wish beyond the schedule: quotes must come off the book now, not at the next slot."""
    cycle = MarketMakerCycle(rig().reconciler.s)
    mm, now = maker(), rig().clock.now()
    resting = MarketMakerStatus(quotes=[{"clientOrderId": "x", "side": "buy", "price": "1", "amount": "1"}])
    assert cycle.wanted(mm, MarketMakerStatus(), Controls(), now, scheduled=False) is None
    assert cycle.wanted(mm, resting, Controls(), now, scheduled=False) is None
    assert cycle.wanted(mm, resting, HALT, now, scheduled=False) is not None
    assert cycle.wanted(mm, resting, CLOSE_ALL, now, scheduled=False) is not None
    assert cycle.wanted(mm, MarketMakerStatus(), HALT, now, scheduled=False) is None


async def test_the_intent_keeps_the_stored_json_of_the_previous_version() -> None:
    """An intent written before the upgrade (untyped, `cycle`/`orders`) still recovers, and the typed one is
    written with the same field names."""
    m = MM(rig())
    old = {"fence": 1, "cycle": 3, "orders": [{"clientOrderId": "c1", "side": "buy", "price": "150.5",
                                               "amount": "1"}]}
    store, key = IntentStore(m.r.journal, MakerIntent), journal_stream("MarketMaker", m.mm.key)
    await m.r.journal.write_intent(key, old)
    intent = await store.pending(key, 2)
    assert intent == MakerIntent(3, (IntendedOrder("c1", "buy", D("150.5"), D("1")),)) and intent.seq == 3
    assert await store.pending(key, 3) is None  # the status already accounts for cycle 3
    assert store.doc(intent) == {k: v for k, v in old.items() if k != "fence"}


async def test_a_target_off_zero_is_reached_with_an_order_that_may_add() -> None:
    """From flat towards a 3 SOL target (threshold 1): the line's buy of 2 adds to the position, so it is not
    reduce-only. Sent reduce-only, every venue refused it, every cycle, and the target was never reached."""
    m = MM(rig(), targetPosition="3", positionThreshold="1", maxPosition="5")
    res = await m.tick()
    assert res.status.reason == "Reduce" and not any(e.reason == "RebalanceFailed" for e in res.events)
    assert await held(await m.venue()) == D("2.00")
    # Past the target, the line's sell takes from the long: reduce-only again.
    v = await m.venue()
    await v.place(OrderRequest("manual-buy", SOL, "buy", D("3.00"), "market"))
    placed: list[OrderRequest] = []
    place = v.place

    async def spy(req: OrderRequest) -> object:
        placed.append(req)
        return await place(req)

    v.place = spy  # type: ignore[method-assign]
    await m.tick(60)
    [close] = [r for r in placed if r.type == "market"]
    assert close.side == "sell" and close.reduce_only and await held(v) == D("4.00")


async def test_the_stop_loss_watches_a_position_the_maker_did_not_open() -> None:
    """A position on the venue that none of its fills made (a lost status, a manual trade, a deleted maker's
    leftovers) is still its risk: the stop reads the venue's position and entry, not only its own fill ledger."""
    # Quotes 10% away: none fills in the day, so the maker's own fills never make a position of their own.
    m = MM(rig(), stopLossQuote="-2", positionThreshold="4", maxPosition="5", spreadRatio="0.1")
    v = await m.venue()
    await v.place(OrderRequest("manual-buy", SOL, "buy", D("4.00"), "market"))  # long 4, not the maker's doing
    for _ in range(24 * 60):
        res = await m.tick(60)
        if res.status.reason == "StopLoss":
            break
    else:
        raise AssertionError("a day of real SOL prices never took the long 4 down 0.50 a unit")
    assert await held(v) == D("0")  # closed at market, reduce-only
    assert res.status.boughtQty == 0  # none of its quotes filled: the long was never its own

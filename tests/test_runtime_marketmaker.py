"""MarketMaker cycles on the paper venue replaying real SOL prices: quotes rest post-only around the mid, fills
are booked exactly once from the orders themselves, the position lines reduce, halt cancels, duration ends it,
and a process killed mid-cycle leaves its quotes adopted rather than forgotten."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from hedgeops.api.marketmaker import MarketMaker
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.model.orders import OrderRequest
from hedgeops.runtime.kinds.marketmaker import MakerResult, MarketMakerReconciler

from .runtime_fixtures import Rig, killed_after, rig

D = Decimal
SOL = "SOL/USDT:USDT"


def maker(**spec: Any) -> MarketMaker:
    body: dict[str, Any] = {"exchange": {"name": "okx", "account": "mm"}, "symbol": SOL, "spreadRatio": "0.002",
                            "quantity": "1", "maxOrders": 2, "positionThreshold": "3", "maxPosition": "5",
                            "stopLossQuote": "-100", "intervalSeconds": 60}
    body.update(spec)
    return MarketMaker.model_validate({"kind": "MarketMaker", "metadata": {"name": "sol", "uid": "uid-mm",
                                                                          "generation": 1}, "spec": body})


class MM:
    def __init__(self, r: Rig, **spec: Any) -> None:
        self.r = r
        self.rec = MarketMakerReconciler(r.reconciler.s)
        self.mm = maker(**spec)

    async def tick(self, seconds: float = 0, **kw: Any) -> MakerResult:
        self.r.clock.advance(seconds)
        res = await self.rec.reconcile(self.mm, self.r.clock.now(), **kw)
        self.mm = self.mm.model_copy(update={"status": res.status})
        return res

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
    res = await m.tick(1, halted="hedgeops.io/halt=true is set on the object")  # not due, but a halt is
    assert res.status.reason == "Halted" and v.account.open_orders() == [] and res.status.quotes == []
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
    m.mm = maker()  # the next process: the status was never written
    res = await m.tick(60)
    assert "PlanRecovered" in [e.reason for e in res.events]
    open_ids = {o.client_order_id for o in v.account.open_orders()}
    assert len(open_ids) == 4 and {q["clientOrderId"] for q in res.status.quotes} == open_ids
    ids = list(v.account.orders)
    assert len(ids) == len(set(ids))


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

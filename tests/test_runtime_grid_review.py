"""Seed 004's second layer in the carry's cycle, review cases on the paper venue and the bundled data: a contrarian
entry accepted but not yet visible (what the ccxt venue returns for an order OKX accepted and does not show yet) is
a trade read back by client id, never a refusal; a position nobody manages on the layer's perp is closed; a
process killed after a grid fill books that fill once; a grid past its levels is stopped and a part's red line
degrades that part alone while the carry pair is stepped; the contrarian trade's stop acts through a halt."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.enhancement import Contrarian, ContrarianPhase, GridPhase
from hedgeops.engine.contrarian.machine import brackets
from hedgeops.model.orders import OrderRequest, OrderState, OrderStatus, OrderType, Side

from .runtime_fixtures import Killed, rig
from .test_runtime_carry import Carry
from .test_runtime_grid import BTC, SOL, layered

D = Decimal
EUPHORIA = datetime(2025, 3, 24, 12, 0, 30, tzinfo=UTC)  # SOL's 4h RSI 74.7 under a falling daily EMA: a short


async def position(a: Carry, symbol: str) -> Decimal:
    snap = await (await a.venue()).snapshot([symbol])
    pos = snap.positions.get(symbol)
    return pos.qty if pos else D(0)


async def test_an_entry_not_yet_visible_stays_in_the_trade_and_takes_its_stop_from_the_fill() -> None:
    a = Carry(rig(EUPHORIA), layered())
    venue = await a.venue()
    place = venue.place

    async def not_yet_visible(order: OrderRequest) -> OrderState:
        done = await place(order)
        if order.symbol != SOL:
            return done
        # what CcxtVenue.place answers for an order the exchange accepted and does not show yet
        return OrderState(order.client_order_id, order.symbol, order.side, order.amount, D(0), order.price, None,
                          OrderStatus.OPEN, D(0), order.type, order.post_only)

    venue.place = not_yet_visible  # type: ignore[method-assign]
    try:
        res = await a.tick()
    finally:
        venue.place = place  # type: ignore[method-assign]
    c = res.status.contrarian
    assert c is not None and c.reason == "EntryPending" and c.phase is ContrarianPhase.SHORT
    assert c.stopPrice is not None  # a stop from the first moment, on the plan's price
    held = await position(a, SOL)
    assert held < 0
    res = await a.tick(60)  # read back by client id: booked, the stop and the target from the fill price
    c = res.status.contrarian
    assert c is not None and c.phase is ContrarianPhase.SHORT and c.position == held
    spec = a.fa.spec.enhancement.contrarian  # type: ignore[union-attr]
    assert isinstance(spec, Contrarian)
    stop, target = brackets(spec, Side.SELL, c.entryPrice)
    assert (c.stopPrice, c.takeProfitPrice) == (stop.quantize(D("1e-8")), target.quantize(D("1e-8")))
    assert "ContrarianEntryRefused" not in {e.reason for e in res.events}
    res = await a.tick(3600)
    assert res.status.contrarian is not None and res.status.contrarian.position == await position(a, SOL) == held


async def test_an_entry_still_hidden_when_read_back_is_booked_from_the_position_the_venue_holds() -> None:
    """The ccxt venue with OKX (the emulator's show-delay fault) answers an order it cannot see yet with nothing:
    the position the venue already holds is the entry, its stop and target from the position's entry price."""
    a = Carry(rig(EUPHORIA), layered())
    venue = await a.venue()
    place, order = venue.place, venue.order

    async def not_yet_visible(req: OrderRequest) -> OrderState:
        done = await place(req)
        if req.symbol != SOL:
            return done
        return OrderState(req.client_order_id, req.symbol, req.side, req.amount, D(0), req.price, None,
                          OrderStatus.OPEN, D(0), req.type, req.post_only)

    async def hidden(cid: str, symbol: str) -> OrderState | None:
        return None if symbol == SOL else await order(cid, symbol)

    venue.place, venue.order = not_yet_visible, hidden  # type: ignore[method-assign]
    try:
        await a.tick()
        res = await a.tick(60)
    finally:
        venue.place, venue.order = place, order  # type: ignore[method-assign]
    c = res.status.contrarian
    snap = await venue.snapshot([SOL])
    held = snap.positions[SOL]
    assert c is not None and c.phase is ContrarianPhase.SHORT and c.position == held.qty < 0
    spec = a.fa.spec.enhancement.contrarian  # type: ignore[union-attr]
    assert isinstance(spec, Contrarian)
    stop, _ = brackets(spec, Side.SELL, held.entry_price)
    assert c.stopPrice == stop.quantize(D("1e-8"))


async def test_a_position_nobody_manages_on_the_layers_perp_is_closed() -> None:
    a = Carry(rig(), layered())
    venue = await a.venue()
    await a.tick()
    await venue.place(OrderRequest("hand-made", SOL, Side.BUY, D(2), OrderType.MARKET))
    assert await position(a, SOL) == 2
    res = await a.tick(300)  # the next scan
    assert "ContrarianLeftoverPosition" in {e.reason for e in res.events}
    assert await position(a, SOL) == 0
    c = res.status.contrarian
    assert c is not None and c.position == 0  # the books net to zero: the close is not booked as a short


async def test_a_fill_seen_by_a_killed_tick_is_booked_once() -> None:
    a = Carry(rig(), layered())
    res = await a.tick()
    venue = await a.venue()
    assert res.status.grid is not None and res.status.grid.phase is GridPhase.RUNNING
    place, killed = venue.place, []

    async def dying(order: Any) -> Any:  # the process dies at the first grid order placed after laying
        if order.symbol == BTC:
            killed.append(order.client_order_id)
            raise Killed
        return await place(order)

    venue.place = dying  # type: ignore[method-assign]
    try:
        for _ in range(200):
            try:
                await a.tick(60)
            except Killed:
                break
    finally:
        venue.place = place  # type: ignore[method-assign]
    assert killed, "no grid order after laying"  # a fill was replaced: the killed tick had booked a fill
    res = await a.tick(0)
    assert "GridPlanRecovered" in {e.reason for e in res.events}
    assert res.status.grid is not None and res.status.grid.position == await position(a, BTC) != 0


async def test_a_grid_past_its_levels_is_stopped_and_a_parts_red_line_leaves_the_carry_running() -> None:
    a = Carry(rig(), layered())
    res = await a.tick()
    g = res.status.grid
    assert g is not None and res.status.legs
    over = g.model_copy(update={"position": g.levelQty * 6})  # the books say more than the levels can hold
    a.fa = a.fa.model_copy(update={"status": a.fa.status.model_copy(update={"grid": over})})  # type: ignore[union-attr]
    res = await a.tick(60)
    assert res.status.grid is not None and res.status.grid.reason == "OverLevels"
    assert res.status.grid.phase is GridPhase.STOPPING
    # a contrarian spec built around the schema (leverage 5): that part alone fails, the pair is still stepped
    enh = a.fa.spec.enhancement
    assert enh is not None and enh.contrarian is not None
    bad = enh.model_copy(update={"contrarian": Contrarian.model_construct(**{**dict(enh.contrarian),
                                                                             "leverage": D(5)})})
    a.fa = a.fa.model_copy(update={"spec": a.fa.spec.model_copy(update={"enhancement": bad})})
    res = await a.tick(300)
    assert res.status.contrarian is not None and res.status.contrarian.reason == "Failed"
    assert "leverage" in (res.status.contrarian.message or "")
    assert "ContrarianFailed" in {e.reason for e in res.events}
    assert res.status.legs and res.status.lastCheck == a.r.clock.now()
    [cond] = [x for x in res.status.conditions if x.type == "LayerDegraded"]
    assert cond.status.value == "True" and "leverage" in cond.message
    ready = [x for x in res.status.conditions if x.type == "Ready"]
    assert ready and ready[0].status.value == "True"
    a.fa = a.fa.model_copy(update={"spec": a.fa.spec.model_copy(update={"enhancement": enh})})  # fixed
    res = await a.tick(300)
    assert res.status.contrarian is not None and res.status.contrarian.reason != "Failed"
    [cond] = [x for x in res.status.conditions if x.type == "LayerDegraded"]
    assert cond.status.value == "False"


async def test_halted_the_contrarian_stop_still_closes_the_trade() -> None:
    a = Carry(rig(EUPHORIA), layered())
    res = await a.tick()
    c = res.status.contrarian
    assert c is not None and c.phase is ContrarianPhase.SHORT and c.stopPrice is not None
    venue = await a.venue()
    stop = c.stopPrice
    # the stop moved under the price as if it had risen through it (the bundled data decides the price)
    a.fa = a.fa.model_copy(update={"status": a.fa.status.model_copy(update={  # type: ignore[union-attr]
        "contrarian": c.model_copy(update={"stopPrice": venue.quote(SOL).last - 1})})})
    res = await a.tick(60, halted="hedgeops.io/halt is set")
    assert "ContrarianStopLoss" in {e.reason for e in res.events}, (stop, res.events)
    assert await position(a, SOL) == 0


async def test_halted_a_grid_that_breaks_out_is_still_closed() -> None:
    a = Carry(rig(), layered())
    await a.tick()
    for _ in range(200):  # the bundled data's BTC until a level fills
        res = await a.tick(60)
        if res.status.grid is not None and res.status.grid.position != 0:
            break
    g = res.status.grid
    assert g is not None and g.position != 0 and g.position == await position(a, BTC)
    halted = await a.tick(60, halted="hedgeops.io/halt is set")
    assert halted.status.grid is not None and halted.status.grid.phase is GridPhase.HALTED
    # the range as if the price had left it (the data decides the price): levels moved above it, halt still set
    h = halted.status.grid
    shift = h.levels[-1] - h.levels[0] + 1
    moved = h.model_copy(update={"levels": [x + shift for x in h.levels]})
    a.fa = a.fa.model_copy(update={"status": a.fa.status.model_copy(update={"grid": moved})})  # type: ignore[union-attr]
    res = await a.tick(60, halted="hedgeops.io/halt is set")
    assert "GridBreakout" in {e.reason for e in res.events}
    assert await position(a, BTC) == 0
    res = await a.tick(60, halted="hedgeops.io/halt is set")
    assert res.status.grid is not None and res.status.grid.reason == "Stopped" and res.status.grid.position == 0


async def test_a_failing_grid_leaves_no_order_resting_and_the_carry_runs_on() -> None:
    a = Carry(rig(), layered())
    res = await a.tick()
    venue = await a.venue()
    assert len([o for o in venue.account.open_orders() if o.symbol == BTC]) == 10
    enh = a.fa.spec.enhancement
    assert enh is not None and enh.grid is not None
    bad = enh.model_copy(update={"grid": enh.grid.model_construct(**{**dict(enh.grid), "leverage": D(5)})})
    a.fa = a.fa.model_copy(update={"spec": a.fa.spec.model_copy(update={"enhancement": bad})})
    res = await a.tick(60)
    assert res.status.grid is not None and res.status.grid.reason == "Failed"
    assert "GridFailed" in {e.reason for e in res.events}
    assert not [o for o in venue.account.open_orders() if o.symbol == BTC]  # nothing rests unwatched
    assert res.status.legs and res.status.lastCheck == a.r.clock.now()

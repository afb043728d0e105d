"""FundingArbitrage on the reconcile skeleton: its typed write-ahead intent keeps the JSON the previous version
wrote (so its intents still recover), an intent that does not decode stops the object before any order, a tick
with nothing due makes no call and writes nothing, and with a schedule a tick slot is one cycle."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgeops.engine.carry.intent import CarryIntent, IntentOrder
from hedgeops.model.codec import from_doc
from hedgeops.runtime.intents import IntentStore
from hedgeops.runtime.journal import journal_stream
from hedgeops.runtime.kinds.carry import FundingArbitrageReconciler
from hedgeops.runtime.reconcile import Schedule

from .runtime_fixtures import killed_after, rig
from .test_runtime_carry import PERP, Carry, carry, reasons

D = Decimal
INTENT_KEY = f"{journal_stream('FundingArbitrage', 'default/eth')}:uid-eth:{PERP}"  # kept by uid as well as name


def legacy_intent() -> dict[str, Any]:
    """An intent as the untyped version wrote it (its fence included)."""
    return {"fence": 7, "seq": 3, "machine": {"phase": "Opening", "targetQty": "1.5", "seq": 3,
                                             "breaker": {"tripped": False, "reason": None, "shared": True}},
            "spotWallet": "1234.5", "collateral": "4999.99",
            "orders": [{"clientOrderId": "ho-abc-1-0-t", "symbol": "ETH/USDT", "leg": "spot"},
                       {"clientOrderId": "ho-abc-1-1-t", "symbol": PERP, "leg": "perp"}]}


def test_an_intent_of_the_untyped_version_decodes_and_encodes_back_to_the_same_fields() -> None:
    doc = legacy_intent()
    intent = from_doc(CarryIntent, doc)
    assert intent.seq == 3 and intent.spotWallet == D("1234.5") and intent.collateral == D("4999.99")
    assert intent.orders[1] == IntentOrder("ho-abc-1-1-t", PERP, "perp")
    assert intent.state.target_qty == D("1.5") and intent.state.seq == 3
    assert IntentStore.doc(intent) == {k: v for k, v in doc.items() if k != "fence"}


async def test_the_stored_intent_keeps_the_previous_versions_fields() -> None:
    c = Carry(rig())
    async with killed_after(await c.venue(), 1):
        await c.tick()
    doc = c.r.journal.intents[INTENT_KEY]
    assert set(doc) == {"fence", "seq", "machine", "spotWallet", "collateral", "orders"}
    assert isinstance(doc["seq"], int) and isinstance(doc["spotWallet"], str) and isinstance(doc["machine"], dict)
    assert [set(o) for o in doc["orders"]] == [{"clientOrderId", "symbol", "leg"}] * 2


async def test_an_intent_that_does_not_decode_stops_the_object_before_any_order() -> None:
    c = Carry(rig())
    c.r.journal.intents[INTENT_KEY] = {"fence": 1, "seq": 5, "machine": "not a machine", "spotWallet": "1",
                                       "collateral": "1", "orders": []}
    res = await c.tick()
    assert reasons(res) == ["UnreadableIntent"]
    ready = next(cd for cd in res.status.conditions if cd.type == "Ready")
    assert (ready.status.value, ready.reason) == ("False", "UnreadableIntent") and "machine" in ready.message
    assert not (await c.venue()).account.orders


async def test_a_tick_with_nothing_due_makes_no_call_and_writes_nothing() -> None:
    c = Carry(rig())
    c.fa = carry(entry={"minFundingRate": "0.009", "maxFundingRate": "0.01"})
    res = await c.tick()
    assert res.changed and res.status.legs[0].reason == "FundingTooLow"
    before, held = (await c.venue()).requests, c.fa.status
    res = await c.tick(5)  # flat, no scan due: nothing to look at
    assert not res.changed and res.status is held and res.events == []
    assert (await c.venue()).requests == before


async def test_with_a_schedule_a_tick_slot_is_one_cycle() -> None:
    c = Carry(rig())
    c.rec = FundingArbitrageReconciler(c.r.reconciler.s, Schedule())
    await c.tick()
    res = await c.tick(5)
    assert "Opened" in reasons(res)
    before = (await c.venue()).requests
    res = await c.tick(1)  # within the same 5-second slot: not due, even though the position would be watched
    assert not res.changed and (await c.venue()).requests == before
    res = await c.tick(4)  # the next slot: the watch (the account snapshot and the market rules)
    assert not res.changed and (await c.venue()).requests == before + 2

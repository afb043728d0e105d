"""Journal entries as typed values (issue 15, item 5): every entry class goes through the one codec and back, the
documents the runtime stores are the ones the untyped dicts stored, and no two classes claim one "type"."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.model.codec import CodecError, from_doc, to_doc
from hedgeops.model.journal import (
    ENTRY_TYPES,
    AbnormalExitEntry,
    ApprovalBypassedEntry,
    ApprovalEntry,
    BreakerEntry,
    CancelEntry,
    DecisionEntry,
    FailureEntry,
    FillEntry,
    FundingEntry,
    JournalEntry,
    MakerCycleEntry,
    OrderEntry,
    PlanEntry,
    PlanOrderEntry,
    RebalanceEntry,
    RebalanceFailedEntry,
    RecoveredEntry,
    RefusedEntry,
    SelectionEntry,
    SignalEntry,
    SkippedEntry,
    TransferEntry,
    journal_doc,
    parse_entry,
)
from hedgeops.runtime.cycle import Guard, ObjectCycle, Services
from hedgeops.runtime.journal import InMemoryJournal, journal_stream
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import PaperVenues

NOW = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
D = Decimal

SAMPLES: list[JournalEntry] = [
    PlanEntry(planId="p-1", seq=3, urgency="Normal", reason="DeltaDeviation", reasons=("BTC off by 0.2",),
              estCostQuote=D("1.25"), orders=(PlanOrderEntry(clientOrderId="c-1", symbol="BTC/USDT:USDT",
                                                             side="sell", amount=D("0.2"), type="maker"),),
              skipped=(SkippedEntry(asset="ETH", reason="BelowMinimum"),)),
    PlanEntry(planId="p-2", seq=4, reason="CloseAll", orders=(PlanOrderEntry(symbol="BTC/USDT:USDT", amount=D("1")),)),
    OrderEntry(clientOrderId="c-1", symbol="BTC/USDT:USDT", side="buy", amount=D("0.5"), orderType="taker",
               price=None, status="closed", filled=D("0.5"), outcome="accepted"),
    FillEntry(clientOrderId="c-1", filled=D("0.5"), average=D("60000.1"), feeQuote=D("0.015")),
    CancelEntry(clientOrderId="c-1", filled=D("0"), reason="MakerTimeout"),
    RecoveredEntry(planId="p-1", seq=3, found=("c-1", "c-2")),
    RecoveredEntry(seq=7, found=()),
    FailureEntry(reason="OrderRejected", clientOrderId="c-1", symbol="BTC/USDT:USDT", side="sell",
                 amount=D("0.1"), message="insufficient margin"),
    FailureEntry(reason="LeaseLost", clientOrderId="c-1"),
    RebalanceEntry(planId="p-1", reason="DeltaDeviation", urgency="Normal", costQuote=D("0.3"), filled=2),
    RebalanceFailedEntry(planId="p-1", reason="DeltaDeviation", urgency="Normal", states=("canceled", "rejected")),
    ApprovalEntry(reason="PlanProposed", message="approve with …"),
    ApprovalEntry(planId="p-1", id="p-1", by="alice"),
    ApprovalBypassedEntry(planId="p-1", reason="StopLoss"),
    RefusedEntry(planId="p-1", reason="DailyLimit", message="3 rebalances today"),
    RefusedEntry(reason="PairSkipped", message="no perp"),
    DecisionEntry(reason="Enter", message="funding 0.01%", phase="Entering", seq=2),
    DecisionEntry(reason="Quote", message="two layers"),
    MakerCycleEntry(cycle=7, bid=D("153.1"), ask=D("153.2"), position=D("-1"), skewOffset=D("0.0153"), bought=D(0),
                    sold=D(1), feesQuote=D("0.0306"), fundingQuote=D("-0.0133"), cyclePnlQuote=D("0.029"),
                    pnlQuote=D("-0.52"), quotes=2),
    AbnormalExitEntry(symbol="BTC/USDT:USDT", seq=5),
    BreakerEntry(reason="DailyLoss", consecutiveLosses=1, dailyLossQuote=D("-12.5")),
    FundingEntry(symbol="BTC/USDT:USDT", amount=D("0.42"), settledAt=NOW),
    SelectionEntry(pairs=("BTC/USDT:USDT", "ETH/USDT:USDT"), candidates=40),
    TransferEntry(to="swap", amount=D("100")),
    SignalEntry(outcome="Accepted", message="ratio 0.5", active="sig-1"),
    SignalEntry(outcome="Refused", message="bad secret", active=None),
]


def test_every_entry_class_has_a_sample() -> None:
    assert {type(e) for e in SAMPLES} == set(ENTRY_TYPES)


@pytest.mark.parametrize("entry", SAMPLES, ids=lambda e: f"{e.TYPE}")
def test_every_entry_round_trips_through_the_codec(entry: JournalEntry) -> None:
    doc = journal_doc(entry)
    assert doc["type"] == entry.TYPE
    stored = json.loads(json.dumps(doc))  # what a journal keeps
    assert from_doc(type(entry), to_doc(entry)) == entry
    assert parse_entry(stored) == entry
    assert parse_entry({"at": NOW.isoformat(), "fence": 4, "owner": "op-1", **stored}) == entry  # envelope too


def test_type_strings_are_unique_and_not_fields() -> None:
    types = [cls.TYPE for cls in ENTRY_TYPES]
    assert len(types) == len(set(types))
    for cls in ENTRY_TYPES:
        names = {f.name for f in dataclasses.fields(cls)}
        assert not names & {"type", "at", "fence", "owner"}, cls  # the envelope's keys are never an entry's


def test_an_unknown_type_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="journal entry type"):
        parse_entry({"type": "nope"})


def test_documents_are_the_ones_the_dicts_wrote() -> None:
    """Keys, key order, value formats (money as text, times ISO, a market order's price as null)."""
    order = OrderEntry(clientOrderId="c-1", symbol="BTC/USDT:USDT", side="buy", amount=D("0.50"),
                       orderType="taker", price=None, status="closed", filled=D("0.50"), outcome="accepted")
    old = {"type": "order", "clientOrderId": "c-1", "symbol": "BTC/USDT:USDT", "side": "buy", "amount": "0.50",
           "orderType": "taker", "price": None, "status": "closed", "filled": "0.50", "outcome": "accepted"}
    assert list(journal_doc(order).items()) == list(old.items())
    close_all = PlanEntry(planId="p-2", seq=4, reason="CloseAll",
                          orders=(PlanOrderEntry(symbol="BTC/USDT:USDT", amount=D("1.5")),))
    assert journal_doc(close_all) == {"type": "plan", "planId": "p-2", "seq": 4, "reason": "CloseAll",
                                      "orders": [{"symbol": "BTC/USDT:USDT", "amount": "1.5"}]}
    funding = FundingEntry(symbol="BTC/USDT:USDT", amount=D("0.42"), settledAt=NOW)
    assert journal_doc(funding) == {"type": "funding", "symbol": "BTC/USDT:USDT", "amount": "0.42",
                                    "settledAt": NOW.isoformat()}
    breaker = BreakerEntry(reason="ConsecutiveLosses", consecutiveLosses=3, dailyLossQuote=D("-4.00"))
    assert journal_doc(breaker) == {"type": "breaker", "reason": "ConsecutiveLosses", "consecutiveLosses": 3,
                                    "dailyLossQuote": "-4.00"}
    signal = SignalEntry(outcome="Refused", message="bad secret", active=None)
    assert journal_doc(signal) == {"type": "signal", "outcome": "Refused", "message": "bad secret", "active": None}


async def test_guard_record_writes_the_old_document_under_its_envelope() -> None:
    journal = InMemoryJournal()
    s = Services(PaperVenues(lambda: NOW), InMemoryLocks(), journal, Metrics(), "op-1")
    guard = Guard(ObjectCycle("HedgeBook", "default", "b1", 1, NOW, s), ExchangeRef(name="okx", account="b1"),
                  Mode.PAPER, "default/b1")
    await guard.record(RefusedEntry(planId="p-1", reason="DailyLimit", message="3 rebalances today"))
    await guard.record(FillEntry(clientOrderId="c-1", filled=D("0.5"), average=D("60000.1"), feeQuote=D("0.015")))
    stored: list[dict[str, Any]] = [doc for _, doc in await journal.read(journal_stream("HedgeBook", "default/b1"))]
    envelope = {"at": NOW.isoformat(), "fence": None, "owner": "op-1"}
    assert [list(d.items()) for d in stored] == [
        list({**envelope, "type": "refused", "planId": "p-1", "reason": "DailyLimit",
              "message": "3 rebalances today"}.items()),
        list({**envelope, "type": "fill", "clientOrderId": "c-1", "filled": "0.5", "average": "60000.1",
              "feeQuote": "0.015"}.items()),
    ]

"""Journal entries: one frozen dataclass per entry type (keyword-only, its fields in the
document's key order), written through the one codec (model/codec.py).

Each class's `TYPE` is the document's "type" and its fields are the document's keys, so an entry is stored as
`{"type": entry.TYPE, **to_doc(entry)}` (`journal_doc`); the runtime adds the envelope (at, fence, owner).
Money is exact text, times ISO 8601, enums their value; a field left None is left out of the document unless
marked KEEP_NULL (a key readers expect to see as null). `parse_entry` reads a stored document back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from hedgeops.model.codec import KEEP_NULL, CodecError, from_doc, to_doc
from hedgeops.model.vocabulary import Liquidity, OrderStatus, Side

# -- plans and orders (runtime/execution.py, the HedgeBook cycle) -----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlanOrderEntry:
    """One order of a journalled plan (a close-all plan names only the symbol and the amount)."""

    clientOrderId: str | None = None
    symbol: str
    side: Side | None = None
    amount: Decimal
    type: Liquidity | None = None


@dataclass(frozen=True, kw_only=True)
class SkippedEntry:
    """An asset a plan left out, and why."""

    asset: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class PlanEntry:
    """A plan about to be executed."""

    TYPE: ClassVar[str] = "plan"
    planId: str
    seq: int
    urgency: str | None = None
    reason: str
    reasons: tuple[str, ...] | None = None
    estCostQuote: Decimal | None = None
    orders: tuple[PlanOrderEntry, ...]
    skipped: tuple[SkippedEntry, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class OrderEntry:
    """An order sent (accepted, or adopted when the venue already had the client id)."""

    TYPE: ClassVar[str] = "order"
    clientOrderId: str
    symbol: str
    side: Side
    amount: Decimal
    orderType: Liquidity
    price: Decimal | None = field(default=None, metadata=KEEP_NULL)  # null for a market order
    status: OrderStatus
    filled: Decimal
    outcome: str  # "accepted" | "adopted"


@dataclass(frozen=True, kw_only=True)
class FillEntry:
    """An order that closed filled."""

    TYPE: ClassVar[str] = "fill"
    clientOrderId: str
    filled: Decimal
    average: Decimal | None
    feeQuote: Decimal


@dataclass(frozen=True, kw_only=True)
class CancelEntry:
    """An order cancelled, with what it had filled and why (MakerTimeout, Emergency, Halted, CancelAll, …)."""

    TYPE: ClassVar[str] = "cancel"
    clientOrderId: str
    filled: Decimal
    reason: str


@dataclass(frozen=True, kw_only=True)
class RecoveredEntry:
    """A killed cycle's write-ahead intent taken over: the client ids the venue knew."""

    TYPE: ClassVar[str] = "recovered"
    planId: str | None = None
    seq: int
    found: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class FailureEntry:
    """A cycle stopped by a failure, or an order the lease or the exchange refused."""

    TYPE: ClassVar[str] = "failure"
    reason: str
    clientOrderId: str | None = None
    symbol: str | None = None
    side: Side | None = None
    amount: Decimal | None = None
    message: str | None = None


# -- the HedgeBook's results and approvals -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RebalanceEntry:
    """A plan finished with something traded."""

    TYPE: ClassVar[str] = "rebalance"
    planId: str
    reason: str
    urgency: str
    costQuote: Decimal
    filled: int  # how many orders filled


@dataclass(frozen=True, kw_only=True)
class RebalanceFailedEntry:
    """A plan finished with nothing traded: the states its orders ended in."""

    TYPE: ClassVar[str] = "rebalanceFailed"
    planId: str
    reason: str
    urgency: str
    states: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ApprovalEntry:
    """An approval event (reason and message), or an approved plan executed (planId, id, by)."""

    TYPE: ClassVar[str] = "approval"
    reason: str | None = None
    message: str | None = None
    planId: str | None = None
    id: str | None = None
    by: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalBypassedEntry:
    """A plan executed without approval (an exit the policy lets through)."""

    TYPE: ClassVar[str] = "approvalBypassed"
    planId: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RefusedEntry:
    """A plan, a pair or a bootstrap refused, with the reason and the message."""

    TYPE: ClassVar[str] = "refused"
    planId: str | None = None
    reason: str
    message: str


# -- decisions of the carry and the market maker -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DecisionEntry:
    """A kind's decision (the carry machine's with its phase and sequence number, the market maker's)."""

    TYPE: ClassVar[str] = "decision"
    reason: str
    message: str
    phase: str | None = None
    seq: int | None = None


@dataclass(frozen=True, kw_only=True)
class MakerCycleEntry:
    """A market maker's cycle summary (seed 003), when the cycle traded, filled, booked funding or decided anew."""

    TYPE: ClassVar[str] = "makerCycle"
    cycle: int
    bid: Decimal
    ask: Decimal
    position: Decimal
    skewOffset: Decimal
    bought: Decimal
    sold: Decimal
    feesQuote: Decimal
    fundingQuote: Decimal
    cyclePnlQuote: Decimal
    pnlQuote: Decimal
    quotes: int


@dataclass(frozen=True, kw_only=True)
class AbnormalExitEntry:
    """A carry pair found mid-trade at bootstrap (an intent left by a killed process)."""

    TYPE: ClassVar[str] = "abnormalExit"
    symbol: str
    seq: int


@dataclass(frozen=True, kw_only=True)
class BreakerEntry:
    """The carry's circuit breaker tripped."""

    TYPE: ClassVar[str] = "breaker"
    reason: str | None = field(metadata=KEEP_NULL)  # ConsecutiveLosses | DailyLoss
    consecutiveLosses: int
    dailyLossQuote: Decimal


@dataclass(frozen=True, kw_only=True)
class FundingEntry:
    """A funding payment booked on a perp position."""

    TYPE: ClassVar[str] = "funding"
    symbol: str
    amount: Decimal
    settledAt: datetime


@dataclass(frozen=True, kw_only=True)
class SelectionEntry:
    """autoSelect's pick: the perps chosen out of how many candidates."""

    TYPE: ClassVar[str] = "selection"
    pairs: tuple[str, ...]
    candidates: int


@dataclass(frozen=True, kw_only=True)
class TransferEntry:
    """Funds moved between the spot and the derivatives wallet."""

    TYPE: ClassVar[str] = "transfer"
    to: str
    amount: Decimal


# -- signals (runtime/signals.py) ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SignalEntry:
    """A TradingView signal received: the outcome, in words, and the id of the signal in force."""

    TYPE: ClassVar[str] = "signal"
    outcome: str
    message: str
    active: str | None = field(metadata=KEEP_NULL)  # null when no signal is in force


JournalEntry = (PlanEntry | OrderEntry | FillEntry | CancelEntry | RecoveredEntry | FailureEntry | RebalanceEntry
                | RebalanceFailedEntry | ApprovalEntry | ApprovalBypassedEntry | RefusedEntry | DecisionEntry
                | MakerCycleEntry | AbnormalExitEntry | BreakerEntry | FundingEntry | SelectionEntry | TransferEntry
                | SignalEntry)

ENTRY_TYPES: tuple[type[JournalEntry], ...] = (
    PlanEntry, OrderEntry, FillEntry, CancelEntry, RecoveredEntry, FailureEntry, RebalanceEntry,
    RebalanceFailedEntry, ApprovalEntry, ApprovalBypassedEntry, RefusedEntry, DecisionEntry, MakerCycleEntry,
    AbnormalExitEntry,
    BreakerEntry, FundingEntry, SelectionEntry, TransferEntry, SignalEntry)
BY_TYPE: dict[str, type[JournalEntry]] = {cls.TYPE: cls for cls in ENTRY_TYPES}

ENVELOPE = ("at", "fence", "owner")  # what the runtime adds around an entry


def journal_doc(entry: JournalEntry) -> dict[str, Any]:
    """The entry as its stored document, without the envelope."""
    doc: dict[str, Any] = to_doc(entry)
    return {"type": entry.TYPE, **doc}


def parse_entry(doc: dict[str, Any]) -> JournalEntry:
    """A stored document (envelope and all) read back as its entry; an unknown type is a CodecError."""
    cls = BY_TYPE.get(str(doc.get("type")))
    if cls is None:
        raise CodecError(f"type: {doc.get('type')!r} is not a journal entry type")
    return from_doc(cls, {k: v for k, v in doc.items() if k != "type" and k not in ENVELOPE})

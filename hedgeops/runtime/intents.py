"""Write-ahead intents, typed: each kind's intent is one frozen dataclass with a `seq`, stored through the one
codec (model/codec.py). An intent newer than the status (its seq above the status's) is a plan a killed process
was sending: the kind adopts what reached the venue, by client order id, before it decides anything new."""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from hedgeops.model.codec import CodecError, from_doc, to_doc
from hedgeops.runtime.journal import Journal


class Intent(Protocol):
    @property
    def seq(self) -> int: ...


IntentT = TypeVar("IntentT", bound=Intent)


class UnreadableIntent(Exception):
    """A stored intent that does not decode as its kind's: the object stops rather than guess what was sent."""


class IntentStore(Generic[IntentT]):
    """One kind's intents in the journal's intent store."""

    def __init__(self, journal: Journal, cls: type[IntentT]) -> None:
        self.journal, self.cls = journal, cls

    async def pending(self, key: str, after_seq: int) -> IntentT | None:
        """The intent under `key` when it is newer than `after_seq` (what the status already accounts for)."""
        try:
            doc = await self.journal.read_intent(key)
        except (ValueError, TypeError) as exc:  # not JSON, or JSON that is not an object
            raise UnreadableIntent(f"the write-ahead intent {key} is not readable: {type(exc).__name__}") from None
        if doc is None:
            return None
        seq = doc.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool) and seq <= after_seq:
            return None  # accounted for by the status: what else it says does not matter (and is not decoded)
        try:
            intent = from_doc(self.cls, doc)
        except CodecError as exc:
            raise UnreadableIntent(f"the write-ahead intent {key} is not a {self.cls.__name__}: {exc}") from None
        return intent if intent.seq > after_seq else None

    @staticmethod
    def doc(intent: Any) -> dict[str, Any]:
        """The intent as the document `ExecutionContext.write_intent` stores (the fence is added there)."""
        out = to_doc(intent)
        assert isinstance(out, dict)
        return out

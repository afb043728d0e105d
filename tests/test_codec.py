"""The one codec for intents and journal entries: round trips exactly, and refuses what does not fit by name."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hedgeops.model.codec import CodecError, from_doc, to_doc


class Colour(enum.StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Inner:
    amount: Decimal
    colour: Colour


@dataclass(frozen=True)
class Outer:
    seq: int
    at: datetime
    orders: tuple[Inner, ...]
    note: str | None = None
    tags: dict[str, Decimal] | None = None


def test_round_trip_is_exact() -> None:
    value = Outer(3, datetime(2025, 1, 2, 3, 4, tzinfo=UTC), (Inner(Decimal("0.10000001"), Colour.RED),),
                  tags={"a": Decimal("1E-8")})
    doc = to_doc(value)
    assert doc["orders"] == [{"amount": "0.10000001", "colour": "red"}] and "note" not in doc
    assert from_doc(Outer, doc) == value


@pytest.mark.parametrize(("doc", "says"), [
    ({"at": "2025-01-01T00:00:00+00:00", "orders": []}, "seq: missing"),
    ({"seq": 1, "at": "yesterday", "orders": []}, "at: 'yesterday' is not an ISO 8601 time"),
    ({"seq": 1, "at": "2025-01-01T00:00:00+00:00", "orders": [{"amount": "x", "colour": "red"}]},
     "orders[0].amount: 'x' is not a number"),
    ({"seq": 1, "at": "2025-01-01T00:00:00+00:00", "orders": [{"amount": "1", "colour": "blue"}]},
     "orders[0].colour: 'blue' is not one of ['red']"),
    ({"seq": 1, "at": "2025-01-01T00:00:00+00:00", "orders": {}}, "orders: expected a list"),
    ([], "Outer: expected an object, got list"),
])
def test_a_document_that_does_not_fit_names_the_field(doc: object, says: str) -> None:
    with pytest.raises(CodecError) as err:
        from_doc(Outer, doc)
    assert str(err.value) == says

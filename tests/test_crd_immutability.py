"""Fields whose change would orphan money are immutable (CEL transition rules, run with oldSelf on update):
a book's exchange, a Live object's account, a MarketMaker's symbol. A create never sees them; a Paper object may
move accounts (the claims workflow); a Live one moves only through Paper, a deliberate two-step change."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hedgeops.api.validate import schema_problems

from .test_spec_symbols import CARRY, HEDGEBOOK, MAKER

EXAMPLES = {"HedgeBook": HEDGEBOOK, "FundingArbitrage": CARRY, "MarketMaker": MAKER}


def _spec(doc: dict[str, Any], **spec: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["spec"].update(copy.deepcopy(spec))
    return out


def _fields(problems: list[Any]) -> list[str]:
    return [p.field for p in problems]


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_the_exchange_cannot_change(kind: str) -> None:
    old = _spec(EXAMPLES[kind], exchange={"name": "okx", "account": "a"})
    new = _spec(EXAMPLES[kind], exchange={"name": "binance", "account": "a"})
    problems = schema_problems(new, old)
    assert _fields(problems) == ["spec.exchange.name"] and "immutable" in problems[0].message
    assert schema_problems(new) == []  # creating it on binance is fine
    assert schema_problems(old, old) == []  # an update that leaves it alone is fine


def test_an_exchange_left_to_its_default_is_the_same_exchange() -> None:
    """`exchange` defaults to {} and its name to okx, before the rule runs, on both sides."""
    named = _spec(HEDGEBOOK, exchange={"name": "okx"})
    assert schema_problems(named, HEDGEBOOK) == [] and schema_problems(HEDGEBOOK, named) == []
    other = _spec(HEDGEBOOK, exchange={"name": "bybit"})
    assert _fields(schema_problems(other, HEDGEBOOK)) == ["spec.exchange.name"]


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_a_live_object_keeps_its_account(kind: str) -> None:
    secret = {"credentialsSecretRef": {"name": "keys"}}
    old = _spec(EXAMPLES[kind], mode="Live", exchange={"account": "a", **secret})
    moved = _spec(EXAMPLES[kind], mode="Live", exchange={"account": "b", **secret})
    problems = schema_problems(moved, old)
    assert _fields(problems) == ["spec.exchange.account"] and "Live" in problems[0].message
    sandbox = _spec(EXAMPLES[kind], mode="Live", exchange={"account": "a", "sandbox": True, **secret})
    assert _fields(schema_problems(sandbox, old)) == ["spec.exchange.account"]
    # The deliberate way: Paper first (allowed), then the account (allowed in Paper), then Live again (allowed).
    paper = _spec(EXAMPLES[kind], mode="Paper", exchange={"account": "a", **secret})
    paper_moved = _spec(EXAMPLES[kind], mode="Paper", exchange={"account": "b", **secret})
    assert schema_problems(paper, old) == [] and schema_problems(paper_moved, paper) == []
    assert schema_problems(moved, paper_moved) == []


def test_a_paper_book_may_move_to_its_own_account() -> None:
    """What tests/test_operator_claims.py does to clear a shared position."""
    old = _spec(HEDGEBOOK, exchange={"account": "spot"})
    assert schema_problems(_spec(HEDGEBOOK, exchange={"account": "spot-2"}), old) == []


def test_a_market_maker_keeps_its_symbol() -> None:
    moved = _spec(MAKER, symbol="ETH/USDT:USDT")
    problems = schema_problems(moved, MAKER)
    assert _fields(problems) == ["spec.symbol"] and "immutable" in problems[0].message
    assert schema_problems(_spec(MAKER, spreadRatio=0.002), MAKER) == []  # other fields stay editable


def test_a_second_leg_for_one_asset_is_refused_by_the_list_map() -> None:
    """legs is a list-map keyed by asset: the API server refuses the duplicate (no O(n^2) CEL rule)."""
    doc = _spec(HEDGEBOOK, legs=[{"asset": "SOL", "symbol": "SOL/USDT:USDT"},
                                 {"asset": "SOL", "symbol": "SOL/USDC:USDC"}])
    problems = schema_problems(doc)
    assert _fields(problems) == ["spec.legs[1]"] and "Duplicate" in problems[0].message

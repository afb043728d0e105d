"""What each kind owns on its account, and who shares it (runtime/claims.py; the operator wiring is in
test_operator_claims.py)."""

from __future__ import annotations

from typing import Any

from hedgeops.api import FundingArbitrage, HedgeBook, MarketMaker
from hedgeops.runtime.claims import book_claims, carry_claims, maker_claims, sharers

from .operator_fixtures import example


def obj(name: str, **changes: Any) -> dict[str, Any]:
    body = example(name)
    body["spec"].update(changes)
    return body


def test_hedge_books_own_their_perps_and_allocation_books_their_balances() -> None:
    jlp = HedgeBook.model_validate(example("hedgebook-jlp.yaml"))
    assert {c[3] for c in book_claims(jlp)} == {f"perp:{leg.symbol}" for leg in jlp.spec.legs}
    index = HedgeBook.model_validate(example("hedgebook-index.yaml"))
    owned = index.spec.holdings.exchangeBalance.assets  # type: ignore[union-attr]
    assert {c[3] for c in book_claims(index)} == {f"balance:{a}" for a in owned}
    spot = obj("hedgebook-spot.yaml",
               holdings={"source": "ExchangeBalance", "exchangeBalance": {"assets": ["SOL", "ETH"]}})
    assert "balance:SOL" in {c[3] for c in book_claims(HedgeBook.model_validate(spot))}  # its holdings are balances


def test_paper_and_live_accounts_of_one_name_are_different_accounts() -> None:
    paper = HedgeBook.model_validate(example("hedgebook-spot.yaml"))
    live = HedgeBook.model_validate(obj("hedgebook-spot.yaml", mode="Live"))
    assert not book_claims(paper) & book_claims(live)


def test_carry_owns_its_pairs_and_what_it_holds_and_makers_their_perp() -> None:
    fa = FundingArbitrage.model_validate(example("fundingarbitrage-eth.yaml"))
    assert {c[3] for c in carry_claims(fa)} >= {"perp:ETH/USDT:USDT", "balance:ETH"}
    mm = MarketMaker.model_validate(example("marketmaker-sol.yaml"))
    assert {c[3] for c in maker_claims(mm)} == {f"perp:{mm.spec.symbol}"}


def test_sharers_name_the_others_only() -> None:
    a = HedgeBook.model_validate(example("hedgebook-spot.yaml"))
    mine = book_claims(a)
    index = {c: ["HedgeBook/default/spot-bag"] for c in mine}
    assert sharers("HedgeBook/default/spot-bag", mine, index) == {}  # itself is not a sharer
    sol = next(c for c in mine if c[3] == "perp:SOL/USDT:USDT")
    index[sol] = ["HedgeBook/default/spot-bag", "MarketMaker/default/sol-mm"]
    assert sharers("HedgeBook/default/spot-bag", mine, index) == {"perp:SOL/USDT:USDT": ["MarketMaker/default/sol-mm"]}

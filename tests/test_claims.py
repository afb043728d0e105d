"""What each kind owns on its account, and who shares it (runtime/claims.py; the operator wiring is in
test_operator_claims.py)."""

from __future__ import annotations

from typing import Any

from hedgeops.api import FundingArbitrage, HedgeBook, MarketMaker
from hedgeops.engine.common.claims import Holder, book_claims, carry_claims, maker_claims, ownership

from .operator_fixtures import example


def obj(name: str, **changes: Any) -> dict[str, Any]:
    body = example(name)
    body["spec"].update(changes)
    return body


def test_hedge_books_own_their_perps_and_allocation_books_their_balances() -> None:
    jlp = HedgeBook.model_validate(example("hedgebook-jlp.yaml"))
    assert {c[4] for c in book_claims(jlp)} == {f"perp:{leg.symbol}" for leg in jlp.spec.legs}
    index = HedgeBook.model_validate(example("hedgebook-index.yaml"))
    owned = index.spec.holdings.exchangeBalance.assets  # type: ignore[union-attr]
    assert {c[4] for c in book_claims(index)} == {f"balance:{a}" for a in owned}
    spot = obj("hedgebook-spot.yaml",
               holdings={"source": "ExchangeBalance", "exchangeBalance": {"assets": ["SOL", "ETH"]}})
    assert "balance:SOL" in {c[4] for c in book_claims(HedgeBook.model_validate(spot))}  # its holdings are balances


def test_the_instruments_a_book_counts_are_its_own() -> None:
    """A spot balance, dated future or option counted in one book's delta is claimed: a second book counting it
    (here through its holdings) shares it, and the newer is refused."""
    legs, objective = [{"asset": "BTC", "symbol": "BTC/USDT:USDT"}], {"type": "Hedge", "hedgeRatio": 1}
    counting = HedgeBook.model_validate(obj("hedgebook-spot.yaml", legs=legs, objective=objective, holdings={
        "source": "Static", "static": {"BTC": 1}}, instruments=[
        {"asset": "BTC", "kind": "Spot"}, {"asset": "BTC", "kind": "Future", "symbol": "BTC/USDT:USDT-260327"},
        {"asset": "BTC", "kind": "Option", "symbol": "BTC/USDT:USDT-260327-100000-C"}]))
    assert {c[4] for c in book_claims(counting)} == {
        "perp:BTC/USDT:USDT", "balance:BTC", "position:BTC/USDT:USDT-260327",
        "position:BTC/USDT:USDT-260327-100000-C"}  # USDT-settled: a BTC-settled option beside the balance is refused
    holder = obj("hedgebook-spot.yaml", legs=legs, objective=objective,
                 holdings={"source": "ExchangeBalance", "exchangeBalance": {"assets": ["BTC"]}})
    holder["metadata"]["name"] = "holder"
    other = HedgeBook.model_validate(holder)
    shared = book_claims(counting) & book_claims(other)
    assert {c[4] for c in shared} == {"perp:BTC/USDT:USDT", "balance:BTC"}
    old, new = Holder("2025-01-01T00:00:00Z", "a", "HedgeBook/default/holder"), Holder(
        "2025-02-01T00:00:00Z", "b", "HedgeBook/default/spot-bag")
    assert ownership(new, book_claims(counting), {c: [old] for c in shared}).owned_by == {
        "balance:BTC": old.ref, "perp:BTC/USDT:USDT": old.ref}


def test_paper_and_live_accounts_of_one_name_are_different_accounts() -> None:
    paper = HedgeBook.model_validate(example("hedgebook-spot.yaml"))
    live = HedgeBook.model_validate(obj("hedgebook-spot.yaml", mode="Live"))
    assert not book_claims(paper) & book_claims(live)


def test_live_objects_on_one_secret_share_an_account_whatever_their_labels() -> None:
    """Two Live books naming one Secret under the labels acct-a and acct-b trade one exchange account: each saw the
    other's short as its own hedge and they flipped the position between -100 and -50 SOL, an emergency taker order
    every interval. The Secret is the account: the newer book is refused. Paper labels stay separate accounts."""
    def live(name: str, label: str, secret: str = "okx-creds", sandbox: bool = False) -> HedgeBook:
        body = obj("hedgebook-spot.yaml", mode="Live", exchange={
            "name": "okx", "account": label, "credentialsSecretRef": {"name": secret}, "sandbox": sandbox})
        body["metadata"] = {**body["metadata"], "name": name, "uid": f"uid-{name}"}
        return HedgeBook.model_validate(body)

    a, b = live("a", "acct-a"), live("b", "acct-b")
    assert book_claims(a) == book_claims(b)
    older, newer = Holder("2025-01-01T00:00:00Z", "uid-a", "HedgeBook/default/a"), Holder(
        "2025-01-02T00:00:00Z", "uid-b", "HedgeBook/default/b")
    index = {c: [older, newer] for c in book_claims(a)}
    assert ownership(newer, book_claims(b), index).refused and not ownership(older, book_claims(a), index).refused
    assert not book_claims(a) & book_claims(live("c", "acct-a", secret="other-creds"))  # its own credentials
    assert not book_claims(a) & book_claims(live("d", "acct-a", sandbox=True))  # the testnet is another account
    paper = [HedgeBook.model_validate(obj("hedgebook-spot.yaml", exchange={"name": "okx", "account": label}))
             for label in ("acct-a", "acct-b")]
    assert not book_claims(paper[0]) & book_claims(paper[1])  # each Paper label is its own paper account


def test_carry_owns_its_pairs_and_what_it_holds_and_makers_their_perp() -> None:
    fa = FundingArbitrage.model_validate(example("fundingarbitrage-eth.yaml"))
    assert {c[4] for c in carry_claims(fa)} >= {"perp:ETH/USDT:USDT", "balance:ETH"}
    mm = MarketMaker.model_validate(example("marketmaker-sol.yaml"))
    assert {c[4] for c in maker_claims(mm)} == {f"perp:{mm.spec.symbol}"}


def test_the_oldest_holder_owns_a_shared_position_and_the_newer_is_refused() -> None:
    a = HedgeBook.model_validate(example("hedgebook-spot.yaml"))
    mine = book_claims(a)
    me = Holder("2026-01-02T00:00:00Z", "uid-b", "HedgeBook/default/spot-bag")
    index = {c: [me] for c in mine}
    alone = ownership(me, mine, index)
    assert alone.shared == {} and not alone.refused  # itself is neither a sharer nor an owner to defer to
    sol = next(c for c in mine if c[4] == "perp:SOL/USDT:USDT")
    newer = Holder("2026-01-03T00:00:00Z", "uid-a", "MarketMaker/default/sol-mm")
    index[sol] = [me, newer]
    own = ownership(me, mine, index)
    assert own.shared == {"perp:SOL/USDT:USDT": ["MarketMaker/default/sol-mm"]} and not own.refused
    theirs = ownership(newer, {sol}, index)
    assert theirs.owned_by == {"perp:SOL/USDT:USDT": "HedgeBook/default/spot-bag"} and theirs.refused
    # Created in the same second: the uid decides, the same way on every replica.
    twin = Holder("2026-01-02T00:00:00Z", "uid-a", "HedgeBook/default/twin")
    index[sol] = [me, twin]
    assert ownership(me, mine, index).refused and not ownership(twin, {sol}, index).refused


def test_one_account_label_in_two_namespaces_is_two_accounts() -> None:
    a = HedgeBook.model_validate(example("hedgebook-spot.yaml"))
    b = HedgeBook.model_validate({**example("hedgebook-spot.yaml"),
                                  "metadata": {"name": "spot-bag", "namespace": "team-b"}})
    assert not book_claims(a) & book_claims(b)

"""What an object owns on its exchange account: perp positions (by symbol) and spot balances (by asset).

Positions and balances are per account, not per object, so two objects owning the same thing on one account
would each count the other's trades as their own (two hedge books with the same legs each see the account's
one position and both believe they are hedged). The operator indexes every object's claims and reports the
overlap (condition SharedPositions, a Warning event, a metric an alert pages on). Paper and Live accounts are
different accounts, so the mode is part of the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hedgeops.api import FundingArbitrage, HedgeBook, MarketMaker
from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.api.hedgebook import HoldingsSource, ObjectiveType

Claim = tuple[str, str, str, str]  # (mode, exchange, account, "perp:<symbol>" | "balance:<asset>")


def _key(mode: Mode, exchange: ExchangeRef, what: str) -> Claim:
    return (mode.value, exchange.name, exchange.account, what)


def book_claims(book: HedgeBook) -> set[Claim]:
    spec = book.spec
    owned = spec.holdings.exchangeBalance.assets if spec.holdings.exchangeBalance else []
    if spec.objective.type is ObjectiveType.ALLOCATION:
        return {_key(spec.mode, spec.exchange, f"balance:{a}") for a in owned}
    claims = {_key(spec.mode, spec.exchange, f"perp:{leg.symbol}") for leg in spec.legs}
    if spec.holdings.source is HoldingsSource.EXCHANGE_BALANCE:
        claims |= {_key(spec.mode, spec.exchange, f"balance:{a}") for a in owned}
    return claims


def carry_claims(fa: FundingArbitrage) -> set[Claim]:
    """The listed pairs and every pair it holds (autoSelect picks pairs at run time; status.legs has them)."""
    spec = fa.spec
    pairs = {(p.spot, p.perp) for p in spec.pairs} | {(leg.spot, leg.perp) for leg in (fa.status.legs
                                                                                      if fa.status else [])}
    claims = set()
    for spot, perp in pairs:
        claims.add(_key(spec.mode, spec.exchange, f"perp:{perp}"))
        claims.add(_key(spec.mode, spec.exchange, f"balance:{spot.split('/')[0]}"))
    return claims


def maker_claims(mm: MarketMaker) -> set[Claim]:
    return {_key(mm.spec.mode, mm.spec.exchange, f"perp:{mm.spec.symbol}")}


def sharers(me: str, mine: Iterable[Claim], index: Mapping[Claim, Iterable[str]]) -> dict[str, list[str]]:
    """For each of my claims that others hold too: what (`perp:SOL/USDT:USDT`) → the other objects, sorted."""
    out: dict[str, list[str]] = {}
    for claim in sorted(mine):
        others = sorted({o for o in index.get(claim, ()) if o != me})
        if others:
            out[claim[3]] = others
    return out


def describe(shared: Mapping[str, list[str]], exchange: str, account: str) -> str:
    parts = [f"{what.split(':', 1)[1]} with {', '.join(others)}" for what, others in shared.items()]
    return (f"shares {'; '.join(parts)} on account {exchange}/{account}: each counts the other's trades as its "
            "own. Give each its own account (or sub-account)")

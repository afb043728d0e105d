"""What an object owns on its exchange account: perp positions (by symbol), spot balances (by asset) and the dated
futures and options a book counts in its delta (by symbol).

Positions and balances are per account, not per object, so two objects owning the same thing on one account
would each count the other's trades as their own (two hedge books with the same legs each see the account's
one position and both believe they are hedged). One position, one owner: of the objects claiming one thing, the
oldest (creation time, then uid) owns it and trades; every newer one is refused (Ready=False SharedPositions)
and sends nothing until they part. Every sharer is told (condition SharedPositions, a Warning event, a metric an
alert pages on). The operator and local mode apply the rule through `ownership` below.

Tenants are namespaces: an account label in one namespace is not the same account as that label in another
(each namespace's Secret names its own credentials), so the namespace is part of the key; so is the mode (Paper
and Live accounts are different accounts). A Live account is whoever its credentials are, not its label: two
Live objects naming one Secret under two labels trade one exchange account (each saw the other's hedge as its
own and they flipped the position between them), so a Live claim is keyed by the Secret (and sandbox) instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hedgeops.api import FundingArbitrage, HedgeBook, MarketMaker
from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.api.hedgebook import HoldingsSource, ObjectiveType

# (mode, namespace, exchange, account, "perp:<sym>" | "balance:<asset>" | "position:<dated future or option>")
Claim = tuple[str, str, str, str, str]


@dataclass(frozen=True, order=True)
class Holder:
    """An object holding claims, ordered by age: creation time (RFC 3339 UTC sorts as text), then uid."""

    created: str
    uid: str
    ref: str  # Kind/namespace/name


def account_identity(mode: Mode, exchange: ExchangeRef) -> str:
    """The account a claim is on: a Paper account is its label (each label is its own paper account); a Live one
    is the Secret holding its credentials (a label is only a name for people)."""
    secret = exchange.credentialsSecretRef
    if mode is Mode.LIVE and secret is not None:
        return f"secret:{secret.name}" + (":sandbox" if exchange.sandbox else "")
    return exchange.account


def _key(mode: Mode, namespace: str, exchange: ExchangeRef, what: str) -> Claim:
    return (mode.value, namespace, exchange.name, account_identity(mode, exchange), what)


def book_claims(book: HedgeBook) -> set[Claim]:
    spec, ns = book.spec, book.metadata.namespace
    owned = spec.holdings.exchangeBalance.assets if spec.holdings.exchangeBalance else []
    if spec.objective.type is ObjectiveType.ALLOCATION:
        return {_key(spec.mode, ns, spec.exchange, f"balance:{a}") for a in owned}
    claims = {_key(spec.mode, ns, spec.exchange, f"perp:{leg.symbol}") for leg in spec.legs}
    if spec.holdings.source is HoldingsSource.EXCHANGE_BALANCE:
        claims |= {_key(spec.mode, ns, spec.exchange, f"balance:{a}") for a in owned}
    # Observed instruments count in the delta: two books counting one balance or one future would each hedge it.
    claims |= {_key(spec.mode, ns, spec.exchange, f"position:{i.symbol}" if i.symbol else f"balance:{i.asset}")
               for i in spec.instruments}
    return claims


def carry_claims(fa: FundingArbitrage) -> set[Claim]:
    """The listed pairs and every pair it holds (autoSelect picks pairs at run time; status.legs has them)."""
    spec = fa.spec
    pairs = {(p.spot, p.perp) for p in spec.pairs} | {(leg.spot, leg.perp) for leg in (fa.status.legs
                                                                                      if fa.status else [])}
    claims = set()
    for spot, perp in pairs:
        claims.add(_key(spec.mode, fa.metadata.namespace, spec.exchange, f"perp:{perp}"))
        claims.add(_key(spec.mode, fa.metadata.namespace, spec.exchange, f"balance:{spot.split('/')[0]}"))
    status, enh = fa.status, spec.enhancement
    layers = {x.symbol for x in ((status.grid, status.contrarian) if status else ()) if x is not None and x.symbol}
    if enh is not None:  # the second layer's perps are the object's too
        layers |= {x.symbol for x in (enh.grid, enh.contrarian) if x is not None}
    claims |= {_key(spec.mode, fa.metadata.namespace, spec.exchange, f"perp:{g}") for g in layers}
    return claims


def maker_claims(mm: MarketMaker) -> set[Claim]:
    return {_key(mm.spec.mode, mm.metadata.namespace, mm.spec.exchange, f"perp:{mm.spec.symbol}")}


def sharers(me: str, mine: Iterable[Claim], index: Mapping[Claim, Iterable[str]]) -> dict[str, list[str]]:
    """For each of my claims that others hold too: what (`perp:SOL/USDT:USDT`) → the other objects, sorted."""
    out: dict[str, list[str]] = {}
    for claim in sorted(mine):
        others = sorted({o for o in index.get(claim, ()) if o != me})
        if others:
            out[claim[4]] = others
    return out


@dataclass(frozen=True)
class Ownership:
    """What an object shares and with whom, and which of its claims an older object owns (then it must not
    trade at all: a book trading some of its legs would hedge only part of what it holds)."""

    shared: dict[str, list[str]]
    owned_by: dict[str, str]  # what -> the older object that owns it

    @property
    def refused(self) -> bool:
        return bool(self.owned_by)


def ownership(me: Holder, mine: Iterable[Claim], index: Mapping[Claim, Iterable[Holder]]) -> Ownership:
    """The one-owner rule for `me`: of every claim's holders, the oldest owns it."""
    shared: dict[str, list[str]] = {}
    owned_by: dict[str, str] = {}
    for claim in sorted(mine):
        holders = {h for h in index.get(claim, ()) if h.ref != me.ref}
        if not holders:
            continue
        shared[claim[4]] = sorted(h.ref for h in holders)
        oldest = min(holders)
        if oldest < me:
            owned_by[claim[4]] = oldest.ref
    return Ownership(shared, owned_by)


def refusal(own: Ownership, exchange: str, account: str) -> str:
    parts = [f"{what.split(':', 1)[1]} is owned by {ref}" for what, ref in own.owned_by.items()]
    return (f"{'; '.join(parts)} (older) on account {exchange}/{account}: one position, one owner. This object "
            "sends nothing until it has an account (or sub-account) of its own")


def describe(shared: Mapping[str, list[str]], exchange: str, account: str) -> str:
    parts = [f"{what.split(':', 1)[1]} with {', '.join(others)}" for what, others in shared.items()]
    return (f"shares {'; '.join(parts)} on account {exchange}/{account}: each counts the other's trades as its "
            "own. Give each its own account (or sub-account)")

"""Tenants are namespaces (issue 13, finding 1): a book trades only with the credentials its own namespace's
Secret holds. Real ccxt against the emulator serving two exchange accounts (the victim's and the attacker's)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

import pytest

from hedgeops.api import HedgeBook
from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.exchange.ccxt.client import ApiCredentials
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues, live_account_key, paper_account_key

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock
from .runtime_fixtures import Monotonic, book, policy

D = Decimal
SOL = "SOL/USDT:USDT"
OTHER_KEY, OTHER_SECRET, OTHER_PASS = "attacker-key", "attacker-secret", "attacker-pass"


@dataclass
class Tenants:
    emu: Emulator
    clock: Clock
    secrets: dict[tuple[str, str], dict[str, str]]
    now: Monotonic
    reconciler: HedgeBookReconciler
    live: CcxtVenues

    async def step(self, b: HedgeBook) -> HedgeBook:
        result = await self.reconciler.reconcile(b, self.clock(), None, policy())
        return b.model_copy(update={"status": result.status})

    def orders(self, key: str) -> list[str]:
        return list(self.emu.account(key).ord_ids)


@pytest.fixture
async def tenants() -> AsyncIterator[Tenants]:
    clock = Clock()
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, PASSPHRASE),
                                          OTHER_KEY: Credentials(OTHER_SECRET, OTHER_PASS)})
    secrets = {("victim", "okx-creds"): {"apiKey": KEY, "secret": SECRET, "passphrase": PASSPHRASE}}

    async def read_secret(namespace: str, name: str) -> Mapping[str, str]:
        return dict(secrets[(namespace, name)])  # KeyError: not found, as the operator's reader raises

    now = Monotonic()
    async with serving(emu) as (_, url):
        live = CcxtVenues(read_secret, {"okx": url}, snapshot_max_age_s=0, rate_limit=False, monotonic=now)
        venues = Venues(PaperVenues(clock), live)
        reconciler = HedgeBookReconciler(Services(venues, InMemoryLocks(lambda: 0.0), InMemoryJournal(), Metrics(),
                                                  "test"))
        try:
            yield Tenants(emu, clock, secrets, now, reconciler, live)
        finally:
            await venues.close()


def live_book(namespace: str, secret: str, name: str = "b1", sol: int = 100) -> HedgeBook:
    b = book(name=name, mode="Live", exchange={"name": "okx", "account": "main",
                                               "credentialsSecretRef": {"name": secret}},
             holdings={"source": "Static", "static": {"SOL": sol}},
             legs=[{"asset": "SOL", "symbol": SOL}])
    return b.model_copy(update={"metadata": b.metadata.model_copy(update={"namespace": namespace})})


def ready(b: HedgeBook) -> tuple[str, str]:
    c = next(c for c in b.status.conditions if c.type == "Ready")  # type: ignore[union-attr]
    return c.reason, c.message


async def test_a_book_whose_secret_does_not_exist_never_reaches_another_tenants_client(tenants: Tenants) -> None:
    victim = await tenants.step(live_book("victim", "okx-creds"))
    assert victim.status is not None and victim.status.rebalancesTotal == 1, victim.status
    sent = tenants.orders(KEY)
    assert sent  # the victim's hedge is on the victim's account

    # Same exchange, same account label, a Secret that does not exist in its own namespace.
    attacker = await tenants.step(live_book("attacker", "does-not-exist", sol=500))
    assert ready(attacker)[0] == "VenueUnavailable" and "attacker/does-not-exist" in ready(attacker)[1]
    # Even naming the victim's Secret by name reads it from the attacker's own namespace only.
    attacker = await tenants.step(live_book("attacker", "okx-creds", sol=500))
    assert ready(attacker)[0] == "VenueUnavailable"
    assert tenants.orders(KEY) == sent  # nothing more on the victim's account


async def test_each_namespace_trades_its_own_account_under_one_secret_name(tenants: Tenants) -> None:
    tenants.secrets[("attacker", "okx-creds")] = {"apiKey": OTHER_KEY, "secret": OTHER_SECRET,
                                                  "passphrase": OTHER_PASS}
    await tenants.step(live_book("victim", "okx-creds", sol=100))
    await tenants.step(live_book("attacker", "okx-creds", sol=40))
    assert tenants.emu.account(KEY).venue.account.positions({})[SOL].qty == D(-100)
    assert tenants.emu.account(OTHER_KEY).venue.account.positions({})[SOL].qty == D(-40)
    assert len(tenants.live.clients) == 2


async def test_a_rotated_secret_builds_a_new_client_and_a_deleted_one_stops_trading(tenants: Tenants) -> None:
    b = await tenants.step(live_book("victim", "okx-creds", sol=100))
    first = next(iter(tenants.live.clients.values())).venue
    # The Secret now holds another account's credentials (a key rotation moved it to a new sub-account).
    tenants.secrets[("victim", "okx-creds")] = {"apiKey": OTHER_KEY, "secret": OTHER_SECRET,
                                                "passphrase": OTHER_PASS}
    tenants.now.t += 60  # past the Secret cache's TTL
    tenants.clock.advance(300)
    b = await tenants.step(b)
    rebuilt = next(iter(tenants.live.clients.values())).venue
    assert rebuilt is not first and first in tenants.live.retired
    assert tenants.orders(OTHER_KEY)  # the new account is hedged with the new credentials
    # Deleted: the cached client is not used once the TTL has passed.
    del tenants.secrets[("victim", "okx-creds")]
    tenants.now.t += 60
    tenants.clock.advance(300)
    before = tenants.orders(OTHER_KEY)
    b = await tenants.step(b.model_copy(update={"spec": live_book("victim", "okx-creds", sol=300).spec}))
    assert ready(b)[0] == "VenueUnavailable" and tenants.orders(OTHER_KEY) == before


async def test_account_identities_separate_namespaces_and_join_one_api_key() -> None:
    """Locks serialise an account identity: paper accounts per namespace, live accounts per credentials (two
    namespaces handed the same credentials are one exchange account and must never trade it at once; another's
    API key beside a made-up secret is not that account and cannot hold its lock)."""
    paper = PaperVenues(Clock())
    ref = ExchangeRef(name="okx", account="main")
    a, b = await paper.account(ref, Mode.PAPER, "team-a"), await paper.account(ref, Mode.PAPER, "team-b")
    assert a.venue is not b.venue and a.key == paper_account_key("team-a", "okx", "main") != b.key
    mine = ApiCredentials(KEY, "s3cret", "pass")
    assert live_account_key("okx", False, mine) == live_account_key("okx", False, ApiCredentials(KEY, "s3cret", "pass"))
    assert live_account_key("okx", False, mine) != live_account_key("okx", True, mine)
    assert live_account_key("okx", False, mine) != live_account_key("okx", False, ApiCredentials(KEY, "made-up", "x"))
    assert KEY not in live_account_key("okx", False, mine)  # a digest: the key itself is not in Redis


async def test_a_secret_the_api_server_cannot_serve_fails_closed(tenants: Tenants) -> None:
    async def broken(namespace: str, name: str) -> Mapping[str, str]:
        raise ConnectionError("api server down")

    tenants.live.read_secret = broken
    b = await tenants.step(live_book("victim", "okx-creds"))
    assert ready(b)[0] == "VenueUnavailable" and not tenants.orders(KEY)


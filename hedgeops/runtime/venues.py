"""Which Venue serves an exchange account in a given mode, and who that account is.

Tenants are namespaces: nothing keyed by a name a user chooses (the `account` label, a Secret's name) is
shared across namespaces. Paper accounts are per (namespace, exchange, account). Live clients are per
(namespace, Secret, credentials): a book whose Secret cannot be read never reaches a cached client, and a
rotated Secret builds a new one. The account's *identity* (what the lock serialises) is the exchange and the
API key itself, so two namespaces given the same key still never trade that account at once."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.ccxt.venue import DEFAULT_SNAPSHOT_AGE_S, CcxtVenue
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.paper.live import LivePaperVenue
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.exchange.venue import CarryVenue, VenueError
from hedgeops.model.market import Fees

# (namespace, Secret name) -> the Secret's decoded data. The operator reads Kubernetes; tests give a dict.
SecretReader = Callable[[str, str], Awaitable[Mapping[str, str]]]
# (exchange, outcome) -> counted: every request a ccxt venue sends (see exchange.ccxt_errors.request_outcome).
RequestObserver = Callable[[str, str], None]
SECRET_TTL_S = 10.0  # a rotated or deleted Secret is noticed within this long (one read per Secret per TTL)


def _observer(on_request: RequestObserver | None, exchange: str) -> Callable[[str], None] | None:
    if on_request is None:
        return None
    return lambda outcome: on_request(exchange, outcome)


class VenueUnavailable(Exception):
    """No venue can serve this account in this mode (reason in the message)."""


@dataclass(frozen=True)
class Account:
    """A venue and the identity of the account behind it: `key` names what the account lock serialises."""

    venue: CarryVenue
    key: str


def paper_account_key(namespace: str, exchange: str, account: str) -> str:
    return f"paper:{namespace}:{exchange}:{account}"


def live_account_key(exchange: str, sandbox: bool, creds: ApiCredentials) -> str:
    """The exchange account is whoever its credentials are: a digest of all of them, never the credentials. Not of
    the API key alone: a key is an identifier, not a secret, and a tenant who put another's key beside a made-up
    secret took that account's lock and held its owner off every cycle, with credentials that cannot trade."""
    return f"live:{exchange}{':sandbox' if sandbox else ''}:{_fingerprint(creds)[:24]}"


def _fingerprint(creds: ApiCredentials) -> str:
    return hashlib.sha256("\0".join((creds.api_key, creds.secret, creds.passphrase)).encode()).hexdigest()


class VenueSource(Protocol):
    async def account(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> Account: ...

    async def close(self) -> None: ...


async def venue_for(source: VenueSource, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
    """Just the venue (tests, benches, local mode's inspection)."""
    return (await source.account(exchange, mode, namespace)).venue


class PaperVenues:
    """Paper venues replaying the bundled real market data on the given clock, one per namespace's account."""

    def __init__(self, clock: Callable[[], datetime], replay: MarketReplay | None = None,
                 fees: Fees | None = None) -> None:
        self.clock = clock
        self.replay = replay or MarketReplay()
        self.fees = fees or Fees()
        self.venues: dict[str, PaperVenue] = {}

    async def account(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> Account:
        if mode is Mode.LIVE:
            raise VenueUnavailable("this operator runs on replayed prices and cannot trade Live; use mode: Paper "
                                   "or run the operator with live exchanges enabled")
        key = paper_account_key(namespace, exchange.name, exchange.account)
        if key not in self.venues:
            self.venues[key] = PaperVenue(self.replay, self.clock, self.fees)
        return Account(self.venues[key], key)

    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
        return await venue_for(self, exchange, mode, namespace)

    def paper(self, exchange: str, account: str, namespace: str = "default") -> PaperVenue | None:
        return self.venues.get(paper_account_key(namespace, exchange, account))

    async def close(self) -> None:
        for venue in self.venues.values():
            await venue.close()


@dataclass
class _Client:
    fingerprint: str
    venue: CarryVenue


class CcxtVenues:
    """Live ccxt venues: one client per (exchange, sandbox, namespace, Secret), rebuilt when the Secret's
    credentials change. The Secret is read (at most SECRET_TTL_S old) before every use: a book that cannot read
    its own Secret gets VenueUnavailable, never another tenant's client. `base_urls` sends an exchange's every
    endpoint to another address (the emulator, a gateway)."""

    def __init__(self, read_secret: SecretReader, base_urls: Mapping[str, str] | None = None, *,
                 fees: Fees | None = None, timeout_ms: int = 10_000,
                 snapshot_max_age_s: float = DEFAULT_SNAPSHOT_AGE_S, rate_limit: bool = True,
                 on_request: RequestObserver | None = None, secret_ttl_s: float = SECRET_TTL_S,
                 monotonic: Callable[[], float] = time.monotonic, streaming: bool = False) -> None:
        self.read_secret = read_secret
        self.streaming = streaming  # StreamingVenue (websockets, REST behind it) instead of REST polling
        self.on_request = on_request
        self.rate_limit = rate_limit  # ccxt's client-side pacing to the exchange's published limits
        self.snapshot_max_age_s = snapshot_max_age_s
        self.base_urls = dict(base_urls or {})
        self.fees = fees
        self.timeout_ms = timeout_ms
        self.secret_ttl_s = secret_ttl_s
        self._time = monotonic
        self.clients: dict[tuple[str, bool, str, str], _Client] = {}
        self._secrets: dict[tuple[str, str], tuple[float, ApiCredentials]] = {}
        self._building: dict[tuple[str, bool, str, str], asyncio.Lock] = {}
        self.retired: list[CarryVenue] = []  # clients replaced by a rotation, closed at shutdown (may be mid-call)

    async def account(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> Account:
        if exchange.credentialsSecretRef is None:
            raise VenueUnavailable("mode Live needs spec.exchange.credentialsSecretRef (a Secret with apiKey, "
                                   "secret and passphrase)")
        secret = exchange.credentialsSecretRef.name
        key = (exchange.name, exchange.sandbox, namespace, secret)
        # Reading the Secret awaits: without this lock, every book of an account starting at once would read it
        # and build its own client (its own rate limiter and market load), and all but the last would leak.
        async with self._building.setdefault(key, asyncio.Lock()):
            creds = await self._credentials(namespace, secret)
            fingerprint = _fingerprint(creds)
            held = self.clients.get(key)
            if held is None or held.fingerprint != fingerprint:
                if held is not None:  # rotated: the old client may be mid-call for another cycle; close it later
                    self.retired.append(held.venue)
                    stop = getattr(held.venue, "stop_streams", None)
                    if callable(stop):  # but its sockets and reconnect loop end now (the old key may be revoked)
                        await stop()
                held = self.clients[key] = _Client(fingerprint, self._build(exchange, creds, namespace, secret))
        return Account(held.venue, live_account_key(exchange.name, exchange.sandbox, creds))

    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
        return await venue_for(self, exchange, mode, namespace)

    async def _credentials(self, namespace: str, name: str) -> ApiCredentials:
        cached = self._secrets.get((namespace, name))
        if cached is not None and self._time() - cached[0] < self.secret_ttl_s:
            return cached[1]
        self._secrets.pop((namespace, name), None)  # unreadable now: nothing of the old one may be used
        try:
            creds = ApiCredentials.from_secret_data(await self.read_secret(namespace, name))
        except VenueError as exc:
            raise VenueUnavailable(f"Secret {namespace}/{name}: {exc}") from None
        except KeyError:
            raise VenueUnavailable(f"Secret {namespace}/{name} not found") from None
        except Exception as exc:  # API server unreachable, forbidden, not decodable: fail closed
            raise VenueUnavailable(f"cannot read Secret {namespace}/{name}: {type(exc).__name__}") from None
        self._secrets[(namespace, name)] = (self._time(), creds)
        return creds

    def _build(self, exchange: ExchangeRef, creds: ApiCredentials, namespace: str, name: str) -> CarryVenue:
        if self.streaming:
            from hedgeops.exchange.stream.venue import streaming_venue  # ccxt.pro: loaded only when streaming

            try:
                return cast(CarryVenue, streaming_venue(
                    exchange.name, creds, sandbox=exchange.sandbox, base_url=self.base_urls.get(exchange.name),
                    timeout_ms=self.timeout_ms, rate_limit=self.rate_limit, fees=self.fees,
                    snapshot_max_age_s=self.snapshot_max_age_s,
                    on_request=_observer(self.on_request, exchange.name)))
            except VenueError as exc:
                raise VenueUnavailable(f"Secret {namespace}/{name}: {exc}") from None
        try:
            client = make_client(exchange.name, creds, sandbox=exchange.sandbox,
                                 base_url=self.base_urls.get(exchange.name), timeout_ms=self.timeout_ms,
                                 rate_limit=self.rate_limit)
        except VenueError as exc:
            raise VenueUnavailable(f"Secret {namespace}/{name}: {exc}") from None
        return CcxtVenue(client, self.fees, snapshot_max_age_s=self.snapshot_max_age_s,
                         on_request=_observer(self.on_request, exchange.name))

    async def close(self) -> None:
        for venue in [*(c.venue for c in self.clients.values()), *self.retired]:
            await venue.close()


class LivePaperVenues:
    """Paper accounts on live public prices: one simulated account per (namespace, exchange, account), and one
    public ccxt client per exchange (and sandbox) for them all; no credentials are read, whatever the book names.
    A client per account made every new account label another poller with a rate limiter of its own: a tenant
    creating hundreds of Paper objects could get the operator's one address rate-limited or banned by the
    exchange, and every tenant's Live books with it."""

    def __init__(self, base_urls: Mapping[str, str] | None = None, *, fees: Fees | None = None,
                 timeout_ms: int = 10_000, on_request: RequestObserver | None = None) -> None:
        self.base_urls = dict(base_urls or {})
        self.on_request = on_request
        self.fees = fees
        self.timeout_ms = timeout_ms
        self.venues: dict[str, LivePaperVenue] = {}
        self.public: dict[tuple[str, bool], CcxtVenue] = {}

    async def account(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> Account:
        key = paper_account_key(namespace, exchange.name, exchange.account)
        venue = self.venues.get(key)
        if venue is None:
            public = self.public.get((exchange.name, exchange.sandbox))
            if public is None:
                try:
                    client = make_client(exchange.name, None, sandbox=exchange.sandbox,
                                         base_url=self.base_urls.get(exchange.name), timeout_ms=self.timeout_ms)
                except VenueError as exc:
                    raise VenueUnavailable(str(exc)) from None
                public = self.public[(exchange.name, exchange.sandbox)] = CcxtVenue(
                    client, on_request=_observer(self.on_request, exchange.name))
            venue = self.venues[key] = LivePaperVenue(public, self.fees)
        return Account(venue, key)

    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
        return await venue_for(self, exchange, mode, namespace)

    async def close(self) -> None:
        for public in self.public.values():  # the accounts hold nothing to close: their client is shared
            await public.close()


class Venues:
    """Paper to one source, Live to another."""

    def __init__(self, paper: VenueSource, live: VenueSource | None = None) -> None:
        self.paper, self.live = paper, live

    async def account(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> Account:
        if mode is Mode.LIVE:
            if self.live is None:
                raise VenueUnavailable("live trading is not enabled in this operator; use mode: Paper")
            return await self.live.account(exchange, mode, namespace)
        return await self.paper.account(exchange, mode, namespace)

    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
        return await venue_for(self, exchange, mode, namespace)

    async def close(self) -> None:
        await self.paper.close()
        if self.live is not None:
            await self.live.close()

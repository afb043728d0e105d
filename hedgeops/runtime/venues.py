"""Which Venue serves an exchange account in a given mode: one instance per account, shared by books.
Paper runs on replayed real prices (local mode, tests) or on a live venue's public prices; Live trades
through ccxt with the credentials in the book's Secret."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Protocol

from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.engine.market import Fees
from hedgeops.exchange.ccxt_client import ApiCredentials, make_client
from hedgeops.exchange.ccxt_venue import DEFAULT_SNAPSHOT_AGE_S, CcxtVenue
from hedgeops.exchange.live_paper import LivePaperVenue
from hedgeops.exchange.paper import PaperVenue
from hedgeops.exchange.replay import MarketReplay
from hedgeops.exchange.venue import CarryVenue, VenueError

# (namespace, Secret name) -> the Secret's decoded data. The operator reads Kubernetes; tests give a dict.
SecretReader = Callable[[str, str], Awaitable[Mapping[str, str]]]
# (exchange, outcome) -> counted: every request a ccxt venue sends (see exchange.ccxt_errors.request_outcome).
RequestObserver = Callable[[str, str], None]


def _observer(on_request: RequestObserver | None, exchange: str) -> Callable[[str], None] | None:
    if on_request is None:
        return None
    return lambda outcome: on_request(exchange, outcome)


class VenueUnavailable(Exception):
    """No venue can serve this account in this mode (reason in the message)."""


class VenueSource(Protocol):
    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue: ...

    async def close(self) -> None: ...


class PaperVenues:
    """Paper venues replaying the bundled real market data on the given clock."""

    def __init__(self, clock: Callable[[], datetime], replay: MarketReplay | None = None,
                 fees: Fees | None = None) -> None:
        self.clock = clock
        self.replay = replay or MarketReplay()
        self.fees = fees or Fees()
        self.venues: dict[tuple[str, str], PaperVenue] = {}

    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
        if mode is Mode.LIVE:
            raise VenueUnavailable("this operator runs on replayed prices and cannot trade Live; use mode: Paper "
                                   "or run the operator with live exchanges enabled")
        key = (exchange.name, exchange.account)
        if key not in self.venues:
            self.venues[key] = PaperVenue(self.replay, self.clock, self.fees)
        return self.venues[key]

    def paper(self, exchange: str, account: str) -> PaperVenue | None:
        return self.venues.get((exchange, account))

    async def close(self) -> None:
        for venue in self.venues.values():
            await venue.close()


class CcxtVenues:
    """Live ccxt venues, one client per (exchange, account), built on first use from the book's Secret.
    `base_urls` sends an exchange's every endpoint to another address (the emulator, a gateway)."""

    def __init__(self, read_secret: SecretReader, base_urls: Mapping[str, str] | None = None, *,
                 fees: Fees | None = None, timeout_ms: int = 10_000,
                 snapshot_max_age_s: float = DEFAULT_SNAPSHOT_AGE_S, rate_limit: bool = True,
                 on_request: RequestObserver | None = None) -> None:
        self.read_secret = read_secret
        self.on_request = on_request
        self.rate_limit = rate_limit  # ccxt's client-side pacing to the exchange's published limits
        self.snapshot_max_age_s = snapshot_max_age_s
        self.base_urls = dict(base_urls or {})
        self.fees = fees
        self.timeout_ms = timeout_ms
        self.venues: dict[tuple[str, str], CcxtVenue] = {}
        self._building: dict[tuple[str, str], asyncio.Lock] = {}

    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
        key = (exchange.name, exchange.account)
        venue = self.venues.get(key)
        if venue is not None:
            return venue
        # Reading the Secret awaits: without this lock, every book of an account starting at once would build
        # its own client (its own rate limiter and market load), and all but the last would leak unclosed.
        async with self._building.setdefault(key, asyncio.Lock()):
            venue = self.venues.get(key)
            if venue is None:
                venue = self.venues[key] = await self._build(exchange, namespace)
        return venue

    async def _build(self, exchange: ExchangeRef, namespace: str) -> CcxtVenue:
        if exchange.credentialsSecretRef is None:
            raise VenueUnavailable("mode Live needs spec.exchange.credentialsSecretRef (a Secret with apiKey, "
                                   "secret and passphrase)")
        name = exchange.credentialsSecretRef.name
        try:
            creds = ApiCredentials.from_secret_data(await self.read_secret(namespace, name))
            client = make_client(exchange.name, creds, sandbox=exchange.sandbox,
                                 base_url=self.base_urls.get(exchange.name), timeout_ms=self.timeout_ms,
                                 rate_limit=self.rate_limit)
        except VenueError as exc:
            raise VenueUnavailable(f"Secret {namespace}/{name}: {exc}") from None
        except KeyError:
            raise VenueUnavailable(f"Secret {namespace}/{name} not found") from None
        return CcxtVenue(client, self.fees, snapshot_max_age_s=self.snapshot_max_age_s,
                         on_request=_observer(self.on_request, exchange.name))

    async def close(self) -> None:
        for venue in self.venues.values():
            await venue.close()


class LivePaperVenues:
    """Paper accounts on live public prices: one simulated account and one public ccxt client per (exchange,
    account); no credentials are read, whatever the book names."""

    def __init__(self, base_urls: Mapping[str, str] | None = None, *, fees: Fees | None = None,
                 timeout_ms: int = 10_000, on_request: RequestObserver | None = None) -> None:
        self.base_urls = dict(base_urls or {})
        self.on_request = on_request
        self.fees = fees
        self.timeout_ms = timeout_ms
        self.venues: dict[tuple[str, str], LivePaperVenue] = {}

    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
        key = (exchange.name, exchange.account)
        venue = self.venues.get(key)
        if venue is None:
            try:
                client = make_client(exchange.name, None, sandbox=exchange.sandbox,
                                     base_url=self.base_urls.get(exchange.name), timeout_ms=self.timeout_ms)
            except VenueError as exc:
                raise VenueUnavailable(str(exc)) from None
            venue = self.venues[key] = LivePaperVenue(
                CcxtVenue(client, on_request=_observer(self.on_request, exchange.name)), self.fees)
        return venue

    async def close(self) -> None:
        for venue in self.venues.values():
            await venue.close()


class Venues:
    """Paper to one source, Live to another."""

    def __init__(self, paper: VenueSource, live: VenueSource | None = None) -> None:
        self.paper, self.live = paper, live

    async def venue_for(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> CarryVenue:
        if mode is Mode.LIVE:
            if self.live is None:
                raise VenueUnavailable("live trading is not enabled in this operator; use mode: Paper")
            return await self.live.venue_for(exchange, mode, namespace)
        return await self.paper.venue_for(exchange, mode, namespace)

    async def close(self) -> None:
        await self.paper.close()
        if self.live is not None:
            await self.live.close()

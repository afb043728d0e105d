"""The composition root: locks, journal, venues, metrics, clock, schedule and one reconciler per kind, built
from one description of where the process runs. The operator, local mode and the benches all build theirs here,
so the same parts run everywhere and a new part is wired once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import redis.asyncio as aioredis

from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.runtime.clock import Clock, ReplayClock, SimClock, WallClock
from hedgeops.runtime.cycle import LOCK_TTL_SECONDS, Services
from hedgeops.runtime.freshness import DEFAULT_MAX_DATA_AGE_S
from hedgeops.runtime.holdings_http import HttpHoldingsSource
from hedgeops.runtime.journal import InMemoryJournal, Journal, RedisJournal
from hedgeops.runtime.kinds.carry import FundingArbitrageReconciler
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.kinds.marketmaker import MarketMakerReconciler
from hedgeops.runtime.locks import AccountLocks, InMemoryLocks, RedisLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.reconcile import DEFAULT_RETRY_SECONDS, Schedule
from hedgeops.runtime.signals import InMemorySeenSignals, RedisSeenSignals, SeenSignals
from hedgeops.runtime.triggers import StreamTriggers
from hedgeops.runtime.venues import (
    CcxtVenues,
    LivePaperVenues,
    PaperVenues,
    SecretReader,
    Venues,
    VenueSource,
)
from hedgeops.runtime.wakeups import DEFAULT_MIN_SPACING_S, Wakeups

REDIS_TIMEOUT_S = 5.0  # a partitioned Redis fails the cycle (LockUnavailable), never hangs it
REDIS_CONNECTIONS = 100  # per process; cycles beyond this wait their turn for a connection


def redis_for(url: str) -> aioredis.Redis:
    """A client whose pool makes a cycle wait (up to the timeout) for a free connection rather than fail. redis-py's
    default pool refuses the 101st concurrent command at once (MaxConnectionsError), which failed one cycle in ten
    as LockUnavailable with 500 books on one process (bench/operator_scale.py)."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_TIMEOUT_S,
                                                    socket_timeout=REDIS_TIMEOUT_S,
                                                    socket_connect_timeout=REDIS_TIMEOUT_S)
    return aioredis.Redis(connection_pool=pool)


@dataclass(frozen=True)
class AppConfig:
    """Where the process runs and what it may do. Defaults: one process, in memory, Paper on replayed history."""

    owner: str = "local"
    prices: str = "replay"  # "replay": Paper on bundled history; "live": Paper on the exchanges' live tickers
    clock: str = "replay"  # "replay": wall time mapped onto history; "sim": moves only when told (local, backtest)
    replay_start: datetime | None = None
    replay_speed: float = 1.0
    redis_url: str | None = None  # None: in-process locks and journal (one process only)
    live_trading: bool = False  # Live objects may send real orders (needs live prices)
    exchange_urls: Mapping[str, str] = field(default_factory=dict)
    lock_ttl_seconds: float = LOCK_TTL_SECONDS
    max_data_age_seconds: float | None = DEFAULT_MAX_DATA_AGE_S
    http_holdings_allow_private: bool = False  # RFC 1918 and unique-local (the operator's setting)
    http_holdings_allow_loopback: bool = False  # local mode only: the user's own machine
    tick_seconds: float = 5.0  # how often a live ccxt account's shared snapshot may be reused without a slot
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    scheduled: bool = True  # reconcilers decide themselves when an object is due (off: every call is a cycle)
    streaming: bool = False  # Live accounts on the exchanges' websockets (ccxt.pro), with stream triggers
    stream_min_spacing_seconds: float = DEFAULT_MIN_SPACING_S  # the least time between an object's triggered cycles


@dataclass
class App:
    """The built process: what every entry point (operator handlers, local runner, benches) works through."""

    config: AppConfig
    clock: Clock
    metrics: Metrics
    services: Services
    venues: VenueSource
    schedule: Schedule | None
    hedgebooks: HedgeBookReconciler
    fundingarbitrages: FundingArbitrageReconciler
    marketmakers: MarketMakerReconciler
    seen_signals: SeenSignals
    wakeups: Wakeups | None = None  # streaming: objects a stream trigger asks to run before their schedule
    redis: aioredis.Redis | None = None
    describe: str = ""
    owns_redis: bool = True  # False: the caller's client, closed by the caller

    async def close(self) -> None:
        await self.venues.close()
        if self.redis is not None and self.owns_redis:
            await self.redis.aclose()


def build_app(config: AppConfig, *, metrics: Metrics | None = None, replay: MarketReplay | None = None,
              secret_reader: SecretReader | None = None, clock: Clock | None = None,
              locks_clock: Callable[[], float] | None = None, venues: VenueSource | None = None,
              redis: aioredis.Redis | None = None) -> App:
    """Everything the process needs, wired. `secret_reader` reads a Live object's Secret from its own namespace
    (the operator's comes from its Kubernetes session); without one, Live objects are VenueUnavailable. A caller
    that brings its own `venues` (a bench against the emulator) or Redis client (`redis`) gets them wired in."""
    metrics = metrics or Metrics()
    owns_redis = redis is None
    redis_client = redis or (redis_for(config.redis_url) if config.redis_url else None)
    locks: AccountLocks = RedisLocks(redis_client) if redis_client else (
        InMemoryLocks(locks_clock, renews=False) if locks_clock else InMemoryLocks())  # a frozen clock: no lapse
    journal: Journal = RedisJournal(redis_client) if redis_client else InMemoryJournal()
    seen: SeenSignals = RedisSeenSignals(redis_client) if redis_client else InMemorySeenSignals()

    def count_request(exchange: str, outcome: str) -> None:
        metrics.exchange_requests.labels(exchange, outcome).inc()

    if venues is not None:
        source, clock, describe = venues, clock or WallClock(), "the caller's venues"
    else:
        source, clock, describe = _venues(config, replay, clock, secret_reader, count_request)
    wakeups = Wakeups(config.stream_min_spacing_seconds) if config.streaming else None
    services = Services(source, locks, journal, metrics, owner=config.owner,
                        lock_ttl_seconds=config.lock_ttl_seconds, max_data_age_s=config.max_data_age_seconds,
                        http_holdings=HttpHoldingsSource(allow_private=config.http_holdings_allow_private,
                                                        allow_loopback=config.http_holdings_allow_loopback),
                        triggers=StreamTriggers(wakeups) if wakeups is not None else None)
    schedule = Schedule(config.retry_seconds) if config.scheduled else None
    return App(config, clock, metrics, services, source, schedule,
               HedgeBookReconciler(services, schedule), FundingArbitrageReconciler(services, schedule),
               MarketMakerReconciler(services, schedule), seen, wakeups, redis_client, describe, owns_redis)


def _venues(config: AppConfig, replay: MarketReplay | None, clock: Clock | None, secret_reader: SecretReader | None,
            count_request: Callable[[str, str], None]) -> tuple[VenueSource, Clock, str]:
    """Paper (on replayed history or live prices) and, when Live trading is on, the ccxt venues, with the clock
    that goes with them."""
    paper: VenueSource
    if config.prices == "live":
        clock = clock or WallClock()
        paper = LivePaperVenues(config.exchange_urls, on_request=count_request)
        describe = "paper on live prices"
    else:
        replay = replay or MarketReplay()
        start = config.replay_start or replay.common_window(MarketReplay.symbols())[0]
        if clock is None:
            clock = SimClock(start) if config.clock == "sim" else ReplayClock(start, config.replay_speed)
        paper = PaperVenues(clock.now, replay)
        describe = f"paper on replay from {start.isoformat()} at {config.replay_speed}x" if config.clock != "sim" \
            else f"paper on replay, simulated clock from {start.isoformat()}"
    live = CcxtVenues(secret_reader, config.exchange_urls, on_request=count_request,
                      snapshot_max_age_s=max(2.0, config.tick_seconds), streaming=config.streaming) \
        if config.live_trading and secret_reader is not None else None
    return Venues(paper, live), clock, describe

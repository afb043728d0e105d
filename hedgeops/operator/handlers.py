"""kopf handlers: RebalancePolicy validation and lookup; HedgeBook reconciled on its policy's interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp.web
import kopf
import redis.asyncio as aioredis
from pydantic import BaseModel, ValidationError

from hedgeops import GROUP, VERSION
from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.common import Condition
from hedgeops.api.funding import FundingArbitrage
from hedgeops.api.marketmaker import MarketMaker
from hedgeops.engine.common.claims import (
    Claim,
    Holder,
    Ownership,
    book_claims,
    carry_claims,
    describe,
    maker_claims,
    ownership,
    refusal,
)
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.controls import APPROVE
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.operator.gateway import book_gateway as _book_gateway
from hedgeops.operator.gateway import operator_login
from hedgeops.operator.gateway import secret_reader as _secret_reader
from hedgeops.operator.ha import KubeLeaseApi, LeaderElector, leader_gauge
from hedgeops.operator.halts import halt_in_force
from hedgeops.operator.ratelimit import parse_networks
from hedgeops.operator.settings import OperatorSettings
from hedgeops.operator.status_patch import status_patch
from hedgeops.operator.webhook import serve, webhook_app
from hedgeops.runtime.clock import Clock, ReplayClock, WallClock
from hedgeops.runtime.cycle import CycleEvent, Services
from hedgeops.runtime.holdings_http import HttpHoldingsSource
from hedgeops.runtime.journal import InMemoryJournal, Journal, RedisJournal
from hedgeops.runtime.kinds.carry import FundingArbitrageReconciler
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.kinds.marketmaker import MarketMakerReconciler
from hedgeops.runtime.locks import AccountLocks, InMemoryLocks, RedisLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.signals import (
    InMemorySeenSignals,
    RedisSeenSignals,
    SeenSignals,
    SignalDesk,
)
from hedgeops.runtime.venues import (
    CcxtVenues,
    LivePaperVenues,
    PaperVenues,
    Venues,
    VenueSource,
)

CLOSE_ALL = "hedgeops.io/close-all"
RESET_BREAKER = "hedgeops.io/reset-breaker"
CLUSTER_HALT_LABEL = "hedgeops.io/halt"  # a ConfigMap carrying this label (value "true") halts every object
RETRY_SECONDS = 5  # a Degraded book (lock busy or unreachable, exchange down) is retried this soon
REDIS_TIMEOUT_S = 5.0  # a partitioned Redis fails the cycle (LockUnavailable), never hangs it
SETTINGS = OperatorSettings.from_env()
ModelT = TypeVar("ModelT", bound=BaseModel)
StatusT = TypeVar("StatusT", bound=BaseModel)  # read once at import: kopf fixes timer intervals at decoration


@dataclass
class Runtime:
    """What the handlers share, built at startup and kept in kopf's operator-level memo."""

    clock: Clock
    reconciler: HedgeBookReconciler
    carry: FundingArbitrageReconciler
    maker: MarketMakerReconciler
    metrics: Metrics
    venues: Venues
    redis: aioredis.Redis | None
    webhook: aiohttp.web.AppRunner | None = None
    elector: LeaderElector | None = None  # None: leader election off, this replica runs every cycle
    election: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        """Whether this replica may start a cycle now: it holds the operator Lease (or election is off). The
        standby's timers still tick (and its watches and indexes stay current) but return at once."""
        return self.elector is None or self.elector.leading


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())[:1000]


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's standard login through the official `kubernetes` client: the pod's service account, else the
    kubeconfig's current context with its exec or auth-provider plugin (https://docs.kopf.dev/en/stable/
    authentication/, "Piggybacking"). Declared rather than left to kopf's defaults: see gateway.operator_login."""
    return operator_login(**kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any,
                  logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    settings.posting.level = logging.WARNING  # kopf's own log lines are not events; ours are posted explicitly
    # "Timer succeeded" per object per tick is noise at INFO (five lines a second a book); failures still show.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="hedgeops.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="hedgeops.io")
    settings.watching.server_timeout = 300
    settings.scanning.disabled = True
    metrics = Metrics()
    port = metrics.serve(SETTINGS.metrics_port, SETTINGS.metrics_addr)
    redis_client = aioredis.Redis.from_url(SETTINGS.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                           socket_connect_timeout=REDIS_TIMEOUT_S) if SETTINGS.redis_url else None
    locks: AccountLocks = RedisLocks(redis_client) if redis_client else InMemoryLocks()
    journal: Journal = RedisJournal(redis_client) if redis_client else InMemoryJournal()
    problems = SETTINGS.problems()
    if problems:
        raise kopf.PermanentError("; ".join(problems))  # start-up fails with the reason, before any order
    def count_request(exchange: str, outcome: str) -> None:
        metrics.exchange_requests.labels(exchange, outcome).inc()

    clock: Clock
    paper: VenueSource
    if SETTINGS.prices == "live":
        clock, paper = WallClock(), LivePaperVenues(SETTINGS.exchange_urls, on_request=count_request)
        prices = "live prices"
    else:
        replay = MarketReplay()
        start = SETTINGS.replay_start or replay.common_window(MarketReplay.symbols())[0]
        replay_clock = ReplayClock(start, SETTINGS.replay_speed)
        clock, paper = replay_clock, PaperVenues(replay_clock.now, replay)
        prices = f"replay from {start.isoformat()} at {SETTINGS.replay_speed}x"
    # One account snapshot serves every book due within a tick of the same slot (see next_slot).
    live = CcxtVenues(_secret_reader(settings, logger), SETTINGS.exchange_urls, on_request=count_request,
                      snapshot_max_age_s=max(2.0, SETTINGS.tick_seconds)) if SETTINGS.live_trading else None
    venues = Venues(paper, live)
    services = Services(venues, locks, journal, metrics, owner=SETTINGS.identity,
                        lock_ttl_seconds=SETTINGS.lock_ttl_seconds, max_data_age_s=SETTINGS.max_data_age_seconds,
                        http_holdings=HttpHoldingsSource(allow_private=SETTINGS.http_holdings_allow_private))
    runtime = memo.runtime = Runtime(clock, HedgeBookReconciler(services), FundingArbitrageReconciler(services),
                                     MarketMakerReconciler(services), metrics, venues, redis_client)
    if SETTINGS.leader_election:
        await _elect(runtime, settings, logger)
    webhook = "off"
    if SETTINGS.webhook_port is not None:
        seen: SeenSignals = RedisSeenSignals(redis_client) if redis_client else InMemorySeenSignals()
        desk = SignalDesk(*_book_gateway(settings, logger), _secret_reader(settings, logger), seen, journal,
                          metrics)
        app = webhook_app(desk, clock.now, trusted_proxies=parse_networks(SETTINGS.webhook_trusted_proxies))
        runtime.webhook, bound = await serve(app, SETTINGS.webhook_addr,
                                             SETTINGS.webhook_port)
        webhook = f":{bound}"
    logger.info("hedgeops operator %s: metrics on :%s, webhook %s, locks %s, paper on %s, live trading %s, %s",
                SETTINGS.identity, port, webhook, "redis" if redis_client else "in-memory", prices,
                "ON" if live else "off", f"cycles only while holding Lease {SETTINGS.namespace}/{SETTINGS.lease_name}"
                if runtime.elector else "no leader election")


async def _elect(runtime: Runtime, settings: kopf.OperatorSettings,
                 logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Join the election: a try every retry period in the background, the first as soon as kopf has logged in (it
    logs in after the start-up handlers, so none can be awaited here; the timers return until the Lease is held).
    The webhook is not gated: it only records a signal (Redis, the book's status), which either replica may do."""
    timing = SETTINGS.lease_timing
    gauge = leader_gauge(runtime.metrics.registry)
    api = KubeLeaseApi(settings, logger, SETTINGS.namespace, SETTINGS.lease_name,
                       timeout_s=min(5.0, timing.renew_deadline / 2))
    runtime.elector = LeaderElector(api, SETTINGS.identity, timing, logger=logger,
                                    on_change=lambda leading: gauge.set(int(leading)))
    runtime.election = asyncio.create_task(runtime.elector.run(), name="hedgeops-leader-election")


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        if runtime.election is not None:
            runtime.election.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runtime.election
        if runtime.elector is not None:
            await runtime.elector.release()  # the standby takes over at its next try, not after the lease runs out
        if runtime.webhook is not None:
            await runtime.webhook.cleanup()
        await runtime.venues.close()
        if runtime.redis is not None:
            await runtime.redis.aclose()


@kopf.index(GROUP, VERSION, "rebalancepolicies")
def policy_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str | None, str], Any]:
    """(namespace, name) → policy body, kept current from the watch: no API call per book cycle."""
    return {(namespace, name): dict(body)}


@kopf.index("v1", "configmaps", labels={CLUSTER_HALT_LABEL: "true"})
def cluster_halt_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[str | None, str]:
    """ConfigMaps labelled hedgeops.io/halt=true, by namespace. One in the operator's own namespace
    (HEDGEOPS_NAMESPACE) halts every object: the cluster-wide kill switch (`kubectl create configmap
    hedgeops-halt -n hedgeops && kubectl label ... hedgeops.io/halt=true`). One in a tenant's namespace halts
    that namespace's objects only: a tenant can stop itself, never the others."""
    reason = str((body.get("data") or {}).get("reason") or "")
    scope = "cluster-wide" if namespace == SETTINGS.namespace else f"namespace {namespace}"
    return {namespace: f"{scope} halt by ConfigMap {namespace}/{name}" + (f": {reason}" if reason else "")}


def halt_reason(meta: kopf.Meta, index: Mapping[str | None, Any]) -> str | None:
    return halt_in_force(meta, index, SETTINGS.namespace)


# What each object owns on its account (perp positions, spot balances), kept current from the watches: one
# position, one owner (runtime/claims.py) is decided on every tick from these, at no API cost.
@kopf.index(GROUP, VERSION, "hedgebooks")
def book_claims_index(body: kopf.Body, **_: Any) -> dict[Claim, Holder]:
    return _claims_of(HedgeBook, body, book_claims)


@kopf.index(GROUP, VERSION, "fundingarbitrages")
def carry_claims_index(body: kopf.Body, **_: Any) -> dict[Claim, Holder]:
    return _claims_of(FundingArbitrage, body, carry_claims)


@kopf.index(GROUP, VERSION, "marketmakers")
def maker_claims_index(body: kopf.Body, **_: Any) -> dict[Claim, Holder]:
    return _claims_of(MarketMaker, body, maker_claims)


def _claims_of(model: type[ModelT], body: kopf.Body,
               claims: Callable[[ModelT], set[Claim]]) -> dict[Claim, Holder]:
    try:
        obj = model.model_validate(dict(body))
    except ValidationError:
        return {}  # an invalid object trades nothing, so it owns nothing
    holder = _holder(body)
    return {c: holder for c in claims(obj)}


def _object_ref(body: kopf.Body) -> str:
    meta = body.get("metadata") or {}
    return f"{body.get('kind')}/{meta.get('namespace')}/{meta.get('name')}"


def _holder(body: kopf.Body) -> Holder:
    meta = body.get("metadata") or {}
    return Holder(str(meta.get("creationTimestamp") or ""), str(meta.get("uid") or ""), _object_ref(body))


def _ownership(body: kopf.Body, mine: set[Claim], kwargs: Mapping[str, Any]) -> Ownership:
    indexes = [kwargs[n] for n in ("book_claims_index", "carry_claims_index", "maker_claims_index")]
    index = {claim: [h for idx in indexes for h in idx.get(claim, [])] for claim in mine}  # only mine: cheap
    return ownership(_holder(body), mine, index)


def _shared(metrics: Metrics, body: kopf.Body, mine: set[Claim], own: Ownership, conditions: list[Condition],
            kind: str, now: datetime, events: list[CycleEvent]) -> list[Condition]:
    """Conditions with SharedPositions set (and Ready=False SharedPositions when an older object owns one of
    this object's claims); a Warning event when that starts or changes; the metric always."""
    meta = body.get("metadata") or {}
    exchange = next(iter(mine))[2:4] if mine else ("", "")
    if own.refused:
        reason, message = "OwnedByAnother", refusal(own, *exchange)
    elif own.shared:
        reason, message = "SharedWithOthers", describe(own.shared, *exchange)
    else:
        reason, message = "SoleOwner", ""
    was = next((c for c in conditions if c.type == "SharedPositions"), None)
    if own.shared and (was is None or was.status.value != "True" or was.reason != reason):
        events.append(CycleEvent("Warning", "SharedPositions", message))
    metrics.shared.labels(kind, meta.get("namespace"), meta.get("name")).set(len(own.shared))
    conds = set_condition(conditions, "SharedPositions", bool(own.shared), reason, message, now,
                          meta.get("generation"))
    if own.refused:
        metrics.ready.labels(kind, meta.get("namespace"), meta.get("name")).set(0)
        conds = set_condition(conds, "Ready", False, "SharedPositions", message, now, meta.get("generation"))
    return conds


def _with_shared(metrics: Metrics, body: kopf.Body, mine: set[Claim], own: Ownership, status: StatusT, kind: str,
                 now: datetime, events: list[CycleEvent]) -> StatusT:
    conditions: list[Condition] = getattr(status, "conditions")  # noqa: B009  (every kind's status has them)
    conds = _shared(metrics, body, mine, own, conditions, kind, now, events)
    return status.model_copy(update={"conditions": conds})


def _refuse_shared(metrics: Metrics, body: kopf.Body, meta: kopf.Meta, patch: kopf.Patch, mine: set[Claim],
                   own: Ownership, kind: str, now: datetime) -> None:
    """An older object owns one of this object's positions: no cycle at all (nothing sent, nothing observed);
    the conditions say why, written only when they change (no patch per tick)."""
    raw = (body.get("status") or {}).get("conditions", [])
    old = [Condition.model_validate(c) for c in raw]
    events: list[CycleEvent] = []
    conds = _shared(metrics, body, mine, own, old, kind, now, events)
    if conds != old or events:
        patch.status["conditions"] = [c.model_dump(mode="json", exclude_none=True) for c in conds]
        patch.status["observedGeneration"] = meta.get("generation")
    for ev in events:
        kopf.event(body, type=ev.type, reason=ev.reason, message=ev.message)


def _invalid(body: kopf.Body, meta: kopf.Meta, patch: kopf.Patch, exc: ValidationError, now: datetime) -> None:
    """A spec the models refuse (applied without the CRD's CEL rules): Ready=False InvalidSpec, never a trade."""
    message = _validation_message(exc)
    old = [Condition.model_validate(c) for c in (body.get("status") or {}).get("conditions", [])]
    conds = set_condition(old, "Ready", False, "InvalidSpec", message, now, meta.get("generation"))
    patch.status["conditions"] = [c.model_dump(mode="json", exclude_none=True) for c in conds]
    patch.status["observedGeneration"] = meta.get("generation")
    kopf.warn(body, reason="InvalidSpec", message=message)


@kopf.on.resume(GROUP, VERSION, "rebalancepolicies")
@kopf.on.create(GROUP, VERSION, "rebalancepolicies")
@kopf.on.update(GROUP, VERSION, "rebalancepolicies")
def validate_policy(body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, **_: Any) -> None:
    """A policy that fails the models (e.g. applied without the CRD's CEL rules) is marked not Ready."""
    now = datetime.now().astimezone()
    conditions = [c for c in status.get("conditions", [])] if status else []
    try:
        RebalancePolicy.model_validate(dict(body))
        ok, reason, message = True, "Valid", ""
    except ValidationError as exc:
        ok, reason, message = False, "InvalidSpec", _validation_message(exc)
        kopf.warn(body, reason=reason, message=message)
    conds = set_condition([Condition.model_validate(c) for c in conditions], "Ready", ok, reason, message, now,
                          meta.get("generation"))
    patch.status["observedGeneration"] = meta.get("generation")
    patch.status["conditions"] = [c.model_dump(mode="json", exclude_none=True) for c in conds]


def next_slot(now: datetime, interval: int) -> datetime:
    """The next multiple of `interval` seconds since the epoch: every book on one interval is due at the same
    instants, so the books of one account share one observation of it (the venue's snapshot) per interval
    instead of one each. Costs at most one shorter first interval."""
    slot = (math.floor(now.timestamp() / interval) + 1) * interval
    return datetime.fromtimestamp(slot, tz=now.tzinfo)


def _policy(index: kopf.Index, namespace: str, name: str) -> RebalancePolicy | None:  # type: ignore[type-arg]
    for body in index.get((namespace, name), []):
        try:
            return RebalancePolicy.model_validate(body)
        except ValidationError:
            return None
    return None


@kopf.timer(GROUP, VERSION, "hedgebooks", interval=SETTINGS.tick_seconds, initial_delay=0.1, idle=None)
async def hedgebook_timer(body: kopf.Body, meta: kopf.Meta, patch: kopf.Patch, memo: Any,
                          **kwargs: Any) -> None:
    """Reconcile one book when its policy's checkIntervalSeconds has passed. Never raises for business
    failures (a timer that raises PermanentError stops forever): they become conditions and events."""
    runtime: Runtime = memo.runtime
    if not runtime.active:
        return
    policy_index: kopf.Index = kwargs["policy_index"]  # type: ignore[type-arg]  # injected by name by kopf
    now = runtime.clock.now()
    due: datetime | None = getattr(memo, "next_due", None)
    # What the last decision was made on: the book's spec, its policy's spec, the signal in force, the controls
    # (halt, approve, close-all). A change to any of them is acted on at this tick, not at the next interval.
    mine = _book_claims(body, meta, memo)
    own = _ownership(body, mine, kwargs)
    if own.refused:
        _refuse_shared(runtime.metrics, body, meta, patch, mine, own, "HedgeBook", now)
        memo.next_due = None  # trades at the first tick after the owner lets go
        return
    policy_name = ((body.get("spec") or {}).get("policyRef") or {}).get("name")
    policy_body: dict[str, Any] = next(iter(policy_index.get((meta.get("namespace"), policy_name), [])), {})
    policy_meta = policy_body.get("metadata") or {}
    inputs = (meta.get("generation"), policy_meta.get("uid"), policy_meta.get("generation"),
              ((body.get("status") or {}).get("activeSignal") or {}).get("id"),
              halt_reason(meta, kwargs["cluster_halt_index"]),
              *((meta.get("annotations") or {}).get(k) for k in (APPROVE, CLOSE_ALL)))
    if due is not None and now < due and getattr(memo, "inputs", None) == inputs:
        return
    memo.inputs = inputs
    if due is not None and now >= due:
        runtime.metrics.cycle_lag.labels("HedgeBook").observe((now - due).total_seconds())
    try:
        book = HedgeBook.model_validate(dict(body))
    except ValidationError as exc:
        _invalid(body, meta, patch, exc, now)
        memo.next_due = now + timedelta(seconds=60)
        return
    policy = _policy(policy_index, book.metadata.namespace, book.spec.policyRef.name)
    halted = halt_reason(meta, kwargs["cluster_halt_index"]) is not None
    approval = (meta.get("annotations") or {}).get(APPROVE) or None
    close_all = (meta.get("annotations") or {}).get(CLOSE_ALL, "").lower() == "true"
    result = await runtime.reconciler.reconcile(book, policy, now, halted=halted, approval=approval,
                                                close_all=close_all)
    result.status = _with_shared(runtime.metrics, body, mine, own, result.status, "HedgeBook", now, result.events)
    if approval:  # one-shot: the approval is consumed by this cycle (executed, or refused with an event)
        patch.metadata.setdefault("annotations", {})[APPROVE] = None
    for key, value in status_patch(result.status).items():
        if key != "activeSignal":  # the webhook's to write: a cycle's copy may be older than the one just taken
            patch.status[key] = value
    for ev in result.events:
        kopf.event(body, type=ev.type, reason=ev.reason, message=ev.message)
    interval = policy.spec.checkIntervalSeconds if policy else 60
    if any(c.type == "Degraded" and c.status.value == "True" for c in result.status.conditions):
        interval = min(interval, RETRY_SECONDS)  # a busy lock or a flaky exchange: try again soon, not in an hour
    memo.next_due = next_slot(now, interval)


def _book_claims(body: kopf.Body, meta: kopf.Meta, memo: Any) -> set[Claim]:
    """This book's claims, parsed once per generation (a book's claims follow from its spec alone)."""
    cached = getattr(memo, "claims", None)
    if cached is None or cached[0] != meta.get("generation"):
        try:
            claims = book_claims(HedgeBook.model_validate(dict(body)))
        except ValidationError:
            claims = set()  # InvalidSpec: reported by the cycle below; owns nothing
        cached = memo.claims = (meta.get("generation"), claims)
    return set(cached[1])


def _parse(model: type[ModelT], body: kopf.Body, meta: kopf.Meta, patch: kopf.Patch, memo: Any,
           now: datetime) -> ModelT | None:
    """The object as its model, or None after marking it InvalidSpec (once per generation: no patch storm)."""
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        if getattr(memo, "invalid_generation", None) != meta.get("generation"):
            _invalid(body, meta, patch, exc, now)
            memo.invalid_generation = meta.get("generation")
        return None


def _report(body: kopf.Body, patch: kopf.Patch, old: BaseModel | None, new: BaseModel,
            events: list[CycleEvent]) -> None:
    """Write the status only when it changed; post the cycle's events."""
    if new != old:
        for key, value in status_patch(new).items():
            patch.status[key] = value
    for ev in events:
        kopf.event(body, type=ev.type, reason=ev.reason, message=ev.message)


@kopf.timer(GROUP, VERSION, "fundingarbitrages", interval=SETTINGS.tick_seconds, initial_delay=0.1, idle=None)
async def funding_timer(body: kopf.Body, meta: kopf.Meta, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
    """Seed 004's scheduler for one FundingArbitrage: the reconciler decides which of scan / risk / settle
    are due on this tick (nothing due: no exchange call). Annotations: halt, close-all (flatten both legs and
    stay flat while it is set), reset-breaker (one-shot: removed once applied)."""
    runtime: Runtime = memo.runtime
    if not runtime.active:
        return
    now = runtime.clock.now()
    fa = _parse(FundingArbitrage, body, meta, patch, memo, now)
    if fa is None:
        return
    mine = carry_claims(fa)
    own = _ownership(body, mine, kwargs)
    if own.refused:
        _refuse_shared(runtime.metrics, body, meta, patch, mine, own, "FundingArbitrage", now)
        return
    annotations = meta.get("annotations") or {}
    reset = annotations.get(RESET_BREAKER, "").lower() == "true"
    result = await runtime.carry.reconcile(fa, now, halted=halt_reason(meta, kwargs["cluster_halt_index"]),
                                           reset_breaker=reset,
                                           close_all=annotations.get(CLOSE_ALL, "").lower() == "true")
    if reset:
        patch.metadata.setdefault("annotations", {})[RESET_BREAKER] = None
    mine = carry_claims(fa.model_copy(update={"status": result.status}))  # autoSelect may have picked pairs
    status = _with_shared(runtime.metrics, body, mine, _ownership(body, mine, kwargs), result.status,
                          "FundingArbitrage", now, result.events)
    _report(body, patch, fa.status, status, result.events)


@kopf.timer(GROUP, VERSION, "marketmakers", interval=SETTINGS.tick_seconds, initial_delay=0.1, idle=None)
async def marketmaker_timer(body: kopf.Body, meta: kopf.Meta, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
    """Seed 003's loop for one MarketMaker: quotes refreshed every spec.intervalSeconds, cancelled at once on a
    halt, stopped for good after durationSeconds (condition Finished)."""
    runtime: Runtime = memo.runtime
    if not runtime.active:
        return
    now = runtime.clock.now()
    mm = _parse(MarketMaker, body, meta, patch, memo, now)
    if mm is None:
        return
    mine = maker_claims(mm)
    own = _ownership(body, mine, kwargs)
    if own.refused:
        _refuse_shared(runtime.metrics, body, meta, patch, mine, own, "MarketMaker", now)
        return
    result = await runtime.maker.reconcile(mm, now, halted=halt_reason(meta, kwargs["cluster_halt_index"]))
    status = _with_shared(runtime.metrics, body, mine, own, result.status, "MarketMaker", now, result.events)
    _report(body, patch, mm.status, status, result.events)

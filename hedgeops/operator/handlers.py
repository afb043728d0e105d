"""kopf wiring: start-up builds the process from the composition root (runtime/app.py); one timer per kind hands
its object to that kind's reconciler, which decides itself whether it is due; indexes keep policies, halts and
position claims current from the watches. No decision is made here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import aiohttp.web
import kopf
from pydantic import BaseModel, ValidationError

from hedgeops import GROUP, VERSION
from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.common import Condition
from hedgeops.api.funding import FundingArbitrage
from hedgeops.api.marketmaker import MarketMaker
from hedgeops.engine.common.claims import Claim, Holder, book_claims, carry_claims, maker_claims
from hedgeops.engine.common.conditions import set_condition
from hedgeops.engine.common.controls import APPROVE, RESET_BREAKER, controls_from, mistyped_controls
from hedgeops.operator import objects
from hedgeops.operator.gateway import book_gateway, operator_login, secret_reader
from hedgeops.operator.ha import KubeLeaseApi, LeaderElector, leader_gauge
from hedgeops.operator.halts import halt_in_force
from hedgeops.operator.ratelimit import parse_networks
from hedgeops.operator.settings import OperatorSettings
from hedgeops.operator.webhook import serve, webhook_app
from hedgeops.runtime.app import App, AppConfig, build_app
from hedgeops.runtime.reconcile import Reconciler
from hedgeops.runtime.signals import SignalDesk
from hedgeops.runtime.wakeups import Wake

CLUSTER_HALT_LABEL = "hedgeops.io/halt"  # a ConfigMap carrying this label (value "true") halts every object
SETTINGS = OperatorSettings.from_env()  # read once at import: kopf fixes timer intervals at decoration
ModelT = TypeVar("ModelT", bound=BaseModel)
CLAIM_INDEXES = ("book_claims_index", "carry_claims_index", "maker_claims_index")


@dataclass
class Runtime:
    """What the handlers share, built at startup and kept in kopf's operator-level memo."""

    app: App
    # What each object's last tick left for kopf to apply (by uid): the status.lastCheck it wrote, else the
    # resourceVersion it had then. With streaming the next tick may start milliseconds later, and must not decide
    # on the status from before that patch.
    patched_at: dict[str, tuple[str, str]] = field(default_factory=dict)
    webhook: aiohttp.web.AppRunner | None = None
    elector: LeaderElector | None = None  # None: leader election off, this replica runs every cycle
    election: asyncio.Task[None] | None = None
    # "namespace/name" of every HedgeBook taking TradingView signals, from the watch (signal_books below): the
    # webhook reads only these from the API server.
    signal_books: set[str] = field(default_factory=set)
    mistyped: dict[str, frozenset[str]] = field(default_factory=dict)  # by uid: the mistyped controls warned of

    @property
    def active(self) -> bool:
        """Whether this replica may start a cycle now: it holds the operator Lease (or election is off). The
        standby's timers still tick (and its watches and indexes stay current) but return at once."""
        return self.elector is None or self.elector.leading


def app_config(settings: OperatorSettings) -> AppConfig:
    return AppConfig(owner=settings.identity, prices=settings.prices, clock="replay",
                     replay_start=settings.replay_start, replay_speed=settings.replay_speed,
                     redis_url=settings.redis_url, live_trading=settings.live_trading,
                     exchange_urls=settings.exchange_urls, lock_ttl_seconds=settings.lock_ttl_seconds,
                     max_data_age_seconds=settings.max_data_age_seconds,
                     http_holdings_allow_private=settings.http_holdings_allow_private,
                     tick_seconds=settings.tick_seconds, streaming=settings.streaming,
                     stream_min_spacing_seconds=settings.stream_min_spacing_seconds)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's standard login through the official `kubernetes` client (see gateway.operator_login)."""
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
    problems = SETTINGS.problems()
    if problems:
        raise kopf.PermanentError("; ".join(problems))  # start-up fails with the reason, before any order
    app = build_app(app_config(SETTINGS), secret_reader=secret_reader(settings, logger))
    port = app.metrics.serve(SETTINGS.metrics_port, SETTINGS.metrics_addr)
    runtime = memo.runtime = Runtime(app)
    if SETTINGS.leader_election:
        await _elect(runtime, settings, logger)
    webhook = "off"
    if SETTINGS.webhook_port is not None:
        desk = SignalDesk(*book_gateway(settings, logger), secret_reader(settings, logger), app.seen_signals,
                          app.services.journal, app.metrics,
                          known=lambda namespace, name: f"{namespace}/{name}" in runtime.signal_books)
        web = webhook_app(desk, app.clock.now, trusted_proxies=parse_networks(SETTINGS.webhook_trusted_proxies))
        runtime.webhook, bound = await serve(web, SETTINGS.webhook_addr, SETTINGS.webhook_port)
        webhook = f":{bound}"
    logger.info("hedgeops operator %s: metrics on :%s, webhook %s, locks %s, %s, live trading %s, %s",
                SETTINGS.identity, port, webhook, "redis" if app.redis else "in-memory", app.describe,
                "ON" if SETTINGS.live_trading else "off",
                f"cycles only while holding Lease {SETTINGS.namespace}/{SETTINGS.lease_name}"
                if runtime.elector else "no leader election")


async def _elect(runtime: Runtime, settings: kopf.OperatorSettings,
                 logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Join the election: a try every retry period in the background, the first as soon as kopf has logged in (it
    logs in after the start-up handlers, so none can be awaited here; the timers return until the Lease is held).
    The webhook is not gated: it only records a signal (Redis, the book's status), which either replica may do."""
    timing = SETTINGS.lease_timing
    gauge = leader_gauge(runtime.app.metrics.registry)
    api = KubeLeaseApi(settings, logger, SETTINGS.namespace, SETTINGS.lease_name,
                       timeout_s=min(5.0, timing.renew_deadline / 2))
    runtime.elector = LeaderElector(api, SETTINGS.identity, timing, logger=logger,
                                    on_change=lambda leading: _leading(runtime, gauge, leading))
    runtime.election = asyncio.create_task(runtime.elector.run(), name="hedgeops-leader-election")


def _leading(runtime: Runtime, gauge: Any, leading: bool) -> None:
    gauge.set(int(leading))
    if not leading:  # the new leader exports them now; ours would stay frozen
        runtime.app.metrics.forget_objects()


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None:
        return
    if runtime.election is not None:
        runtime.election.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.election
    if runtime.elector is not None:
        await runtime.elector.release()  # the standby takes over at its next try, not after the lease runs out
    if runtime.webhook is not None:
        await runtime.webhook.cleanup()
    await runtime.app.close()


@kopf.index(GROUP, VERSION, "rebalancepolicies")
def policy_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str | None, str], Any]:
    """(namespace, name) → policy body, kept current from the watch: no API call per book cycle."""
    return {(namespace, name): dict(body)}


@kopf.index("v1", "configmaps", labels={CLUSTER_HALT_LABEL: "true"})
def cluster_halt_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[str | None, str]:
    """ConfigMaps labelled hedgeops.io/halt=true, by namespace. One in the operator's own namespace
    (HEDGEOPS_NAMESPACE) halts every object: the cluster-wide kill switch. One in a tenant's namespace halts
    that namespace's objects only: a tenant can stop itself, never the others."""
    reason = str((body.get("data") or {}).get("reason") or "")
    scope = "cluster-wide" if namespace == SETTINGS.namespace else f"namespace {namespace}"
    return {namespace: f"{scope} halt by ConfigMap {namespace}/{name}" + (f": {reason}" if reason else "")}


@kopf.index(GROUP, VERSION, "hedgebooks")
def book_claims_index(body: kopf.Body, **_: Any) -> dict[Claim, Holder]:
    return objects.claims_of(HedgeBook, body, book_claims)


@kopf.index(GROUP, VERSION, "fundingarbitrages")
def carry_claims_index(body: kopf.Body, **_: Any) -> dict[Claim, Holder]:
    return objects.claims_of(FundingArbitrage, body, carry_claims)


@kopf.index(GROUP, VERSION, "marketmakers")
def maker_claims_index(body: kopf.Body, **_: Any) -> dict[Claim, Holder]:
    return objects.claims_of(MarketMaker, body, maker_claims)


STREAM_TIMER_INTERVAL = 0.01  # with streaming, kopf's own sleep between ticks; the wait is in the handler (_turn)
CATCH_UP_S = 2.0  # the longest a tick waits for the watch to bring its previous patch back
SKIP = "\0skip"  # _turn's word for a tick that must not run (its previous write has not come back)


def timer_interval(settings: OperatorSettings) -> float:
    """kopf's timer interval: the tick itself, or (streaming) next to nothing, each tick waiting in `_turn` for its
    tick or an earlier stream trigger."""
    return STREAM_TIMER_INTERVAL if settings.streaming else settings.tick_seconds


async def _turn(runtime: Runtime, kind: str, body: kopf.Body, stopped: Any) -> str | None:
    """With streaming on: wait for this object's next tick, or less if a stream trigger wakes it; then, if its last
    tick left a patch, until the (live) body has moved past the version it had then, so the cycle decides on the
    status it wrote. Returns the trigger's reason (None: an ordinary tick, or streaming off)."""
    wakeups = runtime.app.wakeups
    if wakeups is None:
        return None
    meta = body.get("metadata") or {}
    key = f"{kind}/{meta.get('namespace')}/{meta.get('name')}"
    woken = await wakeups.wait(key, SETTINGS.tick_seconds, stopped.wait if stopped is not None else None)
    uid = str(meta.get("uid"))
    left = runtime.patched_at.pop(uid, None)
    if left is not None and not await _caught_up(body, left):
        # The watch has not brought the last write back (kopf's patch failed, or the API server is slow): this tick
        # is skipped rather than decided on the status from before it; the next one goes ahead either way.
        if woken is not None:
            wakeups.wake(key, Wake(False, woken))
        return SKIP
    return woken


async def _caught_up(body: kopf.Body, left: tuple[str, str]) -> bool:
    """Whether the live body holds the last tick's write: its status.lastCheck (every kind's cycle writes it), or
    for a patch without one, any resourceVersion past the one it had (an unrelated change also passes that)."""
    field_name, value = left
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CATCH_UP_S
    while loop.time() < deadline:
        if field_name == "lastCheck":
            if str((body.get("status") or {}).get("lastCheck")) == value:
                return True
        elif str((body.get("metadata") or {}).get("resourceVersion")) != value:
            return True
        await asyncio.sleep(0.005)
    return False


async def _reconcile(model: type[ModelT], claims: Callable[[ModelT], set[Claim]],
                     pick: Callable[[App], Reconciler[Any, Any, Any]], body: kopf.Body, patch: kopf.Patch,
                     memo: Any, kwargs: Mapping[str, Any], inputs: Callable[[ModelT], Any] | None = None) -> None:
    """One tick of one object, the same for every kind: (streaming: its turn) parse, ownership, controls, the
    kind's reconciler (which decides whether anything is due), one-shot controls consumed, shared positions,
    status and events."""
    runtime: Runtime = memo.runtime
    woken = await _turn(runtime, str(body.get("kind")), body, kwargs.get("stopped"))
    if woken is SKIP:
        return
    await _tick(model, claims, pick, body, patch, memo, kwargs, inputs, woken)
    if patch and runtime.app.wakeups is not None:  # kopf applies it after this returns: the next tick waits for it
        meta = body.get("metadata") or {}
        written = (patch.get("status") or {}).get("lastCheck")
        runtime.patched_at[str(meta.get("uid"))] = ("lastCheck", str(written)) if written is not None else (
            "resourceVersion", str(meta.get("resourceVersion")))


async def _tick(model: type[ModelT], claims: Callable[[ModelT], set[Claim]],
                pick: Callable[[App], Reconciler[Any, Any, Any]], body: kopf.Body, patch: kopf.Patch,
                memo: Any, kwargs: Mapping[str, Any], inputs: Callable[[ModelT], Any] | None,
                woken: str | None) -> None:
    runtime: Runtime = memo.runtime
    if not runtime.active or (body.get("metadata") or {}).get("deletionTimestamp"):
        return  # not leading, or the object is going: its finalizer cancels its orders (finalize)
    app, now = runtime.app, runtime.app.clock.now()
    obj = objects.parse(model, body, patch, memo, now)
    if obj is None:
        return
    kind = str(body.get("kind"))
    indexes = [kwargs[n] for n in CLAIM_INDEXES]
    mine = claims(obj)
    own = objects.ownership_of(body, mine, indexes)
    if own.refused:
        objects.refuse_shared(app.metrics, body, patch, mine, own, kind, now)
        pick(app).forget(obj)  # trades at the first tick after the owner lets go
        return
    meta = body.get("metadata") or {}
    controls = controls_from(meta.get("annotations"), halt_in_force(meta, kwargs["cluster_halt_index"],
                                                                   SETTINGS.namespace))
    warn_mistyped(runtime, body)
    old = getattr(obj, "status", None)
    outcome = await pick(app).reconcile(obj, now, controls, inputs(obj) if inputs else None, woken)
    if outcome.changed and outcome.acted:
        for key, asked in ((APPROVE, controls.approval), (RESET_BREAKER, controls.reset_breaker)):
            if asked:  # one-shot: consumed by the step that saw it (executed, or refused with an event); a cycle
                patch.metadata.setdefault("annotations", {})[key] = None  # that failed before keeps it for its retry
    # Who shares this object's positions is kept current on every tick, a cycle or not (a newer object may claim
    # one of them at any time); the status is written only when it differs.
    mine = claims(obj.model_copy(update={"status": outcome.status}))  # autoSelect may have picked pairs
    status = objects.with_shared(app.metrics, body, mine, objects.ownership_of(body, mine, indexes),
                                 outcome.status, kind, now, outcome.events)
    objects.report(body, patch, old, status, outcome.events)


def warn_mistyped(runtime: Runtime, body: kopf.Body) -> None:
    """A Warning event when an annotation looks like a control but is none (`hedgeops.io/hallt`): it does
    nothing, and whoever set it believes the object halted. Once per object per set of such keys."""
    meta = body.get("metadata") or {}
    typos = mistyped_controls(meta.get("annotations"))
    uid = str(meta.get("uid"))
    if frozenset(typos) == runtime.mistyped.get(uid, frozenset()):
        return
    runtime.mistyped[uid] = frozenset(typos)
    if typos:
        kopf.warn(body, reason="UnknownAnnotation", message="; ".join(
            f"{key} is not a control and does nothing: did you mean {meant}?" for key, meant in sorted(typos.items())))


def _policy_of(index: Mapping[Any, Any]) -> Callable[[HedgeBook], RebalancePolicy | None]:
    def lookup(book: HedgeBook) -> RebalancePolicy | None:
        for body in index.get((book.metadata.namespace, book.spec.policyRef.name), []):
            try:
                return RebalancePolicy.model_validate(body)
            except ValidationError:
                return None
        return None
    return lookup


@kopf.timer(GROUP, VERSION, "hedgebooks", interval=timer_interval(SETTINGS), initial_delay=0.1, idle=None)
async def hedgebook_timer(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
    """A HedgeBook, on its policy's checkIntervalSeconds (at once when its spec, policy, signal or controls
    change)."""
    await _reconcile(HedgeBook, book_claims, lambda app: app.hedgebooks, body, patch, memo, kwargs,
                     _policy_of(kwargs["policy_index"]))


@kopf.timer(GROUP, VERSION, "fundingarbitrages", interval=timer_interval(SETTINGS), initial_delay=0.1, idle=None)
async def funding_timer(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
    """Seed 004's scheduler for a FundingArbitrage: the reconciler decides which of scan / risk / settle / watch
    are due on this tick (nothing due: no exchange call)."""
    await _reconcile(FundingArbitrage, carry_claims, lambda app: app.fundingarbitrages, body, patch, memo, kwargs)


@kopf.timer(GROUP, VERSION, "marketmakers", interval=timer_interval(SETTINGS), initial_delay=0.1, idle=None)
async def marketmaker_timer(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
    """Seed 003's loop for a MarketMaker: quotes refreshed every spec.intervalSeconds, cancelled at once on a
    halt, stopped for good after durationSeconds (condition Finished)."""
    await _reconcile(MarketMaker, maker_claims, lambda app: app.marketmakers, body, patch, memo, kwargs)


FINALIZE_RETRY_S = 5.0  # a deletion whose orders could not be cancelled yet (exchange down, lock busy) retries
KINDS: dict[str, tuple[type[BaseModel], Callable[[App], Reconciler[Any, Any, Any]]]] = {
    "HedgeBook": (HedgeBook, lambda app: app.hedgebooks),
    "FundingArbitrage": (FundingArbitrage, lambda app: app.fundingarbitrages),
    "MarketMaker": (MarketMaker, lambda app: app.marketmakers)}


@kopf.on.delete(GROUP, VERSION, "hedgebooks")
@kopf.on.delete(GROUP, VERSION, "fundingarbitrages")
@kopf.on.delete(GROUP, VERSION, "marketmakers")
async def finalize(body: kopf.Body, memo: Any, logger: Any, **_: Any) -> None:
    """A deleted object's finalizer: its resting orders are cancelled before it goes (runtime/teardown.py), then
    its series, schedule and triggers leave with it. Before this, a deleted MarketMaker's quotes kept filling with
    no stop-loss watching them, and a deleted book's maker order kept resting.

    Not cancelled yet for a reason that passes (the exchange or Redis down, the account locked, this replica
    standing by): the deletion waits and retries every FINALIZE_RETRY_S. One that cannot pass (the spec does not
    parse, so its account is unknown; an unreadable intent): a Warning event says what may still rest, and the
    object goes. Positions are never touched: close-all first to flatten."""
    runtime: Runtime = memo.runtime
    meta = body.get("metadata") or {}
    kind, namespace, name = str(body.get("kind")), str(meta.get("namespace", "")), str(meta.get("name", ""))
    if not runtime.active:  # the leader's venues hold the orders (a paper venue lives in its process)
        raise kopf.TemporaryError("standing by: the leader cancels the object's resting orders",
                                  delay=FINALIZE_RETRY_S)
    app = runtime.app
    model, pick = KINDS[kind]
    try:
        obj = model.model_validate(dict(body))
    except ValidationError:
        try:  # a status this version does not read (an edited one, an older version's): the intent still counts
            obj = model.model_validate({k: v for k, v in body.items() if k != "status"})
        except ValidationError as exc:
            obj = None
            kopf.warn(body, reason="OrdersNotCancelled", message="the spec does not parse, so the account it "
                      "traded is unknown: any order it left resting was not cancelled "
                      f"({objects.validation_message(exc)})")
        else:
            kopf.warn(body, reason="StatusUnreadable", message="the status does not parse: the orders it lists "
                      "are not known here; only those of the newest write-ahead intent are cancelled")
    if obj is not None:
        result = await pick(app).teardown(obj, app.clock.now())
        if result.retry:
            assert result.failure is not None
            reason, message = result.failure[:2]
            raise kopf.TemporaryError(f"resting orders not cancelled yet ({reason}: {message}); retrying",
                                      delay=FINALIZE_RETRY_S)
        if result.failure is not None:
            reason, message = result.failure[:2]
            kopf.warn(body, reason="OrdersNotCancelled", message=f"{reason}: {message}; check the account "
                      "for orders it may have left resting")
        elif result.cancelled:
            kopf.event(body, type="Normal", reason="OrdersCancelled", message=f"{len(result.cancelled)} resting "
                       f"order(s) cancelled before deletion: {', '.join(sorted(result.cancelled))}")
    removed = forget_deleted(runtime, body)
    logger.info(f"{kind} {namespace}/{name} deleted: {removed} metric series removed")


def forget_deleted(runtime: Runtime, body: Mapping[str, Any]) -> int:
    """A deleted object's series, probe, wake-ups and last patch leave with it (a Degraded book deleted would
    otherwise page until a restart). Returns the series removed."""
    meta = body.get("metadata") or {}
    kind, namespace, name = str(body.get("kind")), str(meta.get("namespace", "")), str(meta.get("name", ""))
    app = runtime.app
    removed = app.metrics.forget(kind, namespace, name)
    key = f"{kind}/{namespace}/{name}"
    if app.services.triggers is not None:  # its probe first: else the next update would wake the slot again
        app.services.triggers.forget(key)
    if app.wakeups is not None:
        app.wakeups.forget(key)
    runtime.patched_at.pop(str(meta.get("uid")), None)
    runtime.mistyped.pop(str(meta.get("uid")), None)
    return removed


@kopf.on.event(GROUP, VERSION, "hedgebooks")
def signal_books(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
    """Which books take TradingView signals, kept from the watch: the webhook refuses any other name without an
    API read (a stranger spraying names cost one API call each, and a 403 from a namespace the operator may not
    read told them its service account)."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        track_signal_book(runtime.signal_books, event)


def track_signal_book(books: set[str], event: Mapping[str, Any]) -> None:
    body = event.get("object") or {}
    meta = body.get("metadata") or {}
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    tv = ((body.get("spec") or {}).get("signals") or {}).get("tradingView") or {}
    if event.get("type") != "DELETED" and tv.get("enabled") is True and tv.get("secretRef"):
        books.add(key)
    else:
        books.discard(key)


@kopf.on.resume(GROUP, VERSION, "rebalancepolicies")
@kopf.on.create(GROUP, VERSION, "rebalancepolicies")
@kopf.on.update(GROUP, VERSION, "rebalancepolicies")
def validate_policy(body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, **_: Any) -> None:
    """A policy that fails the models (e.g. applied without the CRD's CEL rules) is marked not Ready."""
    now = datetime.now().astimezone()
    conditions = [Condition.model_validate(c) for c in (status.get("conditions", []) if status else [])]
    try:
        RebalancePolicy.model_validate(dict(body))
        ok, reason, message = True, "Valid", ""
    except ValidationError as exc:
        ok, reason, message = False, "InvalidSpec", objects.validation_message(exc)
        kopf.warn(body, reason=reason, message=message)
    conds = set_condition(conditions, "Ready", ok, reason, message, now, meta.get("generation"))
    patch.status["observedGeneration"] = meta.get("generation")
    patch.status["conditions"] = [c.model_dump(mode="json", exclude_none=True) for c in conds]

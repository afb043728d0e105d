"""kopf handlers: RebalancePolicy validation and lookup; HedgeBook reconciled on its policy's interval."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import kopf
import redis.asyncio as aioredis
from pydantic import ValidationError

from hedgeops import GROUP, VERSION
from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.common import Condition
from hedgeops.api.hedgebook import HedgeBookStatus
from hedgeops.exchange.replay import MarketReplay
from hedgeops.operator.settings import OperatorSettings
from hedgeops.runtime.clock import ReplayClock
from hedgeops.runtime.conditions import set_condition
from hedgeops.runtime.hedgebook import HedgeBookReconciler, Services
from hedgeops.runtime.journal import InMemoryJournal, Journal, RedisJournal
from hedgeops.runtime.locks import AccountLocks, InMemoryLocks, RedisLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import PaperVenues

HALT = "hedgeops.io/halt"
SETTINGS = OperatorSettings.from_env()  # read once at import: kopf fixes timer intervals at decoration


@dataclass
class Runtime:
    """What the handlers share, built at startup and kept in kopf's operator-level memo."""

    clock: ReplayClock
    reconciler: HedgeBookReconciler
    metrics: Metrics
    venues: PaperVenues
    redis: aioredis.Redis | None


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())[:1000]


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: the service account. Elsewhere: $KUBECONFIG or ~/.kube/config. No client library needed."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any,
                  logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    settings.posting.level = logging.WARNING  # kopf's own log lines are not events; ours are posted explicitly
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="hedgeops.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="hedgeops.io")
    settings.watching.server_timeout = 300
    settings.scanning.disabled = True
    metrics = Metrics()
    port = metrics.serve(SETTINGS.metrics_port, SETTINGS.metrics_addr)
    redis_client = aioredis.Redis.from_url(SETTINGS.redis_url) if SETTINGS.redis_url else None
    locks: AccountLocks = RedisLocks(redis_client) if redis_client else InMemoryLocks()
    journal: Journal = RedisJournal(redis_client) if redis_client else InMemoryJournal()
    replay = MarketReplay()
    start = SETTINGS.replay_start or replay.common_window(MarketReplay.symbols())[0]
    clock = ReplayClock(start, SETTINGS.replay_speed)
    venues = PaperVenues(clock.now, replay)
    reconciler = HedgeBookReconciler(Services(venues, locks, journal, metrics, owner=SETTINGS.identity))
    memo.runtime = Runtime(clock, reconciler, metrics, venues, redis_client)
    logger.info("hedgeops operator %s: metrics on :%s, locks %s, paper replay from %s at %sx",
                SETTINGS.identity, port, "redis" if redis_client else "in-memory", start.isoformat(),
                SETTINGS.replay_speed)


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.venues.close()
        if runtime.redis is not None:
            await runtime.redis.aclose()


@kopf.index(GROUP, VERSION, "rebalancepolicies")
def policy_index(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str | None, str], Any]:
    """(namespace, name) → policy body, kept current from the watch: no API call per book cycle."""
    return {(namespace, name): dict(body)}


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
    policy_index: kopf.Index = kwargs["policy_index"]  # type: ignore[type-arg]  # injected by name by kopf
    now = runtime.clock.now()
    due: datetime | None = getattr(memo, "next_due", None)
    if due is not None and now < due and getattr(memo, "generation", None) == meta.get("generation"):
        return
    try:
        book = HedgeBook.model_validate(dict(body))
    except ValidationError as exc:
        message = _validation_message(exc)
        old = HedgeBookStatus.model_validate(dict(body.get("status") or {}))
        conds = set_condition(old.conditions, "Ready", False, "InvalidSpec", message, now, meta.get("generation"))
        patch.status["conditions"] = [c.model_dump(mode="json", exclude_none=True) for c in conds]
        patch.status["observedGeneration"] = meta.get("generation")
        kopf.warn(body, reason="InvalidSpec", message=message)
        memo.next_due, memo.generation = now + timedelta(seconds=60), meta.get("generation")
        return
    policy = _policy(policy_index, book.metadata.namespace, book.spec.policyRef.name)
    halted = (meta.get("annotations") or {}).get(HALT, "").lower() == "true"
    result = await runtime.reconciler.reconcile(book, policy, now, halted=halted)
    for key, value in result.status.model_dump(mode="json").items():
        patch.status[key] = value
    for ev in result.events:
        kopf.event(body, type=ev.type, reason=ev.reason, message=ev.message)
    interval = policy.spec.checkIntervalSeconds if policy else 60
    memo.next_due, memo.generation = now + timedelta(seconds=interval), meta.get("generation")

"""What every kind's timer does around its reconcile: parse the object (InvalidSpec once per generation), decide
who owns a shared position (one position, one owner: engine/common/claims.py, from the watches' indexes at no
API cost), and write back only what changed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import kopf
from pydantic import BaseModel, ValidationError

from hedgeops.api.common import Condition
from hedgeops.engine.common.claims import Claim, Holder, Ownership, describe, ownership, refusal
from hedgeops.engine.common.conditions import set_condition
from hedgeops.operator.status_patch import status_patch
from hedgeops.runtime.cycle import CycleEvent
from hedgeops.runtime.metrics import Metrics

ModelT = TypeVar("ModelT", bound=BaseModel)
StatusT = TypeVar("StatusT", bound=BaseModel)
WEBHOOK_OWNED = ("activeSignal",)  # the webhook's to write: a cycle's copy may be older than the one just taken


def validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())[:1000]


def claims_of(model: type[ModelT], body: kopf.Body, claims: Callable[[ModelT], set[Claim]]) -> dict[Claim, Holder]:
    """An index entry: the claims of a valid object (an invalid one trades nothing, so it owns nothing)."""
    try:
        obj = model.model_validate(dict(body))
    except ValidationError:
        return {}
    holder = holder_of(body)
    return {c: holder for c in claims(obj)}


def holder_of(body: kopf.Body) -> Holder:
    meta = body.get("metadata") or {}
    ref = f"{body.get('kind')}/{meta.get('namespace')}/{meta.get('name')}"
    return Holder(str(meta.get("creationTimestamp") or ""), str(meta.get("uid") or ""), ref)


def ownership_of(body: kopf.Body, mine: set[Claim], indexes: Iterable[Mapping[Claim, Any]]) -> Ownership:
    idx = list(indexes)
    index = {claim: [h for i in idx for h in i.get(claim, [])] for claim in mine}  # only mine: cheap
    return ownership(holder_of(body), mine, index)


def shared_conditions(metrics: Metrics, body: kopf.Body, mine: set[Claim], own: Ownership,
                      conditions: list[Condition], kind: str, now: datetime,
                      events: list[CycleEvent]) -> list[Condition]:
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
    metrics.track(kind, str(meta.get("namespace")), str(meta.get("name")),
                  str((body.get("spec") or {}).get("mode") or "Paper"))  # the spec's default mode
    metrics.shared.labels(kind, meta.get("namespace"), meta.get("name")).set(len(own.shared))
    conds = set_condition(conditions, "SharedPositions", bool(own.shared), reason, message, now,
                          meta.get("generation"))
    if own.refused:
        metrics.ready.labels(kind, meta.get("namespace"), meta.get("name")).set(0)
        conds = set_condition(conds, "Ready", False, "SharedPositions", message, now, meta.get("generation"))
    return conds


def with_shared(metrics: Metrics, body: kopf.Body, mine: set[Claim], own: Ownership, status: StatusT, kind: str,
                now: datetime, events: list[CycleEvent]) -> StatusT:
    conditions: list[Condition] = getattr(status, "conditions")  # noqa: B009  (every kind's status has them)
    return status.model_copy(update={"conditions": shared_conditions(metrics, body, mine, own, conditions, kind, now,
                                                                     events)})


def refuse_shared(metrics: Metrics, body: kopf.Body, patch: kopf.Patch, mine: set[Claim], own: Ownership,
                  kind: str, now: datetime) -> None:
    """An older object owns one of this object's positions: no cycle at all (nothing sent, nothing observed);
    the conditions say why, written only when they change (no patch per tick)."""
    meta = body.get("metadata") or {}
    old = [Condition.model_validate(c) for c in (body.get("status") or {}).get("conditions", [])]
    events: list[CycleEvent] = []
    conds = shared_conditions(metrics, body, mine, own, old, kind, now, events)
    if conds != old or events:
        patch.status["conditions"] = [c.model_dump(mode="json", exclude_none=True) for c in conds]
        patch.status["observedGeneration"] = meta.get("generation")
    post(body, events)


def mark_invalid(body: kopf.Body, patch: kopf.Patch, exc: ValidationError, now: datetime) -> None:
    """A spec the models refuse (applied without the CRD's CEL rules): Ready=False InvalidSpec, never a trade."""
    meta = body.get("metadata") or {}
    message = validation_message(exc)
    old = [Condition.model_validate(c) for c in (body.get("status") or {}).get("conditions", [])]
    conds = set_condition(old, "Ready", False, "InvalidSpec", message, now, meta.get("generation"))
    patch.status["conditions"] = [c.model_dump(mode="json", exclude_none=True) for c in conds]
    patch.status["observedGeneration"] = meta.get("generation")
    kopf.warn(body, reason="InvalidSpec", message=message)


def parse(model: type[ModelT], body: kopf.Body, patch: kopf.Patch, memo: Any, now: datetime) -> ModelT | None:
    """The object as its model, or None after marking it InvalidSpec (once per generation: no patch storm)."""
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        generation = (body.get("metadata") or {}).get("generation")
        if getattr(memo, "invalid_generation", None) != generation:
            mark_invalid(body, patch, exc, now)
            memo.invalid_generation = generation
            runtime = getattr(memo, "runtime", None)
            if runtime is not None:
                invalid_series(runtime.app.metrics, body)
        return None


def invalid_series(metrics: Metrics, body: Mapping[str, Any]) -> None:
    """An object whose spec no longer parses: what its last valid spec exported is stale (a Degraded 1 would page
    on), so it goes; Ready 0 stays, for HedgeOpsObjectNotReady."""
    meta, kind = body.get("metadata") or {}, str(body.get("kind"))
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    metrics.forget(kind, namespace, name)
    metrics.track(kind, namespace, name, str((body.get("spec") or {}).get("mode") or "Paper"))
    metrics.ready.labels(kind, namespace, name).set(0)


def report(body: kopf.Body, patch: kopf.Patch, old: BaseModel | None, new: BaseModel,
           events: list[CycleEvent]) -> None:
    """Write the status only when it changed (never the webhook's fields); post the cycle's events."""
    if new != old:
        for key, value in status_patch(new, body.get("status")).items():
            if key not in WEBHOOK_OWNED:
                patch.status[key] = value
    post(body, events)


def post(body: kopf.Body, events: list[CycleEvent]) -> None:
    for ev in events:
        kopf.event(body, type=ev.type, reason=ev.reason, message=ev.message)

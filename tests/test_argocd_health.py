"""Argo CD's health check for the HedgeOps kinds, run under real Lua (lupa) as Argo CD runs it (a global `obj`,
a returned table), on statuses the runtime itself produced: a renamed condition or field would show here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import lupa
import yaml

from hedgeops.api import HedgeBook
from hedgeops.engine.common.conditions import set_condition

from .conftest import ROOT
from .runtime_fixtures import book, controls, policy, rig

SCRIPT = (ROOT / "manifests" / "argocd" / "health.lua").read_text()


def health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(SCRIPT)
    return str(hs["status"]), str(hs["message"])


def as_object(b: HedgeBook) -> dict[str, Any]:
    """The object as Argo CD sees it in the cluster (JSON, camelCase, no Python types)."""
    return b.model_dump(mode="json", exclude_none=True)


async def cycled(b: HedgeBook, **kw: Any) -> HedgeBook:
    r = rig()
    result = await r.reconciler.reconcile(b, r.clock.now(), inputs=kw.pop("pol", policy()), controls=controls(**kw))
    return b.model_copy(update={"status": result.status})


async def test_a_reconciled_book_is_healthy_and_a_new_one_progressing() -> None:
    assert health(as_object(book()))[0] == "Progressing"
    done = await cycled(book())
    status, message = health(as_object(done))
    assert status == "Healthy" and message.startswith("Reconciled")
    # The spec changed in git and the operator has not run on it yet: Argo CD waits instead of calling it synced.
    edited = as_object(done)
    edited["metadata"]["generation"] = 2
    assert health(edited) == ("Progressing", "spec generation 2 not reconciled yet")


async def test_halted_and_awaiting_approval_are_suspended() -> None:
    halted = await cycled(book(), halted=True)
    status, message = health(as_object(halted))
    assert status == "Suspended" and message.startswith("halted: HaltAnnotation")
    waiting = await cycled(book(), pol=policy(approval="Manual", approvalTtlSeconds=600))
    assert waiting.status is not None and waiting.status.pendingPlan is not None
    status, message = health(as_object(waiting))
    assert status == "Suspended" and message.startswith("PlanProposed")


async def test_missing_policy_and_degraded_books_are_degraded() -> None:
    r = rig()
    orphan = book().model_copy(update={"status": (await r.reconciler.reconcile(book(), r.clock.now())).status})
    status, message = health(as_object(orphan))
    assert status == "Degraded" and message.startswith("PolicyNotFound")
    done = await cycled(book())
    assert done.status is not None
    now = done.status.conditions[0].lastTransitionTime + timedelta(minutes=1)  # type: ignore[operator]
    conds = set_condition(done.status.conditions, "Ready", False, "LockStoreUnavailable", "redis: connection refused",
                          now, 1)
    conds = set_condition(conds, "Degraded", True, "LockStoreUnavailable", "redis: connection refused", now, 1)
    broken = done.model_copy(update={"status": done.status.model_copy(update={"conditions": conds})})
    assert health(as_object(broken)) == ("Degraded", "LockStoreUnavailable: redis: connection refused")


def test_policy_breaker_and_finished_market_maker() -> None:
    def obj(*conds: tuple[str, str, str]) -> dict[str, Any]:
        return {"metadata": {"generation": 3}, "status": {"conditions": [
            {"type": t, "status": s, "reason": r, "message": "", "observedGeneration": 3} for t, s, r in conds]}}

    tripped = obj(("Ready", "True", "Reconciled"), ("BreakerTripped", "True", "LossLimit"))
    assert health(tripped) == ("Degraded", "circuit breaker: LossLimit")
    finished = obj(("Ready", "True", "Stopped"), ("Finished", "True", "DurationElapsed"))
    assert health(finished) == ("Healthy", "DurationElapsed")
    shared = obj(("Ready", "True", "Reconciled"), ("SharedPositions", "True", "SharedWithOthers"))
    assert health(shared) == ("Degraded", "SharedWithOthers")  # its exposure figures are wrong
    assert health(obj(("Ready", "True", "Valid"))) == ("Healthy", "Valid")  # a RebalancePolicy
    assert health(obj(("Ready", "False", "Invalid"))) == ("Degraded", "Invalid")


def test_argocd_configmap_registers_the_script_for_every_kind() -> None:
    cm = yaml.safe_load((ROOT / "manifests" / "argocd" / "argocd-cm-health.yaml").read_text())
    keys = {f"resource.customizations.health.hedgeops.io_{k}"
            for k in ("HedgeBook", "RebalancePolicy", "FundingArbitrage", "MarketMaker")}
    assert set(cm["data"]) == keys and all(v == SCRIPT for v in cm["data"].values())

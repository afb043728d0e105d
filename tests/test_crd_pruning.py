"""Nothing the runtime writes into status is pruned by a real API server: real statuses (every kind, the phases that
carry the most fields) round-trip through structural pruning against the generated CRDs unchanged, and validate
against them (the API server validates every /status write, bounds included)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from pydantic import BaseModel

from hedgeops.api import KINDS, HedgeBook
from hedgeops.api.crd import crd_for
from hedgeops.api.pruning import prune, prune_object
from hedgeops.engine.hedge.signals import Priority, Signal, signal_to_status

from .conftest import ROOT
from .runtime_fixtures import Rig, book, controls, policy, rig
from .test_runtime_allocation import alloc_book, alloc_policy
from .test_runtime_carry import Carry
from .test_runtime_marketmaker import MM

D = Decimal
MANUAL = {"approval": "Manual", "approvalTtlSeconds": 600}


def _status_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _merge_patched(patch: Any) -> Any:
    """The status a JSON merge patch (RFC 7386, what kopf sends) makes of an empty one: a null in an object
    deletes its field; a list is taken as it is."""
    if isinstance(patch, dict):
        return {k: _merge_patched(v) for k, v in patch.items() if v is not None}
    return patch


def _assert_kept(kind: str, status: BaseModel) -> None:
    sent = _merge_patched(status.model_dump(mode="json"))  # exactly what the operator patches into status
    schema = _status_schema(crd_for(KINDS[kind]))
    stored = prune(sent, schema)
    # Nothing dropped but nulls (which read as the absent field they become) ...
    assert _without_nulls(stored) == _without_nulls(sent)
    # ... valid as the API server validates every /status write (types and bounds) ...
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in OAS30Validator(schema).iter_errors(stored)]
    assert errors == []
    # ... and read back by the runtime as the status it wrote.
    assert type(status).model_validate(stored) == type(status).model_validate(sent)


async def _step(r: Rig, b: HedgeBook, pol: Any = None, **kw: Any) -> HedgeBook:
    result = await r.reconciler.reconcile(b, r.clock.now(), controls(**kw), pol or policy())
    return b.model_copy(update={"status": result.status})


def _with_signal(b: HedgeBook, signal: Signal) -> HedgeBook:
    assert b.status is not None
    return b.model_copy(update={"status": b.status.model_copy(update={"activeSignal": signal_to_status(signal)})})


async def _hedge_book_statuses() -> list[BaseModel]:
    """A Hedge book: proposed plan with a signal in force; then approved, its maker order working."""
    r = rig()
    b = await _step(r, book())  # hedged at once (emergency, taker)
    holdings = b.spec.holdings.model_copy(update={"static": {"SOL": D(104), "ETH": D(3)}})
    b = b.model_copy(update={"spec": b.spec.model_copy(update={"holdings": holdings})})
    now = r.clock.now()
    b = _with_signal(b, Signal("tv-1", now, now + timedelta(hours=2), Priority.HIGH, {}, D(1)))
    r.clock.advance(300)
    manual = policy(**MANUAL)
    b = await _step(r, b, manual)
    assert b.status is not None and b.status.pendingPlan and b.status.pendingPlan["state"] == "Proposed"
    proposed = b.status
    r.clock.advance(60)
    b = await _step(r, b, manual, approval=b.status.pendingPlan["id"])
    assert b.status is not None and b.status.workingPlan is not None and b.status.activeSignal
    assert b.status.pendingPlan and b.status.pendingPlan["state"] == "Executed"
    delta = _with_signal(b, Signal("tv-2", now, now + timedelta(hours=2), Priority.NORMAL,
                                   {"SOL": D("-104.5"), "ETH": D("-3")}, None))
    assert delta.status is not None
    return [proposed, b.status, delta.status]


async def _allocation_statuses() -> list[BaseModel]:
    r = rig()
    b = await _step(r, alloc_book(), alloc_policy())
    r.clock.advance(300)
    b2 = await _step(r, b, alloc_policy(**MANUAL))
    assert b.status is not None and b.status.weights and b2.status is not None
    return [b.status, b2.status]


async def _carry_statuses() -> list[BaseModel]:
    c = Carry(rig())
    seen = [(await c.tick()).status]  # bootstrap and entry: Opening
    seen.append((await c.tick(5)).status)  # Open
    for _ in range(3):
        await c.tick(300)
    seen.append((await c.tick(300, close_all=True)).status)  # Closing
    seen.append((await c.tick(5, close_all=True)).status)  # Closed
    phases = {leg.phase.value for s in seen for leg in s.legs}
    assert {"Opening", "Open"} <= phases and phases & {"Closing", "Closed"}, phases
    return list(seen)


async def _maker_statuses() -> list[BaseModel]:
    m = MM(rig())
    first = (await m.tick()).status
    assert len(first.quotes) == 4
    later = first
    for _ in range(20):
        later = (await m.tick(60)).status
    return [first, later]


async def test_hedge_book_statuses_are_kept_whole() -> None:
    for status in await _hedge_book_statuses():
        _assert_kept("HedgeBook", status)


async def test_allocation_book_statuses_are_kept_whole() -> None:
    for status in await _allocation_statuses():
        _assert_kept("HedgeBook", status)


async def test_funding_arbitrage_statuses_are_kept_whole() -> None:
    for status in await _carry_statuses():
        _assert_kept("FundingArbitrage", status)


async def test_market_maker_statuses_are_kept_whole() -> None:
    for status in await _maker_statuses():
        _assert_kept("MarketMaker", status)


def test_policy_status_is_kept_whole() -> None:
    status = KINDS["RebalancePolicy"].model_fields["status"].annotation
    doc = {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True", "reason": "Valid",
                                                    "message": "", "lastTransitionTime": "2025-01-02T00:00:00Z"}]}
    schema = _status_schema(crd_for(KINDS["RebalancePolicy"]))
    assert status is not None and prune(doc, schema) == doc


def test_unknown_fields_are_pruned_and_free_form_ones_kept() -> None:
    """The pruner itself: what a real API server drops and keeps."""
    schema = _status_schema(crd_for(KINDS["FundingArbitrage"]))
    doc = {"phase": "Open", "typo": 1, "legs": [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT", "spotQty": 1,
                                                 "perpQty": -1, "extra": True, "machine": {"any": {"thing": 1}},
                                                 "reason": None}]}
    assert prune(doc, schema) == {"phase": "Open", "legs": [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT",
                                                            "spotQty": 1, "perpQty": -1,
                                                            "machine": {"any": {"thing": 1}}}]}
    whole = prune_object({"apiVersion": "hedgeops.io/v1alpha1", "kind": "FundingArbitrage",
                          "metadata": {"name": "x", "labels": {"a": "b"}}, "status": doc},
                         crd_for(KINDS["FundingArbitrage"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    assert whole["metadata"] == {"name": "x", "labels": {"a": "b"}}


async def test_the_old_crd_pruned_the_pending_plan_and_the_signal() -> None:
    """At a500806 pendingPlan and activeSignal were objects without properties: stored as {}."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history")
    shown = subprocess.run(["git", "-C", str(ROOT), "show", "a500806:crds/hedgebooks.hedgeops.io.yaml"],
                           capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        pytest.skip("commit a500806 is not in this clone")
    schema = _status_schema(yaml.safe_load(shown.stdout))
    status = (await _hedge_book_statuses())[1]
    stored = prune(status.model_dump(mode="json"), schema)
    assert stored["pendingPlan"] == {} and stored["activeSignal"] == {}

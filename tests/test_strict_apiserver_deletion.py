"""Deletion on the strict test API server (tests/kube_emulator.py) as kube-apiserver does it for a custom resource
(generic registry store.go Delete / markAsDeleting / Update -> deleteWithoutFinalizers, rest.BeforeUpdate, and
ValidateObjectMetaAccessorUpdate): a DELETE with finalizers marks the object once (deletionTimestamp, grace 0,
generation + 1); a marked object takes no new finalizer (422); its last finalizer's removal is one DELETED event;
deletionTimestamp and deletionGracePeriodSeconds are the server's, not a client's."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml

from .kube_emulator import ClusterEmulator
from .test_strict_apiserver import JSON_PATCH, MERGE, WIDGET_CRD, WIDGETS, call, widget

FORBIDDEN_MESSAGE = ('Widget.test.hedgeops.io "w" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
                     'added if the object is being deleted, found new finalizers []string{"test/late"}')


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[ClusterEmulator]:
    """A strict emulator serving only the test Widget CRD."""
    (tmp_path / "widgets.yaml").write_text(yaml.safe_dump(WIDGET_CRD))
    emulator = ClusterEmulator()
    async with emulator, kmock.Server(emulator):
        emulator.declare_crds(tmp_path)
        yield emulator


@contextlib.asynccontextmanager
async def watching(kube: ClusterEmulator) -> AsyncIterator[list[dict[str, Any]]]:
    """The events a watch of the widgets sees after the objects listed when it starts (their ADDED left out)."""
    events: list[dict[str, Any]] = []
    listed = asyncio.Event()

    async def read() -> None:
        async with kube.get(f"{WIDGETS}?watch=true") as resp:
            while line := await resp.content.readline():
                event = json.loads(line)
                if event["type"] == "ADDED" and not listed.is_set():
                    listed.set()
                    continue
                events.append(event)

    task = asyncio.create_task(read())
    await asyncio.wait_for(listed.wait(), 5)
    await asyncio.sleep(0.1)  # the watch goes from its listing to the event bus
    try:
        yield events
        await asyncio.sleep(0.2)  # whatever else the writes sent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def created(kube: ClusterEmulator, *finalizers: str) -> dict[str, Any]:
    body = widget()
    if finalizers:
        body["metadata"]["finalizers"] = list(finalizers)
    resp = await kube.post(WIDGETS, json=body)
    assert resp.status == 201
    obj: dict[str, Any] = await resp.json()
    return obj


async def marked(kube: ClusterEmulator, *finalizers: str) -> dict[str, Any]:
    await created(kube, *finalizers)
    code, obj = await call(kube, "DELETE", f"{WIDGETS}/w")
    assert code == 200 and obj["metadata"]["deletionTimestamp"]
    return obj


async def test_delete_with_finalizers_marks_once_and_bumps_the_generation(kube: ClusterEmulator) -> None:
    before = await created(kube, "test/keep")
    assert before["metadata"]["generation"] == 1
    async with watching(kube) as events:
        code, obj = await call(kube, "DELETE", f"{WIDGETS}/w")
    meta = obj["metadata"]
    assert code == 200 and meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
    assert meta["generation"] == 2  # markAsDeleting: SetGeneration(GetGeneration() + 1)
    assert int(meta["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert obj["spec"] == before["spec"] and meta["finalizers"] == ["test/keep"]
    assert [e["type"] for e in events] == ["MODIFIED"] and events[0]["object"] == obj

    # A second DELETE of the marked object changes nothing: no bump, no new timestamp, no write, no event.
    async with watching(kube) as events:
        code, again = await call(kube, "DELETE", f"{WIDGETS}/w")
    assert code == 200 and again == obj and events == []
    assert (await call(kube, "GET", f"{WIDGETS}/w")) == (200, obj)


async def test_delete_of_a_kept_object_asking_for_cascading_is_202(kube: ClusterEmulator) -> None:
    await created(kube, "test/keep")
    code, obj = await call(kube, "DELETE", f"{WIDGETS}/w", {"orphanDependents": False})
    assert code == 202 and obj["metadata"]["deletionTimestamp"]  # handlers/delete.go: not deleted, orphan false


async def test_delete_without_finalizers_is_one_deleted_event_and_a_status(kube: ClusterEmulator) -> None:
    before = await created(kube)
    async with watching(kube) as events:
        code, status = await call(kube, "DELETE", f"{WIDGETS}/w")
    assert code == 200
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": "w", "group": "test.hedgeops.io", "kind": "widgets",
                                  "uid": before["metadata"]["uid"]}}
    assert [e["type"] for e in events] == ["DELETED"]
    assert "deletionTimestamp" not in events[0]["object"]["metadata"]
    assert (await call(kube, "GET", f"{WIDGETS}/w"))[0] == 404


async def test_a_live_object_takes_new_finalizers(kube: ClusterEmulator) -> None:
    await created(kube, "test/keep")
    code, obj = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"finalizers": ["test/keep", "test/late"]}},
                           MERGE)
    assert code == 200 and obj["metadata"]["finalizers"] == ["test/keep", "test/late"]


@pytest.mark.parametrize("how", ["merge", "json", "put"])
async def test_no_new_finalizer_once_the_object_is_being_deleted(kube: ClusterEmulator, how: str) -> None:
    obj = await marked(kube, "test/keep")
    if how == "merge":
        code, status = await call(kube, "PATCH", f"{WIDGETS}/w",
                                  {"metadata": {"finalizers": ["test/keep", "test/late"]}}, MERGE)
    elif how == "json":
        code, status = await call(kube, "PATCH", f"{WIDGETS}/w",
                                  [{"op": "add", "path": "/metadata/finalizers/-", "value": "test/late"}], JSON_PATCH)
    else:
        obj["metadata"]["finalizers"].append("test/late")
        code, status = await call(kube, "PUT", f"{WIDGETS}/w", obj)
    assert code == 422 and status["reason"] == "Invalid"
    assert status["message"] == FORBIDDEN_MESSAGE
    assert status["details"]["causes"] == [{
        "reason": "FieldValueForbidden", "field": "metadata.finalizers",
        "message": 'Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers '
                   '[]string{"test/late"}'}]
    assert (await call(kube, "GET", f"{WIDGETS}/w"))[1]["metadata"]["finalizers"] == ["test/keep"]


async def test_a_new_finalizer_is_refused_with_the_objects_other_errors(kube: ClusterEmulator) -> None:
    await marked(kube, "test/keep")
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"finalizers": ["test/keep", "test/late"]},
                                                              "spec": {"ratio": 2}}, MERGE)
    assert code == 422
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.finalizers", "spec.ratio"]


async def test_a_marked_object_may_drop_and_reorder_its_finalizers(kube: ClusterEmulator) -> None:
    await marked(kube, "test/a", "test/b", "test/c")
    code, obj = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"finalizers": ["test/c", "test/a"]}}, MERGE)
    assert code == 200 and obj["metadata"]["finalizers"] == ["test/c", "test/a"]


@pytest.mark.parametrize("how", ["merge", "json", "put"])
async def test_removing_the_last_finalizer_is_one_deleted_event(kube: ClusterEmulator, how: str) -> None:
    await marked(kube, "test/a", "test/b")
    code, obj = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"finalizers": ["test/b"]}}, MERGE)
    assert code == 200 and obj["metadata"]["finalizers"] == ["test/b"]
    last = obj
    async with watching(kube) as events:
        if how == "merge":
            code, answer = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"finalizers": None}}, MERGE)
        elif how == "json":
            code, answer = await call(kube, "PATCH", f"{WIDGETS}/w",
                                      [{"op": "remove", "path": "/metadata/finalizers/0"}], JSON_PATCH)
        else:
            code, answer = await call(kube, "PUT", f"{WIDGETS}/w",
                                      {**last, "metadata": {**last["metadata"], "finalizers": []}})
    # The answer is the object as the request made it, never stored: the old resourceVersion.
    assert code == 200 and not answer["metadata"].get("finalizers")
    assert answer["metadata"]["resourceVersion"] == last["metadata"]["resourceVersion"]
    assert answer["metadata"]["deletionTimestamp"] == last["metadata"]["deletionTimestamp"]
    # Watchers see the deletion only: the last stored state (finalizer still listed) at a new resourceVersion.
    assert [e["type"] for e in events] == ["DELETED"]
    gone = events[0]["object"]
    assert int(gone["metadata"]["resourceVersion"]) > int(last["metadata"]["resourceVersion"])
    assert gone == {**last, "metadata": {**last["metadata"], "resourceVersion": gone["metadata"]["resourceVersion"]}}
    assert (await call(kube, "GET", f"{WIDGETS}/w"))[0] == 404


async def test_a_client_cannot_set_the_deletion_fields_of_a_live_object(kube: ClusterEmulator) -> None:
    before = await created(kube, "test/keep")
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w",
                              {"metadata": {"deletionTimestamp": "2024-05-01T12:00:00Z"}}, MERGE)
    assert code == 422 and status["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "metadata.deletionTimestamp",
        "message": "Invalid value: 2024-05-01 12:00:00 +0000 UTC: field is immutable"}]
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"deletionGracePeriodSeconds": 0}}, MERGE)
    assert code == 422 and status["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "metadata.deletionGracePeriodSeconds",
        "message": "Invalid value: 0: field is immutable"}]
    assert (await call(kube, "GET", f"{WIDGETS}/w")) == (200, before)


async def test_a_marked_objects_deletion_fields_are_kept_from_a_client(kube: ClusterEmulator) -> None:
    obj = await marked(kube, "test/keep")
    meta = obj["metadata"]
    # rest.BeforeUpdate puts the old deletionTimestamp back, and the grace period when a request has none: a write
    # changing nothing else is no write at all (same resourceVersion, no event).
    async with watching(kube) as events:
        for patch in ({"deletionTimestamp": "2030-01-01T00:00:00Z"}, {"deletionTimestamp": None},
                      {"deletionGracePeriodSeconds": None}):
            code, same = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": patch}, MERGE)
            assert code == 200 and same == obj
    assert events == []
    # A PUT of the object without them keeps them, and is written for what else it changed.
    put = {**obj, "metadata": {k: v for k, v in meta.items() if not k.startswith("deletion")} | {"labels": {"a": "b"}}}
    code, after = await call(kube, "PUT", f"{WIDGETS}/w", put)
    assert code == 200 and after["metadata"]["labels"] == {"a": "b"}
    assert after["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    assert after["metadata"]["deletionGracePeriodSeconds"] == 0 and after["metadata"]["generation"] == 2
    # Another grace period is refused: it is not the request leaving it out.
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"deletionGracePeriodSeconds": 30}}, MERGE)
    assert code == 422 and [c["field"] for c in status["details"]["causes"]] == ["metadata.deletionGracePeriodSeconds"]
    assert "Invalid value: 30: field is immutable" in status["message"]

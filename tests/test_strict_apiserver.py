"""The strict test API server (tests/apiserver_strict.py, tests/crd_schema.py behind tests/kube_emulator.py) does
what kube-apiserver does on writes of a custom resource: pruning, defaulting, OpenAPI and CEL validation (422 with
causes naming the fields), transition rules, status-subresource semantics, generation, resourceVersion (409).
On the CRDs of commit a500806 it shows the two bugs of issue 14: status.pendingPlan and status.activeSignal
pruned to {}; every manifests/invalid/ file is refused naming the field its first line expects."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml

from .conftest import ROOT
from .kube_emulator import ClusterEmulator

API = "/apis/hedgeops.io/v1alpha1/namespaces/default"
WIDGETS = "/apis/test.hedgeops.io/v1/namespaces/default/widgets"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
PLURALS = {"HedgeBook": "hedgebooks", "RebalancePolicy": "rebalancepolicies", "FundingArbitrage": "fundingarbitrages",
           "MarketMaker": "marketmakers"}
OLD_CRDS = "a500806"  # the commit before issue 14: status.pendingPlan and status.activeSignal untyped

# A small CRD holding one of everything the layer emulates, independent of the HedgeOps CRDs changing.
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.hedgeops.io"},
    "spec": {"group": "test.hedgeops.io", "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "required": ["spec"], "properties": {
                               "spec": {"type": "object", "required": ["account"], "properties": {
                                   "account": {"type": "string", "maxLength": 8,
                                               "x-kubernetes-validations": [
                                                   {"rule": "self == oldSelf", "message": "account is immutable"}]},
                                   "mode": {"type": "string", "enum": ["Paper", "Live"], "default": "Paper"},
                                   "ratio": {"type": "number", "minimum": 0, "maximum": 1, "exclusiveMinimum": True},
                                   "when": {"type": "string", "format": "date-time"},
                                   "legs": {"type": "array", "maxItems": 3, "x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["asset"],
                                            "items": {"type": "object", "required": ["asset"], "properties": {
                                                "asset": {"type": "string"},
                                                "size": {"type": "integer", "default": 1,
                                                         "x-kubernetes-validations": [{
                                                             "rule": "self >= oldSelf",
                                                             "message": "a leg never shrinks"}]}}}},
                                   "tags": {"type": "array", "x-kubernetes-list-type": "set",
                                            "items": {"type": "string"}},
                                   "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                                   "x-kubernetes-validations": [
                                       {"rule": "self.mode != 'Live' || has(self.ratio)", "fieldPath": ".ratio",
                                        "message": "Live needs a ratio"}]},
                               "status": {"type": "object", "properties": {
                                   "phase": {"type": "string"}, "plan": {"type": "object"}}}}}}}]}}


@pytest.fixture
async def kube_at(tmp_path: Path) -> AsyncIterator[Callable[[Path], Any]]:
    """A strict emulator serving the CRDs of a folder (each call its own server)."""
    servers: list[Any] = []

    async def start(crds: Path) -> ClusterEmulator:
        emulator = ClusterEmulator()
        server = kmock.Server(emulator)
        await emulator.__aenter__()
        await server.__aenter__()
        servers.append((emulator, server))
        emulator.declare_crds(crds)
        return emulator

    yield start
    for emulator, server in reversed(servers):
        await server.__aexit__(None, None, None)
        await emulator.__aexit__(None, None, None)


@pytest.fixture
async def kube(kube_at: Callable[[Path], Any], tmp_path: Path) -> ClusterEmulator:
    crds = tmp_path / "crds"
    crds.mkdir()
    for path in (ROOT / "crds").glob("*.yaml"):
        (crds / path.name).write_text(path.read_text())
    (crds / "widgets.yaml").write_text(yaml.safe_dump(WIDGET_CRD))
    emulator: ClusterEmulator = await kube_at(crds)
    return emulator


async def call(kube: ClusterEmulator, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    resp = await kube.request(method, path, data=None if body is None else json.dumps(body),
                              headers={"Content-Type": "application/json", **(headers or {})})
    return resp.status, await resp.json()


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "test.hedgeops.io/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"account": "main", **spec}}


def fields(status: dict[str, Any]) -> list[str]:
    return [c["field"] for c in status["details"]["causes"]]


async def test_create_prunes_unknown_fields_defaults_and_sets_system_metadata(kube: ClusterEmulator) -> None:
    body = widget(bogus=1, legs=[{"asset": "SOL", "extra": True}], free={"anything": {"goes": 1}})
    body["metadata"]["junk"] = "x"
    body["status"] = {"phase": "Ignored"}
    resp = await kube.post(WIDGETS, json=body)
    created = await resp.json()
    assert resp.status == 201
    assert created["spec"] == {"account": "main", "mode": "Paper", "legs": [{"asset": "SOL", "size": 1}],
                               "free": {"anything": {"goes": 1}}}
    assert "status" not in created  # create cannot set status when the status subresource is on
    meta = created["metadata"]
    assert meta["generation"] == 1 and meta["uid"] and meta["resourceVersion"] and "junk" not in meta
    assert meta["namespace"] == "default" and meta["creationTimestamp"].endswith("Z")
    assert sorted(resp.headers.getall("Warning")) == [
        '299 - "unknown field \\"metadata.junk\\""', '299 - "unknown field \\"spec.bogus\\""',
        '299 - "unknown field \\"spec.legs[0].extra\\""']
    # Go stores a float64 holding an integer without its fraction: 1.0 comes back as 1, and passes as an integer.
    resp = await kube.post(WIDGETS, json={**widget(ratio=1.0, legs=[{"asset": "SOL", "size": 2.0}]),
                                          "metadata": {"name": "floats"}})
    spec = (await resp.json())["spec"]
    assert resp.status == 201 and json.dumps([spec["ratio"], spec["legs"]]) == '[1, [{"asset": "SOL", "size": 2}]]'
    strict = await kube.post(WIDGETS + "?fieldValidation=Strict", json={**widget(bogus=1), "metadata": {"name": "s"}})
    assert strict.status == 400 and 'unknown field \\"spec.bogus\\"' in json.dumps(await strict.json())


async def test_openapi_refusals_name_each_field(kube: ClusterEmulator) -> None:
    code, status = await call(kube, "POST", WIDGETS, widget(
        account="far-too-long", mode="Sim", ratio=0, when="2025-03-01T00:00:00",
        legs=[{"asset": "SOL"}, {"asset": "SOL"}, {"asset": "ETH"}, {"asset": "BTC"}], tags=["a", "a"]))
    assert code == 422 and status["reason"] == "Invalid" and status["kind"] == "Status"
    assert status["details"]["kind"] == "Widget" and status["details"]["name"] == "w"
    by_field = {c["field"]: c for c in status["details"]["causes"]}
    assert by_field["spec.account"]["reason"] == "FieldValueTooLong"
    assert by_field["spec.mode"]["reason"] == "FieldValueNotSupported"
    assert by_field["spec.ratio"]["message"] == "Invalid value: 0: spec.ratio in body should be greater than 0"
    assert by_field["spec.when"]["reason"] == "FieldValueTypeInvalid"  # date-time needs seconds and a zone
    assert by_field["spec.legs"]["reason"] == "FieldValueTooMany"
    assert by_field["spec.legs[1]"]["reason"] == "FieldValueDuplicate"  # list-type map keyed by asset
    assert by_field["spec.tags[1]"]["reason"] == "FieldValueDuplicate"  # list-type set
    # Blocking errors stop the CEL rules, and the server says so (strategy.go hasBlockingErr).
    assert "some validation rules were not checked" in status["message"]
    code, status = await call(kube, "POST", WIDGETS, {**widget(), "spec": {"mode": "Live"}})
    assert code == 422 and fields(status)[0] == "spec.account"
    code, status = await call(kube, "POST", WIDGETS, widget(mode="Live", legs=[{"asset": "SOL", "size": "big"}]))
    assert code == 422 and fields(status) == ["spec.legs[0].size", ""]
    code, status = await call(kube, "POST", WIDGETS, widget(mode="Live"))  # only the CEL rule fails
    assert code == 422 and status["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "message": 'Invalid value: "object": Live needs a ratio', "field": "spec.ratio"}]
    assert status["message"] == 'Widget.test.hedgeops.io "w" is invalid: spec.ratio: Invalid value: "object": ' \
                                'Live needs a ratio'


async def test_transition_rules_only_on_update(kube: ClusterEmulator) -> None:
    assert (await kube.post(WIDGETS, json=widget(legs=[{"asset": "SOL", "size": 5}]))).status == 201
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w", {"spec": {"account": "other"}}, MERGE)
    assert code == 422 and status["details"]["causes"][0]["field"] == "spec.account"
    assert "account is immutable" in status["message"]
    # List-type map items correlate by key: SOL's size is compared with SOL's, a new asset has no old value.
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w", {"spec": {"legs": [
        {"asset": "ETH", "size": 1}, {"asset": "SOL", "size": 4}]}}, MERGE)
    assert code == 422 and fields(status) == ["spec.legs[1].size"]
    code, _ = await call(kube, "PATCH", f"{WIDGETS}/w", {"spec": {"legs": [
        {"asset": "ETH", "size": 1}, {"asset": "SOL", "size": 6}]}}, MERGE)
    assert code == 200


async def test_status_subresource_generation_and_no_op_writes(kube: ClusterEmulator) -> None:
    created = await (await kube.post(WIDGETS, json=widget())).json()
    rv = created["metadata"]["resourceVersion"]
    # On the main resource, status is ignored; a spec change bumps the generation.
    code, obj = await call(kube, "PATCH", f"{WIDGETS}/w", {"spec": {"ratio": 0.5}, "status": {"phase": "No"}},
                           MERGE)
    assert code == 200 and "status" not in obj and obj["metadata"]["generation"] == 2
    assert obj["metadata"]["resourceVersion"] != rv
    # On /status, everything but status is ignored (metadata too) and the generation stays.
    code, obj = await call(kube, "PATCH", f"{WIDGETS}/w/status", {
        "spec": {"ratio": 0.9}, "metadata": {"labels": {"a": "b"}}, "status": {"phase": "Ready", "x": 1}}, MERGE)
    assert code == 200 and obj["spec"]["ratio"] == 0.5 and obj["status"] == {"phase": "Ready"}
    assert obj["metadata"]["generation"] == 2 and "labels" not in obj["metadata"]
    # Metadata alone never bumps the generation; system fields cannot be changed.
    code, obj = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {
        "annotations": {"a": "b"}, "generation": 9, "uid": "forged"}}, MERGE)
    assert code == 200 and obj["metadata"]["generation"] == 2 and obj["metadata"]["uid"] == created["metadata"]["uid"]
    # A write that changes nothing is not written: same resourceVersion, no watch event.
    rv = obj["metadata"]["resourceVersion"]
    code, again = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"annotations": {"a": "b"}}}, MERGE)
    assert code == 200 and again["metadata"]["resourceVersion"] == rv
    # JSON patch works on both; its failed `test` is 422; strategic merge is 415 for custom resources.
    code, obj = await call(kube, "PATCH", f"{WIDGETS}/w/status", [
        {"op": "replace", "path": "/status/phase", "value": "Done"}], JSON_PATCH)
    assert code == 200 and obj["status"]["phase"] == "Done"
    code, _ = await call(kube, "PATCH", f"{WIDGETS}/w", [{"op": "test", "path": "/spec/ratio", "value": 0.1}],
                         JSON_PATCH)
    assert code == 422
    code, _ = await call(kube, "PATCH", f"{WIDGETS}/w", {"spec": {}},
                         {"Content-Type": "application/strategic-merge-patch+json"})
    assert code == 415
    # Status is validated (and pruned) as well.
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w/status", {"status": {"phase": 3}}, MERGE)
    assert code == 422 and fields(status) == ["status.phase", ""]  # "", the note that rules were not checked


async def test_stale_resource_version_is_a_conflict(kube: ClusterEmulator) -> None:
    created = await (await kube.post(WIDGETS, json=widget())).json()
    old = created["metadata"]["resourceVersion"]
    code, fresh = await call(kube, "PATCH", f"{WIDGETS}/w", {"spec": {"ratio": 0.5}, "metadata": {
        "resourceVersion": old}}, MERGE)
    assert code == 200
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w", {"spec": {"ratio": 0.6}, "metadata": {
        "resourceVersion": old}}, MERGE)
    assert code == 409 and status["reason"] == "Conflict" and "the object has been modified" in status["message"]
    code, status = await call(kube, "PATCH", f"{WIDGETS}/w/status", {"status": {"phase": "A"}, "metadata": {
        "resourceVersion": old}}, MERGE)
    assert code == 409
    # PUT replaces the whole object and must carry the current resourceVersion.
    fresh["spec"] = {"account": "main", "mode": "Paper"}
    code, put = await call(kube, "PUT", f"{WIDGETS}/w", fresh)
    assert code == 200 and put["spec"] == {"account": "main", "mode": "Paper"} and put["metadata"]["generation"] == 3
    code, _ = await call(kube, "PUT", f"{WIDGETS}/w", fresh)
    assert code == 409
    del fresh["metadata"]["resourceVersion"]
    code, status = await call(kube, "PUT", f"{WIDGETS}/w", fresh)
    assert code == 422 and fields(status) == ["metadata.resourceVersion"]


async def test_delete_waits_for_finalizers(kube: ClusterEmulator) -> None:
    body = widget()
    body["metadata"]["finalizers"] = ["test/keep"]
    await kube.post(WIDGETS, json=body)
    code, obj = await call(kube, "DELETE", f"{WIDGETS}/w")
    assert code == 200 and obj["metadata"]["deletionTimestamp"]
    code, _ = await call(kube, "GET", f"{WIDGETS}/w")
    assert code == 200
    code, _ = await call(kube, "PATCH", f"{WIDGETS}/w", {"metadata": {"finalizers": None}}, MERGE)
    assert code == 200
    code, _ = await call(kube, "GET", f"{WIDGETS}/w")
    assert code == 404


async def test_every_invalid_manifest_is_refused_naming_its_field(kube: ClusterEmulator) -> None:
    files = sorted((ROOT / "manifests" / "invalid").glob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        expected = text.splitlines()[0].removeprefix("# expect:").strip()
        doc = yaml.safe_load(text)
        code, status = await call(kube, "POST", f"{API}/{PLURALS[doc['kind']]}", doc)
        named = fields(status) if code == 422 else []
        assert code == 422 and any(f == expected or f.startswith((expected + ".", expected + "[")) for f in named), \
            f"{path.name}: expected 422 naming {expected}, got {code} {status.get('message')}"


async def test_every_example_is_accepted_unchanged_but_for_defaults(kube: ClusterEmulator) -> None:
    for path in sorted((ROOT / "manifests" / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("apiVersion") != "hedgeops.io/v1alpha1":
                continue
            resp = await kube.post(f"{API}/{PLURALS[doc['kind']]}", json=doc)
            assert resp.status == 201, f"{path.name}: {await resp.text()}"
            assert not resp.headers.getall("Warning", []), f"{path.name}: pruned {resp.headers.getall('Warning')}"


def _crds_at(commit: str, into: Path) -> Path:
    into.mkdir()
    listed = subprocess.run(["git", "ls-tree", "--name-only", commit, "crds/"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    for name in listed:
        text = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout
        (into / Path(name).name).write_text(text)
    return into


PENDING = {"id": "3f2a9c1e-7b0d44aa", "state": "Proposed", "proposedAt": "2025-03-01T00:00:00Z",
           "expiresAt": "2025-03-01T01:00:00Z"}
SIGNAL = {"id": "tv-1", "priority": "high", "issuedAt": "2025-03-01T00:00:00Z",
          "expiresAt": "2025-03-01T01:00:00Z", "hedgeRatio": "0.5"}  # exact, as the runtime writes it


async def _write_status(kube: ClusterEmulator) -> tuple[dict[str, Any], list[str]]:
    book = yaml.safe_load((ROOT / "manifests" / "examples" / "hedgebook-spot.yaml").read_text())
    assert (await kube.post(f"{API}/hedgebooks", json=book)).status == 201
    name = book["metadata"]["name"]
    resp = await kube.patch(f"{API}/hedgebooks/{name}/status", data=json.dumps(
        {"status": {"pendingPlan": PENDING, "activeSignal": SIGNAL}}), headers=MERGE)
    assert resp.status == 200
    return (await resp.json())["status"], resp.headers.getall("Warning", [])


async def test_old_crds_wipe_the_pending_plan_and_the_signal(kube_at: Callable[[Path], Any],
                                                             tmp_path: Path) -> None:
    """Issue 14's second bug, caught: on the CRDs before the fix both fields are untyped objects, and a real API
    server prunes everything inside them; manual approval and TradingView signals would break silently."""
    kube = await kube_at(_crds_at(OLD_CRDS, tmp_path / "old"))
    status, warnings = await _write_status(kube)
    assert status["pendingPlan"] == {} and status["activeSignal"] == {}
    assert '299 - "unknown field \\"status.pendingPlan.id\\""' in warnings


async def test_current_crds_keep_the_pending_plan_and_the_signal(kube: ClusterEmulator) -> None:
    status, warnings = await _write_status(kube)
    assert not warnings
    assert PENDING.items() <= status["pendingPlan"].items() and SIGNAL.items() <= status["activeSignal"].items()


async def test_the_operators_token_gets_only_what_the_charts_rbac_grants(kube: ClusterEmulator) -> None:
    """As kube-apiserver authorises the operator's service account: with its token, what the shipped ClusterRole
    and leader-election Role grant is answered, anything else is 403 Forbidden (the test's own requests, without
    that token, are an administrator's)."""
    from .kube_emulator import OPERATOR_TOKEN

    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    assert (await kube.get(f"{API}/hedgebooks", headers=operator)).status == 200  # list: granted
    refused = await kube.get("/api/v1/namespaces/default/secrets", headers=operator)  # list Secrets: never
    assert refused.status == 403
    assert "cannot list resource \"secrets\"" in (await refused.json())["message"]
    assert (await kube.get("/api/v1/namespaces/default/secrets")).status == 200  # no token: an administrator
    put = await kube.put(f"{API}/hedgebooks/x", json={}, headers=operator)  # update: not granted (kopf patches)
    assert put.status == 403
    other = await kube.get("/apis/coordination.k8s.io/v1/namespaces/hedgeops/leases/someone-else", headers=operator)
    assert other.status == 403  # the election Role names the release's Lease only
    assert ("", "secrets", "list") in kube.used and ("hedgeops.io", "hedgebooks", "update") in kube.used


def test_a_pattern_end_is_the_very_end_as_in_go_not_before_a_trailing_newline() -> None:
    """Python's `$` matches before a final newline; the API server's RE2 does not."""
    from .crd_schema import compile_node, openapi_causes

    node = compile_node({"type": "string", "pattern": "^[A-Z0-9]{2,12}$"})
    [cause] = openapi_causes("SOL\n", node, "spec.legs[0].asset")
    assert "should match '^[A-Z0-9]{2,12}$'" in cause.message
    assert not list(openapi_causes("SOL", node, "spec.legs[0].asset"))

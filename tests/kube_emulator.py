"""The kmock Kubernetes emulator, filled in where kopf needs more than kmock 0.8 does (DESIGN §6), and strict
where the real API server is: every create, update (PUT), patch (merge, JSON) and delete of a declared custom
resource, and of its /status, goes through tests/apiserver_strict.py and tests/crd_schema.py, which read the CRDs
from their files (pruning, defaulting, OpenAPI and CEL validation with 422 and causes, status-subresource
semantics, generation, resourceVersion preconditions with 409, no write and no event when nothing changed).
Other resources (Secrets, ConfigMaps, Events, Leases) keep kmock's lenient store, with resourceVersion, uid,
generation and creationTimestamp on writes, namespace from the URL on POST, generateName, 201 on create, the
status subresource kept apart and JSON-patch with `test`. Lists carry kind/apiVersion; kmock's request history is
bounded.

Deletion of a declared custom resource is kube-apiserver's (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/
store.go, rest/update.go, and apimachinery/pkg/api/validation/objectmeta.go), see _strict_delete and DeletionRules:
- DELETE of an object with finalizers only marks it (Delete -> updateForGracefulDeletionAndFinalizers -> markAsDeleting,
  custom resources having no graceful-delete strategy): deletionTimestamp now, deletionGracePeriodSeconds 0 and
  generation + 1, one MODIFIED; a DELETE of an object already marked changes nothing (no write, no event) and answers
  200 with the object as it is. Without finalizers it goes at once: one DELETED, and the answer is a Status Success
  (finalizeDelete: the custom-resource store does not set ReturnDeletedObject).
- Once marked, no update may add a finalizer (ValidateObjectMetaAccessorUpdate -> ValidateNoNewFinalizers: 422).
- deletionTimestamp and deletionGracePeriodSeconds are the server's: rest.BeforeUpdate puts back the old
  deletionTimestamp if there is one, and the old grace period if the request has none; what a client still changed
  (a deletionTimestamp on a live object, another grace period) is 422 "field is immutable".
- An update that leaves a marked object without finalizers deletes it (Update -> ShouldDeleteDuringUpdate ->
  errEmptiedFinalizers -> deleteWithoutFinalizers): nothing is written, watchers see one DELETED carrying the last
  stored state (finalizers still listed) at a new resourceVersion (etcd3 watcher: "this sends the *old* object with
  the etcd revision for the time at which it gets deleted"), and the request is answered 200 with the object as it
  asked for it, at the old resourceVersion."""

from __future__ import annotations

import copy
import functools
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import enums, rendering

from .apiserver_strict import ApiError, StrictWrites, invalid, next_resource_version, timestamp
from .crd_schema import Cause, CustomResourceSchema

KEEP_REQUESTS = 16  # more than the requests ever in flight at once: each is matched against these
KEEP_VERSIONS = 4  # of each strictly handled object's history: nothing reads older versions, and 500 books grow it
KEEP_WARNINGS = 1000
_log = logging.getLogger(__name__)
# A test's way to have an object the CRD's current rules refuse, as one created before those rules (a CRD upgrade
# keeps existing objects; ratcheting lets them be updated): schema and CEL validation are skipped on that create.
STORED_BEFORE_RULES_HEADER = "X-Test-Stored-Before-Rules"
STORED_BEFORE_RULES = {STORED_BEFORE_RULES_HEADER: "true"}


def _apply_json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent: Any = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        if op["op"] == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op.get("value"):
                raise kmock.KubernetesError(status=422, reason="Invalid", message=f"test failed at {op['path']}")
        elif op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
    return doc


@functools.lru_cache(maxsize=32)
def _compiled(text: str) -> tuple[dict[str, Any], dict[str, CustomResourceSchema]]:
    """A CRD file and its schemas compiled, once per content: compiling every CEL rule takes about a second."""
    crd = yaml.safe_load(text)
    return crd, {s.version: s for s in CustomResourceSchema.from_crd(crd)}


def _go_time(value: Any) -> str:
    """A metav1.Time as field.Error shows it (time.Time's String): "2024-05-01 12:00:00 +0000 UTC"."""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return str(value)
    return when.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def deletion_causes(obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """The deletion rules of ValidateObjectMetaAccessorUpdate (apimachinery/pkg/api/validation/objectmeta.go), on
    the object an update would store (rest.BeforeUpdate has already put back what it restores)."""
    meta, old_meta = obj.get("metadata") or {}, old.get("metadata") or {}
    causes = []
    if old_meta.get("deletionTimestamp"):  # "Finalizers cannot be added if the object is already being deleted."
        extra = sorted(set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or []))
        if extra:  # ValidateNoNewFinalizers, the new ones as Go's %#v shows a []string
            found = "[]string{" + ", ".join(json.dumps(f) for f in extra) + "}"
            causes.append(Cause("FieldValueForbidden", "Forbidden: no new finalizers can be added if the object is "
                                f"being deleted, found new finalizers {found}", "metadata.finalizers"))
    for key, shown in (("deletionTimestamp", _go_time), ("deletionGracePeriodSeconds", str)):
        if meta.get(key) != old_meta.get(key):  # ValidateImmutableField
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {shown(meta.get(key))}: field is immutable",
                                f"metadata.{key}"))
    return causes


@dataclass
class DeletionRules(StrictWrites):
    """StrictWrites with kube-apiserver's rules on the deletion fields of an update (see the module's docstring)."""

    @staticmethod
    def _keep_system_meta(obj: dict[str, Any], current: dict[str, Any]) -> None:
        # rest.BeforeUpdate: "an update can never remove/change a deletion timestamp" (the old one is put back, when
        # there is one) and "... grace period seconds" (the old one is put back when the request has none). Anything
        # else a client set stays, for ValidateObjectMetaAccessorUpdate to refuse as immutable.
        asked = dict(obj.get("metadata") or {})
        StrictWrites._keep_system_meta(obj, current)
        meta, old = obj["metadata"], current.get("metadata") or {}
        if asked.get("deletionTimestamp") is not None and not old.get("deletionTimestamp"):
            meta["deletionTimestamp"] = asked["deletionTimestamp"]
        if asked.get("deletionGracePeriodSeconds") is not None:
            meta["deletionGracePeriodSeconds"] = asked["deletionGracePeriodSeconds"]

    def _check(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        causes = deletion_causes(obj, old) if old is not None else []
        if not causes:
            return super()._check(obj, old)
        try:
            super()._check(obj, old)
        except ApiError as exc:  # one 422 naming every field, as NewInvalid gathers them
            causes += [Cause(**c) for c in exc.details.get("causes", [])]
        raise invalid(self.schema, (obj.get("metadata") or {}).get("name", ""), causes)


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the API-server behaviour kopf relies on, strict on the declared CRDs' kinds."""

    ratcheting: bool = True  # CRDValidationRatcheting (on by default since Kubernetes 1.30)
    used: set[tuple[str, str, str]] = attrs.field(factory=set, init=False)  # (group, resource, verb) the operator used
    # what the API server would have said in Warning headers: unknown fields it pruned, per request
    warnings: list[str] = attrs.field(factory=list, init=False)
    refusals: list[str] = attrs.field(factory=list, init=False)  # every write answered with an error
    _strict: dict[str, StrictWrites] = attrs.field(factory=dict, init=False)

    def declare_crds(self, directory: Path) -> None:
        """Serve every CRD in `directory` (the files, as `kubectl apply -f` would), its schema compiled once."""
        self.resources.load_bundled()
        for path in sorted(directory.glob("*.yaml")):
            crd, schemas = _compiled(path.read_text())
            names, group = crd["spec"]["names"], crd["spec"]["group"]
            for version in crd["spec"]["versions"]:
                key = f"{group}/{version['name']}/{names['plural']}"
                self.resources[key] = kmock.ResourceInfo(
                    kind=names["kind"], singular=names["singular"], namespaced=crd["spec"]["scope"] == "Namespaced",
                    verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
                    shortnames=set(names.get("shortNames", [])), categories=set(names.get("categories", [])),
                    subresources=set(version.get("subresources", {})))
                self._strict[key] = DeletionRules(schemas[version["name"]], ratcheting=self.ratcheting)

    def _forbidden(self, request: rendering.Request) -> aiohttp.web.StreamResponse | None:
        """RBAC, as the API server authorises the operator's service account: a request with the operator's token
        (OPERATOR_TOKEN, what the operator's kubeconfig carries) is allowed only what the shipped ClusterRole and
        leader-election Role grant (manifests/install/hedgeops.yaml). Every verb used is recorded in `used`."""
        token = request.headers.get("Authorization", "")
        res = request.resource
        if token != f"Bearer {OPERATOR_TOKEN}" or res is None or not res.plural:  # discovery: allowed to all
            return None
        verb = _verb(request)
        resource = f"{res.plural}/{request.subresource}" if request.subresource else res.plural
        self.used.add((res.group, resource, verb))
        if any(res.group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
               and (not r.get("resourceNames") or request.name in r["resourceNames"]) for r in operator_rules()):
            return None
        message = (f'{res.plural}{"." + res.group if res.group else ""} is forbidden: User '
                   f'"system:serviceaccount:hedgeops:hedgeops" cannot {verb} resource "{resource}" in API group '
                   f'"{res.group}"' + (f' in the namespace "{request.namespace}"' if request.namespace else ""))
        self.refusals.append(f"{request.method.value} {request.url.path_qs}: 403 {message}")
        _log.warning("RBAC refused %s", message)
        return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                          "message": message, "reason": "Forbidden", "code": 403}, status=403)

    def _strict_for(self, request: rendering.Request) -> StrictWrites | None:
        res = request.resource
        if res is None:
            return None
        return self._strict.get(f"{res.group}/{res.version}/{res.plural}")

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        denied = self._forbidden(request)
        if denied is not None:
            return denied
        writes = self._strict_for(request)
        if writes is not None and request.method in (enums.method.POST, enums.method.PUT, enums.method.PATCH,
                                                     enums.method.DELETE) and (request.name or request.method
                                                                               == enums.method.POST):
            try:
                response = await self._strict_write(writes, request)
            except ApiError as exc:
                # kept and logged: an operator test that times out shows what the API server refused it
                refusal = f"{request.method.value} {request.url.path_qs}: {exc.code} {exc.message}"
                self.refusals.append(refusal)
                del self.refusals[:-KEEP_WARNINGS]
                # kopf's JSON patches carry a resourceVersion `test`: losing that race is routine, not a refusal
                _log.log(logging.INFO if exc.precondition else logging.WARNING, "strict API server refused %s", refusal)
                response = aiohttp.web.json_response(exc.status(), status=exc.code)
            self._forget()
            return response
        if request.resource is not None:
            try:
                self._prepare(request)
            except kmock.KubernetesError as exc:
                return await self._render_error(exc)
        response = await super()._handle(request)
        if request.action == enums.action.CREATE and response.status == 200 and not response.prepared:
            response.set_status(201)
        self._forget()
        return response

    async def _strict_write(self, writes: StrictWrites, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """Create, update, patch or delete one object as kube-apiserver would, then store it and tell watchers."""
        assert request.resource is not None
        schema = writes.schema
        async with self._lock:  # one write at a time: each is computed from the object it replaces
            if request.method == enums.method.POST:
                outcome = writes.create(request.data, request.namespace, timestamp(),
                                        validate=request.headers.get(STORED_BEFORE_RULES_HEADER) != "true")
                assert outcome.stored is not None
                meta = outcome.stored["metadata"]
                key: Any = (request.resource, meta.get("namespace"), meta.get("name"))
                self._check_strict_fields(request, outcome.pruned)
                if key in self._objects and not self._objects[key].deleted:
                    raise ApiError(409, "AlreadyExists", f'{schema.plural}.{schema.group} "{meta.get("name")}" '
                                   "already exists", {"name": meta.get("name"), "group": schema.group,
                                                      "kind": schema.plural})
                if key in self._objects:
                    self._objects[key].create(outcome.stored)
                else:
                    self._objects[key] = outcome.stored
                await self._buses[request.resource].put({"type": "ADDED", "object": outcome.stored})
                return self._answer(outcome.stored, outcome.pruned, 201)
            key = (request.resource, request.namespace, request.name)
            if key not in self._objects or self._objects[key].deleted:
                raise ApiError(404, "NotFound", f'{schema.plural}.{schema.group} "{request.name}" not found',
                               {"name": request.name, "group": schema.group, "kind": schema.plural})
            stored = self._objects[key]
            current = stored.raw  # read only: an update builds a new object, sharing what it did not change
            if request.method == enums.method.DELETE:
                return await self._strict_delete(request, key, copy.deepcopy(current))
            outcome = writes.update(current, request.data, method=request.method.value,
                                    content_type=request.headers.get("Content-Type", ""),
                                    subresource=request.subresource)
            self._check_strict_fields(request, outcome.pruned)
            if outcome.stored is None:
                return self._answer(current, outcome.pruned, 200)
            old_meta = current.get("metadata") or {}
            if (old_meta.get("deletionTimestamp") and not outcome.stored["metadata"].get("finalizers")
                    and not old_meta.get("deletionGracePeriodSeconds")):
                # store.go Update: ShouldDeleteDuringUpdate -> errEmptiedFinalizers -> deleteWithoutFinalizers. The
                # update is not written; the object is deleted as last stored, and that state (its finalizers still
                # listed) is what the DELETED event carries, at the deletion's resourceVersion. The request is
                # answered with the object it asked for ("clients are expecting an updated object if a PUT
                # succeeded"), which was never stored: the old resourceVersion.
                gone = copy.deepcopy(current)
                gone["metadata"]["resourceVersion"] = next_resource_version()
                stored.delete()
                await self._buses[request.resource].put({"type": "DELETED", "object": gone})
                asked = {**outcome.stored, "metadata": {**outcome.stored["metadata"],
                                                        "resourceVersion": old_meta.get("resourceVersion")}}
                return self._answer(asked, outcome.pruned, 200)
            stored.create(outcome.stored)
            del stored.history[:-KEEP_VERSIONS]
            await self._buses[request.resource].put({"type": "MODIFIED", "object": outcome.stored})
            return self._answer(outcome.stored, outcome.pruned, 200)

    async def _strict_delete(self, request: rendering.Request, key: Any, current: dict[str, Any]
                             ) -> aiohttp.web.StreamResponse:
        """store.go Delete, for a custom resource (no graceful-delete strategy). With finalizers the object is only
        marked: markAsDeleting bumps the generation (once: "objectMeta.GetDeletionTimestamp() == nil &&
        objectMeta.GetGeneration() > 0"), sets deletionTimestamp (markAsDeleting keeps one already set unless it is
        in the future, which no client can make it) and deletionGracePeriodSeconds 0, and answers with the object.
        Marking an object already marked changes nothing: GuaranteedUpdate writes nothing and sends no event.
        Without finalizers it is deleted at once and the answer is finalizeDelete's Status. 200 either way; 202
        only for an object kept when the request set orphanDependents false (handlers/delete.go)."""
        assert request.resource is not None
        meta = current.setdefault("metadata", {})
        options = request.data if isinstance(request.data, dict) else {}
        if meta.get("finalizers"):
            code = 202 if options.get("orphanDependents") is False else 200
            if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") == 0:
                return self._answer(current, [], code)
            if not meta.get("deletionTimestamp") and int(meta.get("generation") or 0) > 0:
                meta["generation"] = int(meta["generation"]) + 1
            meta.setdefault("deletionTimestamp", timestamp())
            meta["deletionGracePeriodSeconds"] = 0
            meta["resourceVersion"] = next_resource_version()
            self._objects[key].create(current)
            del self._objects[key].history[:-KEEP_VERSIONS]
            await self._buses[request.resource].put({"type": "MODIFIED", "object": current})
            return self._answer(current, [], code)
        meta["resourceVersion"] = next_resource_version()
        self._objects[key].delete()
        await self._buses[request.resource].put({"type": "DELETED", "object": current})
        schema = self._strict_for(request)
        assert schema is not None
        return aiohttp.web.json_response({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": meta.get("name"), "group": schema.schema.group, "kind": schema.schema.plural,
                        "uid": meta.get("uid")}}, status=200)

    def _check_strict_fields(self, request: rendering.Request, pruned: list[str]) -> None:
        """fieldValidation=Strict refuses unknown fields; the default (Warn) prunes them with a warning."""
        if pruned and request.params.get("fieldValidation") == "Strict":
            raise ApiError(400, "BadRequest", "strict decoding error: " + ", ".join(
                f'unknown field "{p}"' for p in pruned))

    def _answer(self, obj: dict[str, Any], pruned: list[str], code: int) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.json_response(obj, status=code)
        for path in pruned:
            warning = f'unknown field "{path}"'
            response.headers.add("Warning", '299 - "' + warning.replace('"', '\\"') + '"')
            self.warnings.append(warning)
            _log.warning("strict API server pruned %s", warning)  # a field the writer thinks it stored is gone
        del self.warnings[:-KEEP_WARNINGS]
        return response

    def _forget(self) -> None:
        """kmock keeps every request for assertions, and matches each new one by scanning them all: quadratic
        over a long run (an operator with hundreds of objects spends its time there). Nothing here asserts on
        kmock's request history, so only the recent tail is kept."""
        for history in (self._requests, *(p._requests for p in self._payloads)):
            del history[:-KEEP_REQUESTS]

    def _prepare(self, request: rendering.Request) -> None:
        assert request.resource is not None
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if request.action == enums.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if request.namespace and not meta.get("namespace"):
                meta["namespace"] = request.namespace
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now)
            meta["generation"] = 1
            meta["resourceVersion"] = next_resource_version()
            request.data.pop("status", None) if request.resource.plural != "events" else None
            return
        if request.action != enums.action.UPDATE or request.name is None:
            return
        key: Any = (request.resource, request.namespace, request.name)
        if key not in self.objects:
            return
        current = self.objects[key].raw
        data = request.data
        if isinstance(data, list):  # JSON patch: apply here, store the result as a whole-object merge
            data = _apply_json_patch(current, data)
            data = {k: v for k, v in data.items()}
        if not isinstance(data, dict):
            return
        is_status = request.subresource == "status"
        has_status = "status" in self._resource_info(request).subresources
        if is_status:
            data = {"status": data.get("status")}
        elif has_status:
            data.pop("status", None)
        meta = data.setdefault("metadata", {})
        meta["resourceVersion"] = next_resource_version()
        if not is_status and "spec" in data and data["spec"] != current.get("spec"):
            meta["generation"] = int(current.get("metadata", {}).get("generation", 1)) + 1
        object.__setattr__(request, "data", data)

    def _resource_info(self, request: rendering.Request) -> kmock.ResourceInfo:
        for res in self.resources:
            if res == request.resource:
                return self.resources[res]
        return kmock.ResourceInfo()

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_list(request)
        if isinstance(payload, dict) and request.resource is not None:
            info = self._resource_info(request)
            group = request.resource.group
            payload["apiVersion"] = f"{group}/{request.resource.version}" if group else request.resource.version
            payload["kind"] = f"{info.kind or 'Object'}List"
            payload["metadata"] = {"resourceVersion": next_resource_version()}
        return payload


ROOT = Path(__file__).resolve().parent.parent  # not conftest's: bench/operator_scale.py imports this module alone
OPERATOR_TOKEN = "test"  # the token the operator's kubeconfig carries in these tests: RBAC applies to it


def _verb(request: rendering.Request) -> str:
    """The RBAC verb of a request, as the API server derives it."""
    method = request.method
    if method == enums.method.GET:
        if request.name:
            return "get"
        return "watch" if request.url.query.get("watch") in ("true", "1") else "list"
    return {enums.method.POST: "create", enums.method.PUT: "update", enums.method.PATCH: "patch",
            enums.method.DELETE: "delete" if request.name else "deletecollection"}.get(method, method.value.lower())


@functools.cache
def operator_rules() -> tuple[dict[str, Any], ...]:
    """The rules the chart grants the operator: its ClusterRole and its leader-election Role, as rendered."""
    docs = [d for d in yaml.safe_load_all((ROOT / "manifests" / "install" / "hedgeops.yaml").read_text()) if d]
    roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role") and d["metadata"]["name"].startswith("hedgeops")]
    return tuple(r for role in roles for r in role["rules"])


def write_kubeconfig(path: Path, server_url: str, token: str) -> Path:
    """A kubeconfig with one context, "emu", pointing at the emulator with a bearer token."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emu",
        "clusters": [{"name": "emu", "cluster": {"server": server_url.rstrip("/")}}],
        "users": [{"name": "emu", "user": {"token": token}}],
        "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "emu"}}]}))
    return path

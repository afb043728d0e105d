"""The kmock Kubernetes emulator, filled in where kopf needs more than kmock 0.8 does (DESIGN §6), and strict
where the real API server is: every create, update (PUT), patch (merge, JSON) and delete of a declared custom
resource, and of its /status, goes through tests/apiserver_strict.py and tests/crd_schema.py, which read the CRDs
from their files (pruning, defaulting, OpenAPI and CEL validation with 422 and causes, status-subresource
semantics, generation, resourceVersion preconditions with 409, no write and no event when nothing changed).
Other resources (Secrets, ConfigMaps, Events, Leases) keep kmock's lenient store, with resourceVersion, uid,
generation and creationTimestamp on writes, namespace from the URL on POST, generateName, 201 on create, the
status subresource kept apart and JSON-patch with `test`. Lists carry kind/apiVersion; kmock's request history is
bounded."""

from __future__ import annotations

import copy
import functools
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import enums, rendering

from .apiserver_strict import ApiError, StrictWrites, next_resource_version, timestamp
from .crd_schema import CustomResourceSchema

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
                self._strict[key] = StrictWrites(schemas[version["name"]], ratcheting=self.ratcheting)

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
            stored.create(outcome.stored)
            del stored.history[:-KEEP_VERSIONS]
            await self._buses[request.resource].put({"type": "MODIFIED", "object": outcome.stored})
            meta = outcome.stored["metadata"]
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                stored.delete()
                await self._buses[request.resource].put({"type": "DELETED", "object": outcome.stored})
            return self._answer(outcome.stored, outcome.pruned, 200)

    async def _strict_delete(self, request: rendering.Request, key: Any, current: dict[str, Any]
                             ) -> aiohttp.web.StreamResponse:
        """With finalizers the object is only marked (deletionTimestamp); without, it goes at once."""
        assert request.resource is not None
        meta = current.setdefault("metadata", {})
        if meta.get("deletionTimestamp"):
            return self._answer(current, [], 200)
        meta["resourceVersion"] = next_resource_version()
        if meta.get("finalizers"):
            meta.update(deletionTimestamp=timestamp(), deletionGracePeriodSeconds=0)
            self._objects[key].create(current)
            await self._buses[request.resource].put({"type": "MODIFIED", "object": current})
        else:
            self._objects[key].delete()
            await self._buses[request.resource].put({"type": "DELETED", "object": current})
        return self._answer(current, [], 200)

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

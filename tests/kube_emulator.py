"""The kmock Kubernetes emulator, filled in where kopf needs more than kmock 0.8 does (DESIGN §6):
resourceVersion, uid, generation and creationTimestamp on writes; namespace from the URL on POST;
generateName; 201 on create; a bounded request history; the status subresource kept apart from the main
resource; kind/apiVersion on lists; JSON-patch with `test` (422 when it fails). Declares HedgeOps' CRDs from the
generated files."""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import enums, rendering

_rv = itertools.count(1000)
KEEP_REQUESTS = 16  # more than the requests ever in flight at once: each is matched against these


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


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the API-server behaviour kopf relies on."""

    def declare_crds(self, directory: Path) -> None:
        self.resources.load_bundled()
        for path in sorted(directory.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            names, group = crd["spec"]["names"], crd["spec"]["group"]
            for version in crd["spec"]["versions"]:
                self.resources[f"{group}/{version['name']}/{names['plural']}"] = kmock.ResourceInfo(
                    kind=names["kind"], singular=names["singular"], namespaced=True,
                    verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
                    shortnames=set(names.get("shortNames", [])), categories=set(names.get("categories", [])),
                    subresources=set(version.get("subresources", {})))

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
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

    def _forget(self) -> None:
        """kmock keeps every request for assertions, and matches each new one by scanning them all: quadratic
        over a long run (an operator with hundreds of objects spends its time there). Nothing here asserts on
        kmock's request history, so only the recent tail is kept."""
        for history in (self._requests, *(p._requests for p in self._payloads)):
            del history[:-KEEP_REQUESTS]

    def _prepare(self, request: rendering.Request) -> None:
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
            meta["resourceVersion"] = str(next(_rv))
            request.data.pop("status", None) if request.resource.plural != "events" else None
            return
        if request.action != enums.action.UPDATE or request.name is None:
            return
        key = (request.resource, request.namespace, request.name)
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
        meta["resourceVersion"] = str(next(_rv))
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
            payload["metadata"] = {"resourceVersion": str(next(_rv))}
        return payload

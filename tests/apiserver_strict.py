"""What kube-apiserver does to a write of a custom resource before it is stored, on top of its schema
(tests/crd_schema.py): request body by verb and patch type, status-subresource semantics, system metadata,
generation, resourceVersion preconditions, and the Status bodies it answers with (422 Invalid with causes,
409 Conflict, 400, 415).

Sources, kubernetes/kubernetes staging/src/k8s.io/:
- apiextensions-apiserver/pkg/registry/customresource/strategy.go: create drops status and sets generation 1;
  an update of the main resource keeps the old status; generation + 1 when anything but metadata changed.
- apiextensions-apiserver/pkg/registry/customresource/status_strategy.go: an update of /status copies the old
  object and takes only the new status.
- apiextensions-apiserver/pkg/registry/customresource/validator.go: kind and apiVersion must match; metadata
  validated as ObjectMeta with DNS-1123 subdomain names.
- apiserver/pkg/registry/rest/update.go (BeforeUpdate): generation, uid, creationTimestamp, deletionTimestamp
  cannot be changed by a client; name and namespace are immutable.
- apiserver/pkg/endpoints/handlers/patch.go: JSON merge patch (RFC 7386) and JSON patch (RFC 6902) on custom
  resources, no strategic merge patch (415); a failed JSON patch is 422.
- apiserver/pkg/storage: a precondition on metadata.resourceVersion that does not match is 409 Conflict; an
  update that changes nothing is not written (same resourceVersion, no watch event); PUT of a custom resource
  needs a resourceVersion (AllowUnconditionalUpdate is false).
- apimachinery/pkg/api/errors (NewInvalid, NewConflict): the Status bodies.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonpatch

from .crd_schema import Cause, CustomResourceSchema

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_ANNOTATIONS_MAX_BYTES = 256 * 1024  # TotalAnnotationSizeLimitB in apimachinery's ValidateAnnotations
# metadata a client cannot set: kept from the stored object on every update (rest.BeforeUpdate)
_SYSTEM_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")

_resource_versions = itertools.count(1_000_000)


class ApiError(Exception):
    """An answer other than success, as the API server's Status body."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None, *,
                 precondition: bool = False) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = dict(details or {})
        self.precondition = precondition  # a lost race (stale resourceVersion, failed `test`), not a bad object

    def status(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "details": self.details, "code": self.code}


def invalid(schema: CustomResourceSchema, name: str, causes: list[Cause]) -> ApiError:
    """422 as errors.NewInvalid words it: `Kind.group "name" is invalid: [field: message, ...]`."""
    shown = [str(c) for c in causes]
    listed = shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"
    return ApiError(422, "Invalid", f'{schema.kind}.{schema.group} "{name}" is invalid: {listed}',
                    {"name": name, "group": schema.group, "kind": schema.kind,
                     "causes": [c.as_json() for c in causes]})


def conflict(schema: CustomResourceSchema, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {schema.plural}.{schema.group} "{name}": '
                    "the object has been modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": schema.group, "kind": schema.plural}, precondition=True)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def next_resource_version() -> str:
    return str(next(_resource_versions))


@dataclass
class Outcome:
    """What to store (None: nothing changed, nothing is written) and the fields pruned from the request."""

    stored: dict[str, Any] | None
    pruned: list[str]


def _meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _metadata_causes(obj: Mapping[str, Any], schema: CustomResourceSchema) -> list[Cause]:
    """customResourceValidator: kind, apiVersion and ObjectMeta (name, labels, annotations)."""
    causes = []
    if obj.get("kind") != schema.kind:
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {json.dumps(obj.get('kind'))}: must be {schema.kind}",
                            "kind"))
    want = f"{schema.group}/{schema.version}"
    if obj.get("apiVersion") != want:
        causes.append(Cause("FieldValueInvalid",
                            f"Invalid value: {json.dumps(obj.get('apiVersion'))}: must be {want}", "apiVersion"))
    meta = _meta(obj)
    name = meta.get("name")
    if not name:
        causes.append(Cause("FieldValueRequired", "Required value: name or generateName is required", "metadata.name"))
    elif not isinstance(name, str) or len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {json.dumps(name)}: a lowercase RFC 1123 subdomain "
                            "must consist of lower case alphanumeric characters, '-' or '.', and must start and "
                            "end with an alphanumeric character", "metadata.name"))
    for key, value in (meta.get("labels") or {}).items():
        if not _qualified(key):
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {json.dumps(key)}: name part must consist of "
                                "alphanumeric characters, '-', '_' or '.'", "metadata.labels"))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {json.dumps(value)}: a valid label must be an "
                                "empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
                                "start and end with an alphanumeric character", "metadata.labels"))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        if not _qualified(key):
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {json.dumps(key)}: name part must consist of "
                                "alphanumeric characters, '-', '_' or '.'", "metadata.annotations"))
    size = sum(len(k) + len(str(v)) for k, v in annotations.items())
    if size > _ANNOTATIONS_MAX_BYTES:
        causes.append(Cause("FieldValueTooLong", f"Too long: may not be more than {_ANNOTATIONS_MAX_BYTES} bytes",
                            "metadata.annotations"))
    return causes


def _qualified(key: Any) -> bool:
    """A label or annotation key: an optional DNS-1123 subdomain prefix and '/', then a name of 63 at most."""
    if not isinstance(key, str):
        return False
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))


def _spec_part(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Everything but metadata: what a change of bumps the generation (status is the old one by then)."""
    return {k: v for k, v in obj.items() if k != "metadata"}


@dataclass
class StrictWrites:
    """kube-apiserver's handling of creates and updates of one custom resource version."""

    schema: CustomResourceSchema
    ratcheting: bool = True  # CRDValidationRatcheting, on by default since Kubernetes 1.30

    def create(self, body: Any, namespace: str | None, now: str, *, validate: bool = True) -> Outcome:
        """POST. `validate=False` stores what a CRD's newer rules would refuse, as an object created before them."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        obj, pruned = self.schema.normalise(copy.deepcopy(body))
        meta = obj.setdefault("metadata", {})
        if namespace and meta.get("namespace") and meta["namespace"] != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        if namespace:
            meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if self.schema.status_subresource:
            obj.pop("status", None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now, generation=1)
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(key, None)
        if validate:
            self._check(obj, None)
        else:
            causes = _metadata_causes(obj, self.schema)
            if causes:
                raise invalid(self.schema, meta.get("name", ""), causes)
        meta["resourceVersion"] = next_resource_version()
        return Outcome(obj, pruned)

    def update(self, current: dict[str, Any], body: Any, *, method: str, content_type: str,
               subresource: str | None) -> Outcome:
        name = _meta(current).get("name", "")
        if subresource not in (None, "status") or (subresource == "status" and not self.schema.status_subresource):
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({subresource})")
        merged = self._request_object(current, body, method, content_type)
        precondition = _meta(merged).get("resourceVersion")
        if method == "PUT" and not precondition:
            raise invalid(self.schema, name, [Cause("FieldValueInvalid", "Invalid value: 0x0: must be specified "
                                                    "for an update", "metadata.resourceVersion")])
        if precondition and precondition != _meta(current).get("resourceVersion"):
            raise conflict(self.schema, name)
        obj, pruned = self.schema.normalise(merged)
        if subresource == "status":
            # status_strategy.go: the old object, with the request's status (or none)
            status = obj.get("status")
            obj = copy.deepcopy(current)
            obj.pop("status", None)
            if status is not None:
                obj["status"] = status
            pruned = [p for p in pruned if p.startswith("status")]
        else:
            if self.schema.status_subresource:  # strategy.go PrepareForUpdate: the status stays the old one
                obj.pop("status", None)
                if "status" in current:
                    obj["status"] = copy.deepcopy(current["status"])
            self._keep_system_meta(obj, current)
        meta, old_meta = obj.setdefault("metadata", {}), _meta(current)
        meta["resourceVersion"] = old_meta.get("resourceVersion")
        if subresource is None and _spec_part(obj) != _spec_part(current):  # status_strategy.go never bumps it
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if obj == current:
            return Outcome(None, pruned)  # nothing changed: nothing written, no event, same resourceVersion
        self._check(obj, current)
        meta["resourceVersion"] = next_resource_version()
        return Outcome(obj, pruned)

    def _request_object(self, current: dict[str, Any], body: Any, method: str, content_type: str) -> dict[str, Any]:
        """The object the request asks for: the PUT body, or the patch applied to the stored object."""
        if method == "PUT":
            if not isinstance(body, dict):
                raise bad_request("the body of the request must be a JSON object")
            return copy.deepcopy(body)
        kind = content_type.split(";")[0].strip().lower()
        if kind == MERGE_PATCH or (kind in ("", "application/json") and isinstance(body, dict)):
            if not isinstance(body, dict):
                raise bad_request("a JSON merge patch must be a JSON object")
            result = merge_patch(current, body)
            assert isinstance(result, dict)
            return result
        if kind == JSON_PATCH or (kind in ("", "application/json") and isinstance(body, list)):
            try:
                result = jsonpatch.apply_patch(copy.deepcopy(current), body)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                               f"{exc}", precondition=isinstance(exc, jsonpatch.JsonPatchTestFailed)) from None
            if not isinstance(result, dict):
                raise ApiError(422, "Invalid", "the patch did not leave an object")
            return result
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                       f"media types include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}"
                       + (" (this emulation does not do server-side apply)" if kind == APPLY_PATCH else ""))

    @staticmethod
    def _keep_system_meta(obj: dict[str, Any], current: dict[str, Any]) -> None:
        meta, old = obj.setdefault("metadata", {}), _meta(current)
        for key in _SYSTEM_META:
            if key in old:
                meta[key] = old[key]
            else:
                meta.pop(key, None)
        for key in ("name", "namespace"):
            if meta.get(key, old.get(key)) != old.get(key):
                raise bad_request(f"the {key} of the object ({meta.get(key)!r}) does not match the {key} on the URL "
                                  f"({old.get(key)!r})")
            meta[key] = old.get(key)

    def _check(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        causes = _metadata_causes(obj, self.schema)
        causes += self.schema.causes(obj, old, ratcheting=self.ratcheting)
        if causes:
            raise invalid(self.schema, _meta(obj).get("name", ""), causes)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

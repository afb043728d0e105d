"""What a real API server keeps of a custom resource: structural pruning and null pruning against a CRD schema.

Follows k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning/algorithm.go (fields a schema does not
specify are dropped, unless the object says x-kubernetes-preserve-unknown-fields; map values and list items are
pruned by their own schema) and schema/defaulting/prunenulls.go (a null in a field that is not `nullable` is
dropped, or replaced by the field's default when it has one). kmock keeps everything, so a test that wants to
know what survives a write on a real cluster asks this.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def _sub_schema(schema: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    props = schema.get("properties") or {}
    if key in props:
        sub: Mapping[str, Any] = props[key]
        return sub
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def prune(value: Any, schema: Mapping[str, Any]) -> Any:
    """`value` as the API server stores it under `schema` (a structural-schema node). Does not change `value`."""
    if isinstance(value, dict):
        if schema.get("type") not in (None, "object") and not schema.get("x-kubernetes-preserve-unknown-fields"):
            return copy.deepcopy(value)  # a type mismatch: validation refuses it, pruning leaves it alone
        out: dict[str, Any] = {}
        for key, sub in value.items():
            sub_schema = _sub_schema(schema, key)
            if sub_schema is None:
                if schema.get("x-kubernetes-preserve-unknown-fields"):
                    out[key] = copy.deepcopy(sub)  # free-form on purpose: kept as written
                continue  # unknown field: pruned
            if sub is None and not sub_schema.get("nullable"):
                if "default" in sub_schema:
                    out[key] = copy.deepcopy(sub_schema["default"])
                continue  # a non-nullable null: pruned
            out[key] = prune(sub, sub_schema)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        return [prune(v, items) if isinstance(items, Mapping) else copy.deepcopy(v) for v in value]
    return value


def prune_object(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A whole object: apiVersion, kind and metadata are the API server's own (never pruned by the CRD)."""
    out: dict[str, Any] = prune({k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")},
                                schema)
    for key in ("apiVersion", "kind", "metadata"):
        if key in doc:
            out[key] = copy.deepcopy(doc[key])
    return out

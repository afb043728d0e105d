"""Generate apiextensions.k8s.io/v1 CRDs (structural schemas, CEL rules) from the pydantic models."""

from __future__ import annotations

import copy
import enum
import json
import typing
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from hedgeops import GROUP, VERSION
from hedgeops.api import KINDS
from hedgeops.api.common import Resource

CATEGORY = "hedgeops"
_DROP = {"title", "propertyNames"}
# An RFC 3339 time is at most 35 characters ("2025-03-01T06:25:00.123456789+00:00"); the bound only tells the API
# server's CEL cost estimator (and any reader) that the string is short.
DATE_TIME_LENGTH = 64


class _Defaults(GenerateJsonSchema):
    """Pydantic's JSON schema, plus a default on object fields whose default is a model built by a factory
    (`exchange`, `objective`, ...), so CEL rules and the operator see `spec.exchange.account` even when the
    manifest leaves `exchange` out. The default is the model's whole default document, not `{}`: the API server
    validates a CRD's defaults as written when the CRD is created, its CEL rules included and without filling the
    nested defaults in first, so `{}` under `self.name == oldSelf.name` was "no such key" and the CRD was refused
    (tests/crd_schema.py `default_causes`)."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> object:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            made = factory()  # type: ignore[call-arg]
            if isinstance(made, BaseModel):
                return default_document(made)
        return schema.get("default", NoDefault)


def default_document(model: BaseModel) -> dict[str, Any]:
    """A model's defaults as the CRD writes them: field names as in manifests, numbers as numbers, no nulls."""
    out = _plain(model.model_dump(mode="python", by_alias=True, exclude_none=True))
    assert isinstance(out, dict)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _unbounded(node: dict[str, Any]) -> str | None:
    """What makes this node's size unknown to the API server's CEL cost estimator (None: bounded)."""
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node:
        return None  # free-form on purpose: CEL sees no fields in it
    t = node.get("type")
    if t == "string" and "maxLength" not in node:
        return "string without maxLength"
    if t == "array" and "maxItems" not in node:
        return "list without maxItems"
    if t == "object" and "additionalProperties" in node and "maxProperties" not in node:
        return "map without maxProperties"
    return None


class SchemaError(ValueError):
    """A model cannot be expressed as a structural schema."""


def _structural(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    """Turn one pydantic JSON-schema node into a Kubernetes structural-schema node."""
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        # The referring field's own keys win: its description and default, and bounds such as an enum's maxLength.
        node = {**target, **node}
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        # Decimal renders as number-or-string; the CRD takes numbers (YAML writes them naturally).
        numbers = [o for o in options if o.get("type") == "number"]
        if len(options) == 2 and numbers and any(o.get("type") == "string" for o in options):
            options = numbers
        if len(options) != 1:
            raise SchemaError(f"{path}: unions are not structural")
        inner = _structural(options[0], defs, path)
        # The field's own description, default and Kubernetes markers (preserve-unknown-fields, list types, rules)
        # apply to the one remaining option: dropping them once turned pendingPlan into an object pruned to {}.
        outer = {k: v for k, v in node.items()
                 if (k in ("description", "default") or k.startswith(("x-kubernetes-", "max"))) and v is not None}
        node = {**inner, **outer}
    rules: list[dict[str, str]] = list(node.get("x-kubernetes-validations", []))
    key_pattern = (node.get("propertyNames") or {}).get("pattern")
    if "patternProperties" in node:
        # Maps keyed by a pattern (asset codes): the value schema becomes additionalProperties.
        ((key_pattern, value_schema),) = node.pop("patternProperties").items()
        node["additionalProperties"] = value_schema
    if key_pattern:
        # Structural schemas cannot constrain map keys: the key pattern becomes a CEL rule.
        rules.append({"rule": f"self.all(k, k.matches('{key_pattern}'))",
                      "message": f"keys must match {key_pattern}"})
    out: dict[str, Any] = {k: v for k, v in node.items() if k not in _DROP}
    if isinstance(out.get("description"), str):
        out["description"] = " ".join(out["description"].split())
    if rules:
        out["x-kubernetes-validations"] = rules
    if out.get("default", 0) is None:
        del out["default"]
    if out.get("type") == "string" and "maxLength" not in out:
        if out.get("enum"):  # an enum's longest value is its bound
            out["maxLength"] = max(len(str(v)) for v in out["enum"])
        elif out.get("format") == "date-time":
            out["maxLength"] = DATE_TIME_LENGTH
    if out.get("type") == "number" and isinstance(out.get("default"), str):
        out["default"] = float(Decimal(out["default"]))
    for bound, key in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # OpenAPI v3.0 (what Kubernetes speaks) writes exclusive bounds as a flag on the bound.
        if bound in out and not isinstance(out[bound], bool):
            out[key] = out[bound]
            out[bound] = True
    if "properties" in out:
        out["properties"] = {
            name: _structural(sub, defs, f"{path}.{name}") for name, sub in out["properties"].items()
        }
        for name, sub in out["properties"].items():
            if not sub.get("description"):
                raise SchemaError(f"{path}.{name}: every field needs a description")
        if "conditions" in out["properties"]:
            out["properties"]["conditions"]["x-kubernetes-list-type"] = "map"
            out["properties"]["conditions"]["x-kubernetes-list-map-keys"] = ["type"]
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
        out["type"] = "object"
    elif isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _structural(out["additionalProperties"], defs, f"{path}.*")
    elif "additionalProperties" in out:
        del out["additionalProperties"]  # unknown fields are pruned (or refused by strict apply)
    if isinstance(out.get("items"), dict):
        out["items"] = _structural(out["items"], defs, f"{path}[]")
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise SchemaError(f"{path}: no type")
    # Every string, list and map is bounded: the API server estimates each CEL rule's cost from these bounds and
    # refuses a CRD whose rules it cannot bound; the bounds also cap what one object may store.
    problem = _unbounded(out)
    if problem:
        raise SchemaError(f"{path}: {problem}")
    return out


def model_schema(model: type[BaseModel], path: str) -> dict[str, Any]:
    """Structural schema of one model."""
    raw = model.model_json_schema(mode="validation", schema_generator=_Defaults)
    defs = raw.pop("$defs", {})
    return _structural(raw, defs, path)


def _spec_and_status(cls: type[Resource]) -> tuple[type[BaseModel], type[BaseModel]]:  # type: ignore[type-arg]
    spec = cls.model_fields["spec"].annotation
    status = next(a for a in typing.get_args(cls.model_fields["status"].annotation) if a is not type(None))
    assert isinstance(spec, type) and isinstance(status, type)
    return spec, status


def crd_for(cls: type[Resource]) -> dict[str, Any]:  # type: ignore[type-arg]
    """The CustomResourceDefinition of one kind."""
    spec_model, status_model = _spec_and_status(cls)
    spec = model_schema(spec_model, "spec")
    status = model_schema(status_model, "status")
    schema = {
        "type": "object",
        "description": (cls.__doc__ or cls.KIND).strip(),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "hedgeops.io/v1alpha1"},
            "kind": {"type": "string", "description": cls.KIND},
            "metadata": {"type": "object", "description": "Standard object metadata."},
            "spec": spec,
            "status": status,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{cls.PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "hedgeops"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": cls.KIND,
                "listKind": f"{cls.KIND}List",
                "plural": cls.PLURAL,
                "singular": cls.SINGULAR,
                "shortNames": list(cls.SHORT_NAMES),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [copy.deepcopy(c) for c in cls.PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def render_all() -> dict[str, str]:
    """File name → YAML text for every kind's CRD."""
    out: dict[str, str] = {}
    for cls in KINDS.values():
        plain = json.loads(json.dumps(crd_for(cls)))  # no shared nodes: YAML anchors (&id001) read badly
        text = yaml.safe_dump(plain, sort_keys=False, width=100, allow_unicode=True)
        out[f"{cls.PLURAL}.{GROUP}.yaml"] = "# Generated by `hedgeops crds` from hedgeops/api. Do not edit.\n" + text
    return out


def write_all(directory: Path) -> list[Path]:
    """Write every CRD into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written

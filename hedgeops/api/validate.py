"""Validate manifests the way the API server would: CRD schema, then CEL rules, then the models."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
from openapi_schema_validator import OAS30Validator
from pydantic import ValidationError

from hedgeops.api import KINDS
from hedgeops.api.common import Resource
from hedgeops.api.crd import crd_for


@dataclass(frozen=True)
class Problem:
    """One reason a manifest is refused, naming the field."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ManifestError(ValueError):
    """A manifest that the API server (or HedgeOps) would refuse."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


@cache
def _schema(kind: str) -> dict[str, Any]:
    crd = crd_for(KINDS[kind])
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _split(text: Any, separator: Any) -> Any:
    """`'a:b'.split(':')` from Kubernetes' CEL strings library (cel-go ext.Strings), which celpy lacks."""
    parts = str(text).split(str(separator)) if str(separator) else list(str(text))  # '' splits into characters
    return celpy.celtypes.ListType([celpy.celtypes.StringType(p) for p in parts])


# Kubernetes' CEL environment has these beyond the CEL standard; rules may use them, so the harness must too.
_KUBERNETES_FUNCTIONS = {"split": _split}


@cache
def _program(expr: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expr), functions=_KUBERNETES_FUNCTIONS)


def _path(parts: Iterator[Any] | list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _typed(value: Any, schema: Mapping[str, Any]) -> Any:
    """Coerce JSON values the way the API server types them for CEL (numbers are doubles)."""
    t = schema.get("type")
    if t == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if t == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: _typed(v, props.get(k) or (extra if isinstance(extra, dict) else {})) for k, v in value.items()
        }
    if t == "array" and isinstance(value, list):
        return [_typed(v, schema.get("items", {})) for v in value]
    return value


def apply_defaults(value: Any, schema: Mapping[str, Any]) -> Any:
    """Structural defaulting as the API server does before validation: fill missing properties that have a
    default, in every object that is present."""
    if isinstance(value, dict) and schema.get("type") == "object":
        out = dict(value)
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key not in out and "default" in sub:
                out[key] = sub["default"]
        extra = schema.get("additionalProperties")
        return {k: apply_defaults(v, props.get(k) or (extra if isinstance(extra, dict) else {}))
                for k, v in out.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(v, schema["items"]) for v in value]
    return value


def _cel_problems(value: Any, schema: Mapping[str, Any], path: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            activation = {"self": celpy.json_to_cel(_typed(value, schema))}  # type: ignore[attr-defined]
            ok = _program(rule["rule"]).evaluate(activation)
        except Exception as exc:  # a rule that cannot evaluate refuses the object, as the server does
            problems.append(Problem(_path(path), f"rule {rule['rule']!r} failed: {exc}"))
            continue
        if not isinstance(ok, celpy.celtypes.BoolType) or not bool(ok):
            problems.append(Problem(_path(path) + rule.get("fieldPath", ""), rule["message"]))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            sub_schema = props.get(key) or (extra if isinstance(extra, dict) else None)
            if sub_schema is not None:
                problems += _cel_problems(sub, sub_schema, [*path, key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, sub in enumerate(value):
            problems += _cel_problems(sub, schema["items"], [*path, i])
    return problems


def schema_problems(doc: Mapping[str, Any]) -> list[Problem]:
    """What the API server would say: OpenAPI schema errors first, then CEL rule failures."""
    kind = doc.get("kind")
    if kind not in KINDS:
        return [Problem("kind", f"unknown kind {kind!r}; expected one of {', '.join(sorted(KINDS))}")]
    if doc.get("apiVersion") != "hedgeops.io/v1alpha1":
        return [Problem("apiVersion", f"expected hedgeops.io/v1alpha1, got {doc.get('apiVersion')!r}")]
    schema = _schema(str(kind))
    body = apply_defaults({k: v for k, v in doc.items() if k != "status"}, schema)
    problems = [
        Problem(_path(list(err.absolute_path)) or "(root)", err.message)
        for err in sorted(OAS30Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    ]
    if problems:
        return problems
    return _cel_problems(body["spec"], schema["properties"]["spec"], ["spec"])


def parse_resource(doc: Mapping[str, Any], source: str = "manifest") -> Resource:  # type: ignore[type-arg]
    """Validate and parse one manifest into its model, or raise ManifestError naming the fields."""
    problems = schema_problems(doc)
    if problems:
        raise ManifestError(source, problems)
    cls = KINDS[str(doc["kind"])]
    try:
        return cls.model_validate(dict(doc))
    except ValidationError as exc:
        raise ManifestError(source, [_pydantic_problem(e) for e in exc.errors()]) from None


def _pydantic_problem(err: Mapping[str, Any]) -> Problem:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "constrained")))]
    msg = str(err["msg"]).removeprefix("Value error, ")
    # Model validators name the field at the start of their message ("legs: ...").
    field = _path(loc)
    head, sep, rest = msg.partition(": ")
    if sep and " " not in head:
        field, msg = (f"{field}.{head}" if field else head), rest
    return Problem(field or "(root)", msg)

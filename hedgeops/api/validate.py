"""Validate manifests the way the API server would: CRD schema, then CEL rules, then the models."""

from __future__ import annotations

import json
import re
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


# No old value at this path: a create, or a new field, map entry or list-map item on update.
_ABSENT: Any = object()
_OLD_SELF = re.compile(r"\boldSelf\b")


def is_transition_rule(expr: str) -> bool:
    """A rule that reads `oldSelf`: the API server runs it only on update, where an old value exists."""
    return bool(_OLD_SELF.search(expr))


def _map_keys(schema: Mapping[str, Any]) -> list[str] | None:
    return list(schema.get("x-kubernetes-list-map-keys", [])) if schema.get("x-kubernetes-list-type") == "map" \
        else None


def _old_item(item: Any, old: Any, keys: list[str] | None) -> Any:
    """The old list item a new one is correlated with: only list-maps correlate (by their keys), as the API
    server does; items of other lists never see a transition rule."""
    if keys is None or not isinstance(old, list) or not isinstance(item, dict):
        return _ABSENT
    key = [item.get(k) for k in keys]
    return next((o for o in old if isinstance(o, dict) and [o.get(k) for k in keys] == key), _ABSENT)


def _cel_problems(value: Any, schema: Mapping[str, Any], path: list[Any], old: Any = _ABSENT) -> list[Problem]:
    problems: list[Problem] = []
    for rule in schema.get("x-kubernetes-validations", []):
        transition = is_transition_rule(rule["rule"])
        if transition and old is _ABSENT:
            continue
        try:
            activation = {"self": celpy.json_to_cel(_typed(value, schema))}  # type: ignore[attr-defined]
            if transition:
                activation["oldSelf"] = celpy.json_to_cel(_typed(old, schema))  # type: ignore[attr-defined]
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
                sub_old = old.get(key, _ABSENT) if isinstance(old, dict) else _ABSENT
                problems += _cel_problems(sub, sub_schema, [*path, key], sub_old)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        keys = _map_keys(schema)
        for i, sub in enumerate(value):
            problems += _cel_problems(sub, schema["items"], [*path, i], _old_item(sub, old, keys))
    return problems


def _list_map_problems(value: Any, schema: Mapping[str, Any], path: list[Any]) -> list[Problem]:
    """x-kubernetes-list-type: map refuses two items with the same keys, as the API server does."""
    problems: list[Problem] = []
    if isinstance(value, list):
        keys = _map_keys(schema)
        seen: set[str] = set()
        for i, item in enumerate(value):
            if keys is not None and isinstance(item, dict):
                key = json.dumps({k: item.get(k) for k in keys}, sort_keys=True)
                if key in seen:
                    problems.append(Problem(_path([*path, i]), f"Duplicate value: {key}"))
                seen.add(key)
            if isinstance(schema.get("items"), dict):
                problems += _list_map_problems(item, schema["items"], [*path, i])
    elif isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            sub_schema = props.get(key) or (extra if isinstance(extra, dict) else None)
            if sub_schema is not None:
                problems += _list_map_problems(sub, sub_schema, [*path, key])
    return problems


def schema_problems(doc: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[Problem]:
    """What the API server would say: OpenAPI schema errors first, then CEL rule failures. With `old` (the stored
    object, on update) transition rules run too, with oldSelf."""
    kind = doc.get("kind")
    if kind not in KINDS:
        return [Problem("kind", f"unknown kind {kind!r}; expected one of {', '.join(sorted(KINDS))}")]
    if doc.get("apiVersion") != "hedgeops.io/v1alpha1":
        return [Problem("apiVersion", f"expected hedgeops.io/v1alpha1, got {doc.get('apiVersion')!r}")]
    schema = _schema(str(kind))
    doc = go_numbers(doc)
    body = apply_defaults({k: v for k, v in doc.items() if k != "status"}, schema)
    problems = [*_unknown_fields(doc), *_metadata_problems(doc.get("metadata"))]
    problems += [
        Problem(_path(list(err.absolute_path)) or "(root)", redacted(err.message, err.instance))
        for err in sorted(OAS30Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    ]
    if not isinstance(body.get("spec"), dict):  # said above ('spec' is a required property, or not an object)
        return problems
    problems += _list_map_problems(body["spec"], schema["properties"]["spec"], ["spec"])
    if problems:
        return problems
    old_spec = _ABSENT
    if old is not None and isinstance(old.get("spec"), dict):
        old_spec = apply_defaults({k: v for k, v in old.items() if k != "status"}, schema)["spec"]
    return _cel_problems(body["spec"], schema["properties"]["spec"], ["spec"], old_spec)


def go_numbers(value: Any) -> Any:
    """Numbers as kubectl sends them: it turns YAML into JSON through Go, whose encoder writes an integral float
    without a fraction (60.0 and 6e1 arrive as 60, and pass an integer field); below 1e21, where it switches to
    an exponent."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [go_numbers(v) for v in value]
    return value


# What kube-apiserver's strict field validation (kubectl's default since 1.27) knows at an object's top level and in
# its metadata (ObjectMeta); anything else is "unknown field", where the API server would refuse the object.
_TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")
_OBJECT_META = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
                "ownerReferences", "finalizers", "managedFields")
# A label or annotation key: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63 characters;
# a label value: at most 63 such characters, or empty (k8s.io/apimachinery validation: IsQualifiedName,
# IsValidLabelValue).
_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ANNOTATIONS_BYTES = 256 * 1024


def _unknown_fields(doc: Mapping[str, Any]) -> list[Problem]:
    out = [Problem(str(k), f'unknown field "{k}"') for k in doc if k not in _TOP_LEVEL]
    meta = doc.get("metadata")
    if isinstance(meta, Mapping):
        out += [Problem(f"metadata.{k}", f'unknown field "metadata.{k}"') for k in meta if k not in _OBJECT_META]
    return out


def _qualified_name(key: str) -> str | None:
    """Why `key` is not a qualified name (a label's or an annotation's key), None if it is."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        return "prefix part must be a lowercase RFC 1123 subdomain of at most 253 characters"
    if not name or len(name) > 63 or not _NAME_PART.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                "an alphanumeric character, at most 63 characters")
    return None


def _keyed_problems(field: str, entries: Mapping[Any, Any]) -> list[Problem]:
    """A labels or annotations map's keys (qualified names) and values (strings)."""
    out: list[Problem] = []
    for key, value in entries.items():
        why = _qualified_name(str(key))
        if why is not None:
            out.append(Problem(field, f"Invalid value: {str(key)!r}: {why}"))
        if not isinstance(value, str):
            out.append(Problem(f"{field}.{key}", "must be a string"))
    return out


def _metadata_problems(meta: Any) -> list[Problem]:
    """Labels and annotations as the API server checks them (ValidateLabels, ValidateAnnotations)."""
    if not isinstance(meta, Mapping):
        return []
    out: list[Problem] = []
    labels, annotations = meta.get("labels"), meta.get("annotations")
    if isinstance(labels, Mapping):
        out += _keyed_problems("metadata.labels", labels)
        out += [Problem("metadata.labels", f"Invalid value: {value!r}: a label value must be at most 63 characters, "
                        "alphanumeric, '-', '_' or '.', starting and ending alphanumeric")
                for value in labels.values()
                if isinstance(value, str) and value and (len(value) > 63 or not _NAME_PART.match(value))]
    if isinstance(annotations, Mapping):
        out += _keyed_problems("metadata.annotations", annotations)
        size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
        if size > ANNOTATIONS_BYTES:
            out.append(Problem("metadata.annotations", f"Too long: must have at most {ANNOTATIONS_BYTES} bytes"))
    return out


def parse_resource(doc: Mapping[str, Any], source: str = "manifest") -> Resource:  # type: ignore[type-arg]
    """Validate and parse one manifest into its model, or raise ManifestError naming the fields."""
    problems = schema_problems(doc)
    if problems:
        raise ManifestError(source, problems)
    cls = KINDS[str(doc["kind"])]
    try:
        return cls.model_validate(go_numbers(dict(doc)))
    except ValidationError as exc:
        problems = [_pydantic_problem(e) for e in exc.errors()]
        raise ManifestError(source, [Problem(p.field, redacted(p.message, dict(doc))) for p in problems]) from None


# A value that looks like a URL: scheme "://". Its userinfo, query and fragment may carry a password or a token.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HIDDEN = "***"


def redact_url(text: str) -> str:
    """A URL-looking string with its userinfo and its query and fragment values hidden
    (`ftp://user:pw@internal/?token=x` is `ftp://***@internal/?token=***`); anything else as it is."""
    if not _URL.match(text):
        return text
    scheme, rest = text.split("://", 1)
    rest, hash_mark, fragment = rest.partition("#")
    head, query_mark, query = rest.partition("?")
    if "@" in head:  # up to the last "@" before the query: a password holding "/" is hidden whole too
        head = f"{_HIDDEN}@{head.rsplit('@', 1)[1]}"
    return f"{scheme}://{head}{query_mark}{_values_hidden(query)}{hash_mark}{_values_hidden(fragment)}"


def _values_hidden(params: str) -> str:
    """`a=1&b` as `a=***&***`: the names stay (they say what was refused), the values go."""
    if not params:
        return params
    return "&".join(f"{part.split('=', 1)[0]}={_HIDDEN}" if "=" in part else (_HIDDEN if part else "")
                    for part in params.split("&"))


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a JSON-like value (keys too), bounded in depth as the manifests are."""
    if isinstance(value, str):
        yield value
    elif depth < 64 and isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, depth + 1)
            yield from _strings(v, depth + 1)
    elif depth < 64 and isinstance(value, list):
        for v in value:
            yield from _strings(v, depth + 1)


def redacted(message: str, value: Any) -> str:
    """`message` (which may quote `value` or part of it, as jsonschema's do) with every URL in `value` that
    carries userinfo, a query or a fragment shown redacted: `hedgeops validate` never prints a password or a
    token. A message about any other value is unchanged."""
    for text in sorted({t for t in _strings(value) if redact_url(t) != t}, key=len, reverse=True):
        message = message.replace(repr(text), repr(redact_url(text))).replace(text, redact_url(text))
    return message


def _pydantic_problem(err: Mapping[str, Any]) -> Problem:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "constrained")))]
    msg = str(err["msg"]).removeprefix("Value error, ")
    # Model validators name the field at the start of their message ("legs: ...").
    field = _path(loc)
    head, sep, rest = msg.partition(": ")
    if sep and " " not in head:
        field, msg = (f"{field}.{head}" if field else head), rest
    if err.get("type") == "string_pattern_mismatch" and field in NAME_RULES:
        msg = f"{err.get('input')!r} is not {NAME_RULES[field]}"
    return Problem(field or "(root)", msg)


# The names the API server refuses, in its words rather than as a regular expression.
NAME_RULES = {
    "metadata.name": "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a "
                     "letter or digit, at most 253 characters)",
    "metadata.namespace": "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter "
                          "or digit, at most 63 characters)"}

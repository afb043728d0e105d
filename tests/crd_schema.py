"""A CRD version's structural schema, compiled once, doing what kube-apiserver does with it on every write:
pruning, null pruning, defaulting, OpenAPI validation, list-type map/set uniqueness and CEL rules (with
`oldSelf` transition rules and validation ratcheting). Errors are causes shaped as the API server's
(`field.Error`: reason, message, field path such as `spec.legs[0].symbol` or `spec.static[SOL]`).

Sources, kubernetes/kubernetes staging/src/k8s.io/apiextensions-apiserver/pkg/:
- apiserver/schema/pruning/algorithm.go: unknown fields dropped unless x-kubernetes-preserve-unknown-fields;
  apiVersion, kind and metadata kept at the root and in embedded resources; metadata coerced to ObjectMeta.
- apiserver/schema/defaulting/prunenulls.go, algorithm.go: nulls of non-nullable fields dropped, then
  missing properties set to their `default`, recursively.
- apiserver/validation/validation.go (kubeOpenAPIResultToFieldErrors): which OpenAPI failure becomes which
  field error (Required, NotSupported, TooLong, TooMany, TypeInvalid, Invalid); kube-openapi's messages.
- apiserver/schema/listtype/validation.go: Duplicate value at `path[i]` for list-type map keys / set items.
- apiserver/schema/cel/validation.go: rules evaluated where the value exists, `self` typed by the schema
  (number as double, date-time strings as timestamps), transition rules (those naming oldSelf) only where
  an old value correlates (object properties, map keys, list-type map keys; never atomic list items),
  field = rule location + fieldPath, message or messageExpression, reason.
- registry/customresource/strategy.go hasBlockingErr: type, enum, required, maxLength and maxItems/
  maxProperties failures stop the CEL rules ("some validation rules were not checked ...").
- Validation ratcheting (CRDValidationRatcheting, on by default since 1.30): on update, a value equal to its
  correlated old value is not re-validated, except by transition rules.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import celpy
from celpy import celtypes

_MISSING: Any = object()
_json_to_cel: Any = celpy.json_to_cel  # type: ignore[attr-defined]  # exported, not in its __all__

# metav1.ObjectMeta's JSON fields: the API server decodes metadata into it, so anything else is dropped.
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields"})
_ROOT_KEPT = ("apiVersion", "kind", "metadata")

# kube-openapi strfmt IsDateTime: a date, "T", hh:mm:ss, optional fraction, then Z or a numeric offset.
_TIME = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_OLD_SELF = re.compile(r"\boldSelf\b")


def is_date_time(text: str) -> bool:
    """kube-openapi's `date-time` format check."""
    day, sep, clock = text.lower().partition("t")
    if not sep:
        return False
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    m = _TIME.match(clock)
    return m is not None and m.group(1) <= "23" and m.group(2) <= "59" and m.group(3) <= "59"


_FORMATS = {"date-time": is_date_time}


@dataclass(frozen=True)
class Cause:
    """One field error, as a Status body's `details.causes` entry names it."""

    reason: str
    message: str
    field: str

    def as_json(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


# Field errors of these types make the API server skip the CEL rules (strategy.go hasBlockingErr).
BLOCKING = frozenset({"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
                      "FieldValueTypeInvalid"})


def _shown(value: Any) -> str:
    """How field.Error renders a bad value: strings quoted, numbers bare, compound values by their type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "null"
    return f'"{_json_type(value)}"'


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _invalid(path: str, value: Any, detail: str, reason: str = "FieldValueInvalid") -> Cause:
    return Cause(reason, f"Invalid value: {_shown(value)}: {detail}", path)


def _number(value: float) -> str:
    """Go's %v of a float64 bound: 1 not 1.0."""
    return str(int(value)) if float(value).is_integer() else repr(value)


@dataclass(frozen=True)
class Rule:
    """One x-kubernetes-validations entry, compiled."""

    text: str
    program: Any
    message: str | None
    message_program: Any | None
    field_path: str
    reason: str
    transition: bool
    # celpy interprets a rule in milliseconds; the same rule on the same values (every book's legs, an unchanged
    # spec under a changed status) is answered from here, keyed by the values' JSON: a hit is the same evaluation
    verdicts: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict, compare=False)


@dataclass
class Node:
    """One schema node, compiled."""

    type: str | None = None
    properties: dict[str, Node] = field(default_factory=dict)
    additional: Node | None = None
    items: Node | None = None
    preserve_unknown: bool = False
    embedded: bool = False
    nullable: bool = False
    default: Any = _MISSING
    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""  # as the CRD writes it (messages quote it)
    format: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    multiple_of: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    list_type: str | None = None
    list_map_keys: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    transition_below: bool = False  # this node or one under it has a transition rule


class SchemaError(ValueError):
    """A CRD schema the API server would refuse, or this emulation cannot read."""


def _kubernetes_split(text: Any, separator: Any) -> Any:
    """`'a:b'.split(':')` from Kubernetes' CEL strings library (cel-go ext.Strings), which celpy lacks."""
    parts = str(text).split(str(separator)) if str(separator) else list(str(text))
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _lower(text: Any) -> Any:
    return celtypes.StringType(str(text).lower())


def _upper(text: Any) -> Any:
    return celtypes.StringType(str(text).upper())


def _trim(text: Any) -> Any:
    return celtypes.StringType(str(text).strip())


def _join(items: Any, separator: Any = "") -> Any:
    return celtypes.StringType(str(separator).join(str(i) for i in items))


def _index_of(text: Any, sub: Any) -> Any:
    return celtypes.IntType(str(text).find(str(sub)))


# Kubernetes' CEL environment has these beyond the CEL standard (strings extension and lists library).
CEL_FUNCTIONS = {"split": _kubernetes_split, "lowerAscii": _lower, "upperAscii": _upper, "trim": _trim,
                 "join": _join, "indexOf": _index_of}
_ENV = celpy.Environment()


def _compile_cel(expr: str, where: str) -> Any:
    try:
        return _ENV.program(_ENV.compile(expr), functions=CEL_FUNCTIONS)  # type: ignore[arg-type]
    except Exception as exc:  # the API server refuses a CRD whose rule does not compile
        raise SchemaError(f"{where}: rule {expr!r} does not compile: {exc}") from None


def compile_node(raw: Mapping[str, Any], where: str = "") -> Node:
    """Compile one openAPIV3Schema (sub)tree; refuses what a structural schema may not hold."""
    for unsupported in ("$ref", "allOf", "anyOf", "oneOf", "not", "x-kubernetes-int-or-string"):
        if unsupported in raw:
            raise SchemaError(f"{where or '<root>'}: {unsupported} is not emulated by tests/crd_schema.py")
    node = Node(type=raw.get("type"), preserve_unknown=bool(raw.get("x-kubernetes-preserve-unknown-fields")),
                embedded=bool(raw.get("x-kubernetes-embedded-resource")), nullable=bool(raw.get("nullable")),
                required=tuple(raw.get("required", ())), format=raw.get("format"),
                minimum=raw.get("minimum"), maximum=raw.get("maximum"),
                exclusive_minimum=bool(raw.get("exclusiveMinimum")),
                exclusive_maximum=bool(raw.get("exclusiveMaximum")),
                multiple_of=raw.get("multipleOf"), min_length=raw.get("minLength"), max_length=raw.get("maxLength"),
                min_items=raw.get("minItems"), max_items=raw.get("maxItems"),
                min_properties=raw.get("minProperties"), max_properties=raw.get("maxProperties"),
                list_type=raw.get("x-kubernetes-list-type"),
                list_map_keys=tuple(raw.get("x-kubernetes-list-map-keys", ())))
    if "default" in raw:
        node.default = raw["default"]
    if "enum" in raw:
        node.enum = tuple(raw["enum"])
    if "pattern" in raw:
        try:  # Go's RE2 and Python's re agree on the patterns CRDs use; a pattern Python cannot read is refused.
            # One difference matters: Python's `$` also matches before a trailing newline, RE2's does not ("SOL\n"
            # passed ^[A-Z0-9]{2,12}$ here and is refused there), so `$` is read as RE2 reads it: the very end.
            node.pattern = re.compile(re.sub(r"(?<!\\)\$", r"\\Z", raw["pattern"]))
            node.pattern_text = raw["pattern"]
        except re.error as exc:
            raise SchemaError(f"{where}: pattern {raw['pattern']!r}: {exc}") from None
    for key, sub in raw.get("properties", {}).items():
        node.properties[key] = compile_node(sub, f"{where}.{key}" if where else key)
    extra = raw.get("additionalProperties")
    if isinstance(extra, Mapping):
        node.additional = compile_node(extra, f"{where}[*]")
    if isinstance(raw.get("items"), Mapping):
        node.items = compile_node(raw["items"], f"{where}[*]")
    if node.list_type == "map" and not node.list_map_keys:
        raise SchemaError(f"{where}: x-kubernetes-list-type map needs x-kubernetes-list-map-keys")
    rules = []
    for entry in raw.get("x-kubernetes-validations", ()):
        text = entry["rule"]
        if entry.get("optionalOldSelf"):
            raise SchemaError(f"{where}: optionalOldSelf is not emulated by tests/crd_schema.py")
        message_expression = entry.get("messageExpression")
        rules.append(Rule(
            text=text, program=_compile_cel(text, where), message=entry.get("message"),
            message_program=_compile_cel(message_expression, where) if message_expression else None,
            field_path=entry.get("fieldPath", ""), reason=entry.get("reason", "FieldValueInvalid"),
            transition=bool(_OLD_SELF.search(text))))
    node.rules = tuple(rules)
    children = [*node.properties.values(), node.additional, node.items]
    node.transition_below = any(r.transition for r in node.rules) or any(
        c is not None and c.transition_below for c in children)
    return node


def _has_rules(node: Node) -> bool:
    children = [*node.properties.values(), node.additional, node.items]
    return bool(node.rules) or any(c is not None and _has_rules(c) for c in children)


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _child(node: Node, key: str) -> Node | None:
    return node.properties.get(key) or node.additional


# --- pruning, null pruning, defaulting ---------------------------------------------------------------

def prune(value: Any, node: Node | None, path: str, pruned: list[str], *, root: bool = False) -> Any:
    """Drop what the schema does not know (pruning/algorithm.go); `pruned` collects the dropped paths."""
    if isinstance(value, dict):
        if node is None:
            return value
        out: dict[str, Any] = {}
        keep_meta = root or node.embedded
        for key, sub in value.items():
            here = _child_path(path, key)
            if keep_meta and key in _ROOT_KEPT:  # never pruned by the schema; metadata is decoded as ObjectMeta
                out[key] = _coerce_meta(sub, here, pruned) if key == "metadata" else sub
            elif key in node.properties:
                out[key] = prune(sub, node.properties[key], here, pruned)
            elif node.additional is not None:
                out[key] = prune(sub, node.additional, f"{path}[{key}]", pruned)
            elif node.preserve_unknown:
                out[key] = sub
            else:
                pruned.append(here)
        return out
    if isinstance(value, list) and node is not None and node.items is not None:
        return [prune(v, node.items, f"{path}[{i}]", pruned) for i, v in enumerate(value)]
    return value


def _coerce_meta(meta: Any, path: str, pruned: list[str]) -> Any:
    if not isinstance(meta, dict):
        return meta
    pruned.extend(_child_path(path, k) for k in meta if k not in OBJECT_META_FIELDS)
    return {k: v for k, v in meta.items() if k in OBJECT_META_FIELDS}


def prune_nulls(value: Any, node: Node | None) -> Any:
    """Nulls where the schema does not say nullable are dropped before defaulting (prunenulls.go)."""
    if node is None:
        return value
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            child = _child(node, key)
            if sub is None and child is not None and not child.nullable:
                continue
            out[key] = prune_nulls(sub, child)
        return out
    if isinstance(value, list) and node.items is not None:
        return [prune_nulls(v, node.items) for v in value]
    return value


def apply_defaults(value: Any, node: Node | None) -> Any:
    """Missing properties with a `default` get it, in every object present (defaulting/algorithm.go)."""
    if node is None:
        return value
    if isinstance(value, dict):
        out = dict(value)
        for key, sub in node.properties.items():
            if key not in out and sub.default is not _MISSING:
                out[key] = copy.deepcopy(sub.default)
        return {k: apply_defaults(v, _child(node, k)) for k, v in out.items()}
    if isinstance(value, list) and node.items is not None:
        return [apply_defaults(v, node.items) for v in value]
    return value


def go_numbers(value: Any) -> Any:
    """Numbers as the API server stores them: it decodes JSON numbers into int64 or float64 and Go's encoding/json
    writes a float64 holding an integer below 1e21 without a fraction, so 1.0 is read back as 1."""
    if isinstance(value, dict):
        return {k: go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [go_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


# --- OpenAPI validation --------------------------------------------------------------------------------

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _type_ok(value: Any, t: str) -> bool:
    if t == "integer":  # kube-openapi takes a float64 holding an integer as one (validate/type.go isFloatInt)
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if t == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, _TYPES[t]) if t in _TYPES else True


def _type_cause(path: str, value: Any, expected: str) -> Cause:
    return Cause("FieldValueTypeInvalid",
                 f"Invalid value: {_shown(value)}: {path} in body must be of type {expected}: \"{_json_type(value)}\"",
                 path)


def openapi_causes(value: Any, node: Node, path: str, old: Any = _MISSING) -> Iterator[Cause]:
    """kube-openapi's schema validation of one value; values equal to their old value are ratcheted."""
    if old is not _MISSING and old == value:
        return
    if value is None:
        if not node.nullable and node.type is not None:
            yield _type_cause(path, value, node.type)
        return
    if node.type is not None and not _type_ok(value, node.type):
        yield _type_cause(path, value, node.type)
        return
    if node.enum is not None and value not in node.enum:
        supported = ", ".join(json.dumps(v) for v in node.enum)
        yield Cause("FieldValueNotSupported", f"Unsupported value: {_shown(value)}: supported values: {supported}",
                    path)
    if isinstance(value, str):
        yield from _string_causes(value, node, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield from _number_causes(value, node, path)
    elif isinstance(value, list):
        yield from _array_causes(value, node, path, old)
    elif isinstance(value, dict):
        yield from _object_causes(value, node, path, old)


def _string_causes(value: str, node: Node, path: str) -> Iterator[Cause]:
    if node.max_length is not None and len(value) > node.max_length:
        yield Cause("FieldValueTooLong", f"Too long: may not be more than {node.max_length} bytes", path)
    if node.min_length is not None and len(value) < node.min_length:
        yield _invalid(path, value, f"{path} in body should be at least {node.min_length} chars long")
    if node.pattern is not None and not node.pattern.search(value):
        yield _invalid(path, value, f"{path} in body should match '{node.pattern_text}'")
    check = _FORMATS.get(node.format or "")
    if check is not None and not check(value):
        detail = f"{path} in body must be of type {node.format}: {json.dumps(value)}"
        yield Cause("FieldValueTypeInvalid", f"Invalid value: {_shown(value)}: {detail}", path)


def _number_causes(value: float, node: Node, path: str) -> Iterator[Cause]:
    if node.maximum is not None:
        if node.exclusive_maximum and value >= node.maximum:
            yield _invalid(path, value, f"{path} in body should be less than {_number(node.maximum)}")
        elif value > node.maximum:
            yield _invalid(path, value, f"{path} in body should be less than or equal to {_number(node.maximum)}")
    if node.minimum is not None:
        if node.exclusive_minimum and value <= node.minimum:
            yield _invalid(path, value, f"{path} in body should be greater than {_number(node.minimum)}")
        elif value < node.minimum:
            yield _invalid(path, value, f"{path} in body should be greater than or equal to {_number(node.minimum)}")
    if node.multiple_of and not float(value / node.multiple_of).is_integer():
        yield _invalid(path, value, f"{path} in body should be a multiple of {_number(node.multiple_of)}")


def _array_causes(value: list[Any], node: Node, path: str, old: Any) -> Iterator[Cause]:
    if node.max_items is not None and len(value) > node.max_items:
        yield Cause("FieldValueTooMany", f"Too many: {len(value)}: must have at most {node.max_items} items", path)
    if node.min_items is not None and len(value) < node.min_items:
        yield _invalid(path, value, f"{path} in body should have at least {node.min_items} items")
    if node.items is None:
        return
    olds = _correlated_items(node, old)
    for i, item in enumerate(value):
        yield from openapi_causes(item, node.items, f"{path}[{i}]", olds(item))


def _object_causes(value: dict[str, Any], node: Node, path: str, old: Any) -> Iterator[Cause]:
    if node.max_properties is not None and len(value) > node.max_properties:
        yield Cause("FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {node.max_properties} items", path)
    if node.min_properties is not None and len(value) < node.min_properties:
        yield _invalid(path, value, f"{path} in body should have at least {node.min_properties} properties")
    for key in node.required:
        if key not in value:
            yield Cause("FieldValueRequired", "Required value", _child_path(path, key))
    old_map = old if isinstance(old, dict) else {}
    for key, sub in value.items():
        if key in node.properties:
            yield from openapi_causes(sub, node.properties[key], _child_path(path, key), old_map.get(key, _MISSING))
        elif node.additional is not None:
            yield from openapi_causes(sub, node.additional, f"{path}[{key}]", old_map.get(key, _MISSING))


def _correlated_items(node: Node, old: Any) -> Any:
    """Old list items correlate with new ones only in list-type maps, by their keys (never by index)."""
    if node.list_type != "map" or not isinstance(old, list):
        return lambda item: _MISSING
    keys = node.list_map_keys
    by_key = {tuple(o.get(k) for k in keys): o for o in old if isinstance(o, dict)}
    return lambda item: by_key.get(tuple(item.get(k) for k in keys), _MISSING) if isinstance(item, dict) else _MISSING


def list_type_causes(value: Any, node: Node | None, path: str) -> Iterator[Cause]:
    """Uniqueness of list-type set items and list-type map keys (listtype/validation.go)."""
    if node is None:
        return
    if isinstance(value, dict):
        for key, sub in value.items():
            child = node.properties.get(key)
            if child is not None:
                yield from list_type_causes(sub, child, _child_path(path, key))
            elif node.additional is not None:
                yield from list_type_causes(sub, node.additional, f"{path}[{key}]")
    elif isinstance(value, list):
        if node.list_type == "set":
            yield from _duplicates(path, [json.dumps(v, sort_keys=True) for v in value], value)
        elif node.list_type == "map":
            for i, item in enumerate(value):
                if item is not None and not isinstance(item, dict):
                    yield _invalid(f"{path}[{i}]", item, "must be an object for an array of list-type map")
                    return
            keys = [{k: item[k] for k in node.list_map_keys if k in item} for item in value if item is not None]
            yield from _duplicates(path, [json.dumps(k, sort_keys=True) for k in keys], keys)
        for i, item in enumerate(value):
            yield from list_type_causes(item, node.items, f"{path}[{i}]")


def _duplicates(path: str, seen_as: list[str], shown: list[Any]) -> Iterator[Cause]:
    counts: dict[str, int] = {}
    for i, key in enumerate(seen_as):
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 2:  # each duplicated value reported once, at its second appearance
            yield Cause("FieldValueDuplicate", f"Duplicate value: {json.dumps(shown[i], sort_keys=True)}",
                        f"{path}[{i}]")


# --- CEL --------------------------------------------------------------------------------------------------

def to_cel(value: Any, node: Node | None) -> Any:
    """A JSON value typed for CEL the way the API server types it from the schema."""
    if node is None:
        return _json_to_cel(value)
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(k): to_cel(v, _child(node, k)) for k, v in value.items()})
    if isinstance(value, list):
        return celtypes.ListType([to_cel(v, node.items) for v in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if node.type == "number" and isinstance(value, int | float):
        return celtypes.DoubleType(value)
    if node.type == "string" and node.format == "date-time" and isinstance(value, str):
        try:
            return celtypes.TimestampType(value)
        except ValueError:
            return celtypes.StringType(value)
    return _json_to_cel(value)


def _rule_field(path: str, rule: Rule) -> str:
    return path + rule.field_path if rule.field_path else path


_VERDICTS_KEPT = 5_000  # per rule


def _verdict(rule: Rule, value: Any, old: Any, node: Node) -> tuple[str, str | None]:
    """("ok" | "error" | "nonbool" | "false", detail) of one rule on one value (and old value)."""
    key = (json.dumps(value, sort_keys=True), "" if old is _MISSING else json.dumps(old, sort_keys=True))
    if key in rule.verdicts:
        return rule.verdicts[key]
    self_cel = to_cel(value, node)
    activation = {"self": self_cel} if old is _MISSING else {"self": self_cel, "oldSelf": to_cel(old, node)}
    verdict: tuple[str, str | None]
    try:
        ok = rule.program.evaluate(activation)
    except Exception as exc:  # an evaluation error refuses the object, as the API server's does
        verdict = ("error", str(exc.args[0] if exc.args else exc))
    else:
        if not isinstance(ok, celtypes.BoolType):
            verdict = ("nonbool", None)
        elif bool(ok):
            verdict = ("ok", None)
        else:
            message = None
            if rule.message_program is not None:
                with contextlib.suppress(Exception):  # the API server falls back to message when it fails
                    message = str(rule.message_program.evaluate(activation))
            verdict = ("false", message)
    if len(rule.verdicts) >= _VERDICTS_KEPT:
        rule.verdicts.clear()
    rule.verdicts[key] = verdict
    return verdict


def _rule_cause(path: str, node: Node, rule: Rule, value: Any, old: Any) -> Cause | None:
    outcome, detail = _verdict(rule, value, old, node)
    if outcome == "ok":
        return None
    if outcome == "error":
        return _invalid(path, _typed_placeholder(node), f"{rule.text}: evaluation error: {detail}")
    if outcome == "nonbool":
        return _invalid(path, _typed_placeholder(node), f"{rule.text}: rule did not evaluate to bool")
    message = detail or rule.message or f"failed rule: {rule.text}"
    where = _rule_field(path, rule)
    if rule.reason == "FieldValueForbidden":
        return Cause(rule.reason, f"Forbidden: {message}", where)
    if rule.reason == "FieldValueRequired":
        return Cause(rule.reason, f"Required value: {message}", where)
    if rule.reason == "FieldValueDuplicate":
        return Cause(rule.reason, f"Duplicate value: {message}", where)
    return _invalid(where, _typed_placeholder(node), message)


def _typed_placeholder(node: Node) -> Any:
    """CEL errors show the schema type where the value would be ("Invalid value: \"object\": ...")."""
    return {"object": {}, "array": []}.get(node.type or "", node.type or "object")


def cel_causes(value: Any, node: Node | None, path: str, old: Any = _MISSING,
               ratchet: bool = True) -> Iterator[Cause]:
    """Every x-kubernetes-validations rule where its value exists; ratcheted on unchanged values."""
    if node is None or value is None:
        return
    unchanged = ratchet and old is not _MISSING and old == value
    if unchanged and not node.transition_below:
        return
    if node.rules:
        for rule in node.rules:
            if rule.transition and old is _MISSING:
                continue  # a transition rule needs an old value: skipped on create and on uncorrelated items
            if unchanged and not rule.transition:
                continue
            cause = _rule_cause(path, node, rule, value, old if rule.transition else _MISSING)
            if cause is not None:
                yield cause
    if isinstance(value, dict):
        old_map = old if isinstance(old, dict) else {}
        for key, sub in value.items():
            child = node.properties.get(key)
            here = _child_path(path, key)
            if child is None and node.additional is not None:
                child, here = node.additional, f"{path}[{key}]"
            yield from cel_causes(sub, child, here, old_map.get(key, _MISSING), ratchet)
    elif isinstance(value, list) and node.items is not None:
        olds = _correlated_items(node, old)
        for i, item in enumerate(value):
            yield from cel_causes(item, node.items, f"{path}[{i}]", olds(item), ratchet)


def default_causes(node: Node, path: str = "") -> Iterator[Cause]:
    """What the API server refuses in a CRD's defaults when the CRD is created (defaulting/validation.go
    ValidateDefaults): each `default` exactly as written (nested defaults are not filled in first), against its
    node's schema and then its CEL rules, the rules below it included, with oldSelf the default itself, so a
    transition rule runs too. Properties and items are followed; additionalProperties are not (defaults are
    forbidden there)."""
    if node.default is not _MISSING:
        here = f"{path}.default" if path else "default"
        pruned: list[str] = []
        prune(copy.deepcopy(node.default), node, here, pruned)
        schema = [*openapi_causes(node.default, node, here),
                  *(_invalid(here, "object", f"must not have unknown fields ({p})") for p in pruned)]
        yield from schema
        if not schema:
            yield from cel_causes(node.default, node, here, node.default, ratchet=False)
    for key, sub in node.properties.items():
        yield from default_causes(sub, f"{path}.properties[{key}]")
    if node.items is not None:
        yield from default_causes(node.items, f"{path}.items")


@dataclass
class CustomResourceSchema:
    """One served version of a CRD: what the API server does with its schema on every write."""

    group: str
    version: str
    kind: str
    plural: str
    root: Node
    status_subresource: bool

    @property
    def has_rules(self) -> bool:
        return _has_rules(self.root)

    @classmethod
    def from_crd(cls, crd: Mapping[str, Any]) -> list[CustomResourceSchema]:
        spec = crd["spec"]
        out = []
        for version in spec["versions"]:
            raw = version.get("schema", {}).get("openAPIV3Schema")
            if raw is None:
                raise SchemaError(f"{spec['names']['kind']} {version['name']}: no openAPIV3Schema")
            root = compile_node(raw)
            refused = [str(c) for c in default_causes(root, "spec.validation.openAPIV3Schema")]
            if refused:  # the API server's 422 on the CRD itself
                raise SchemaError(f"{spec['names']['kind']} {version['name']}: {'; '.join(refused)}")
            out.append(cls(group=spec["group"], version=version["name"], kind=spec["names"]["kind"],
                           plural=spec["names"]["plural"], root=root,
                           status_subresource="status" in version.get("subresources", {})))
        return out

    def normalise(self, obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Prune, prune nulls, default: what the request decoder does before anything else sees the object."""
        pruned: list[str] = []
        out = prune(go_numbers(obj), self.root, "", pruned, root=True)
        return apply_defaults(prune_nulls(out, self.root), self.root), pruned

    def causes(self, new: dict[str, Any], old: dict[str, Any] | None, *, ratcheting: bool = True) -> list[Cause]:
        """Schema, list-type and CEL validation of a whole object (update when `old` is given)."""
        body = {k: v for k, v in new.items() if k not in _ROOT_KEPT}
        old_body: Any = _MISSING if old is None or not ratcheting else {k: v for k, v in old.items()
                                                                          if k not in _ROOT_KEPT}
        found = list(openapi_causes(body, self.root, "", old_body))
        duplicates = list(list_type_causes(body, self.root, ""))
        if duplicates and (old is None or not any(list_type_causes(old, self.root, ""))):  # ratcheted: old was bad
            found += duplicates
        if not self.has_rules:
            return found
        if any(c.reason in BLOCKING for c in found):
            found.append(Cause("FieldValueInvalid", "some validation rules were not checked because the object "
                               "was invalid; correct the existing errors to complete validation", ""))
            return found
        old_body = _MISSING if old is None else {k: v for k, v in old.items() if k not in _ROOT_KEPT}
        found += cel_causes(body, self.root, "", old_body, ratcheting)
        return found

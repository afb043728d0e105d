"""A static CEL cost estimator for CRD validation rules, modelled on the API server's, so a test can see a CRD's
worst-case rule costs without a cluster.

What the API server does (sources read with the `search` tool):
- k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation/validation.go: each rule's estimated cost is
  `getExpressionCost` = cel-go's estimated MaxCost of the expression x the rule's cardinality (how many times the
  schema node the rule sits on can occur: the product of maxItems / maxProperties of the lists and maps above it),
  refused over `StaticEstimatedCostLimit` = 10,000,000; the sum over the CRD refused over
  `StaticEstimatedCRDCostLimit` = 100,000,000.
- k8s.io/apiserver/pkg/cel/common/schemas.go: a string's size is maxLength x 4 (bytes per rune), an enum's its
  longest value, a date-time 32; without bounds a string, list or map is as large as a 3 MiB request allows.
- k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/compilation.go (sizeEstimator): a map's keys are sized by
  the generic string type, which carries no bound there; we charge each key KEY_SIZE bytes instead (conservative).
- cel-go checker/cost.go and k8s.io/apiserver/pkg/cel/library/cost.go: identifiers and field selections cost 1,
  `has` 1, string traversal 0.1 per byte (==, startsWith, endsWith, split, +), `matches` (0.1 x string bytes) x
  (0.25 x regex bytes), `in` on a list its size, comprehensions (all, exists, exists_one) the range's size x the
  body per iteration plus the loop's own steps.
This model rounds every step up and charges equality of lists and objects by a full traversal: its figures are an
upper bound of the API server's, never below them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import celpy
from lark import Token, Tree

STATIC_ESTIMATED_COST_LIMIT = 10_000_000  # per rule (validation.go StaticEstimatedCostLimit)
STATIC_ESTIMATED_CRD_COST_LIMIT = 100_000_000  # per CRD (validation.go StaticEstimatedCRDCostLimit)
MAX_REQUEST_BYTES = 3 * 1024 * 1024  # apiservercel.DefaultMaxRequestSizeBytes
KEY_SIZE = 256  # bytes charged per map key (the API server charges none)
DATE_TIME_SIZE = 32  # apiservercel.MaxDatetimeSizeJSON
TRAVERSAL = 0.1  # common.StringTraversalCostFactor
REGEX = 0.25  # common.RegexStringLengthCostFactor
LOOP_STEP = 3  # per iteration: the accumulator's read, the step's && (or ?:), the loop condition


class CostModelError(ValueError):
    """A construct this model does not price: extend it rather than guess."""


@dataclass
class Shape:
    """What the estimator knows of a value: its kind and its largest size."""

    kind: str  # str, list, map, obj, scalar
    size: int = 0  # bytes for str, items for list and map
    elem: Shape | None = None  # list item or map value
    props: dict[str, Shape] = field(default_factory=dict)


SCALAR = Shape("scalar")
_Node = Tree[Token] | Token  # a lark parse tree node as celpy builds it


def _min_size(node: dict[str, Any]) -> int:
    """Smallest JSON serialisation of a value of `node` (schemas.go MinSerializedSize)."""
    t = node.get("type")
    if t == "string":
        return 2
    if t == "boolean":
        return 4
    if t == "object" and "properties" in node:
        required = set(node.get("required", []))
        return 2 + sum(len(k) + _min_size(v) + 4 for k, v in node["properties"].items()
                       if k in required and "default" not in v)
    if t in ("object", "array"):
        return 2
    return 1


def shape_of(node: dict[str, Any]) -> Shape:
    """The Shape of values of a structural-schema node, from its bounds as the API server reads them."""
    t = node.get("type")
    if t == "string":
        if "maxLength" in node:
            return Shape("str", node["maxLength"] * 4)
        if node.get("enum"):
            return Shape("str", max(len(str(v)) for v in node["enum"]))
        if node.get("format") == "date-time":
            return Shape("str", DATE_TIME_SIZE)
        return Shape("str", MAX_REQUEST_BYTES - 2)
    if t == "array":
        items = node.get("items", {})
        n = node.get("maxItems", (MAX_REQUEST_BYTES - 2) // (_min_size(items) + 1))
        return Shape("list", n, shape_of(items))
    if t == "object" and isinstance(node.get("additionalProperties"), dict):
        value = node["additionalProperties"]
        n = node.get("maxProperties", (MAX_REQUEST_BYTES - 2) // (_min_size(value) + 6))
        return Shape("map", n, shape_of(value))
    if t == "object":
        return Shape("obj", props={k: shape_of(v) for k, v in node.get("properties", {}).items()})
    return SCALAR


def _traverse(s: Shape) -> int:
    """Cost of comparing or walking a whole value of shape `s`."""
    if s.kind == "str":
        return math.ceil(s.size * TRAVERSAL)
    if s.kind == "list":
        return s.size * (1 + _traverse(s.elem or SCALAR))
    if s.kind == "map":
        return s.size * (1 + math.ceil(KEY_SIZE * TRAVERSAL) + _traverse(s.elem or SCALAR))
    if s.kind == "obj":
        return sum(1 + _traverse(p) for p in s.props.values())
    return 1


def _unquote(token: str) -> str:
    body = token.lstrip("rR")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[0]
    return body[len(quote):-len(quote)]


class _Estimator:
    def __init__(self, scope: dict[str, Shape]) -> None:
        self.scope = scope

    def cost(self, node: _Node) -> tuple[int, Shape]:
        if isinstance(node, Token):
            raise CostModelError(f"unexpected token {node!r}")
        kids = node.children
        rule = node.data
        if rule in ("expr",) and len(kids) == 3 and kids[1] is not None:  # c ? a : b
            c, a, b = (self.cost(k) for k in kids)
            return c[0] + max(a[0], b[0]) + 1, a[1] if a[0] >= b[0] else b[1]
        if rule in ("conditionalor", "conditionaland") and len(kids) == 2 and kids[0] is not None:
            lhs, rhs = self.cost(kids[0]), self.cost(kids[1])
            return lhs[0] + rhs[0] + 1, SCALAR
        if rule in ("relation", "addition", "multiplication") and len(kids) == 2 and kids[0] is not None:
            op = kids[0]
            assert isinstance(op, Tree)
            lhs, rhs = self.cost(op.children[0]), self.cost(kids[1])
            base = lhs[0] + rhs[0] + 1
            if op.data in ("relation_eq", "relation_ne"):
                return base + _traverse(lhs[1]), SCALAR
            if op.data == "relation_in":
                coll = rhs[1]
                if coll.kind == "list":
                    return base + coll.size * (1 + _traverse(lhs[1])), SCALAR
                return base + _traverse(lhs[1]), SCALAR  # map lookup: hash the key
            if op.data == "addition_add" and lhs[1].kind == "str":
                size = lhs[1].size + rhs[1].size
                return base + math.ceil(size * TRAVERSAL), Shape("str", size)
            return base, SCALAR
        if rule == "unary" and len(kids) == 2:
            inner = self.cost(kids[1])
            return inner[0] + 1, inner[1]
        if len(kids) == 1 and isinstance(kids[0], Tree) and rule in (
                "expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary",
                "member", "primary", "paren_expr"):
            return self.cost(kids[0])
        if len(kids) == 2 and kids[0] is None:  # optional left operand absent
            return self.cost(kids[1])
        if len(kids) == 3 and rule == "expr" and kids[1] is None:
            return self.cost(kids[0])
        if rule == "literal":
            tok = kids[0]
            assert isinstance(tok, Token)
            if tok.type in ("STRING_LIT", "MLSTRING_LIT"):
                return 0, Shape("str", len(_unquote(str(tok)).encode()))
            return 0, SCALAR
        if rule == "ident":
            name = str(kids[0])
            if name not in self.scope:
                raise CostModelError(f"unknown identifier {name}")
            return 1, self.scope[name]
        if rule == "member_dot":
            target, name = self.cost(kids[0]), str(kids[1])
            return target[0] + 1, self._field(target[1], name)
        if rule == "member_index":
            target, index = self.cost(kids[0]), self.cost(kids[1])
            elem = target[1].elem if target[1].kind in ("list", "map") else None
            if elem is None:
                raise CostModelError("index into a value that is neither a list nor a map")
            return target[0] + index[0] + 1, elem
        if rule == "ident_arg":
            name, args = str(kids[0]), self._args(kids[1])
            if name == "has":
                return self._has(args[0]), SCALAR
            if name in ("size", "double"):  # double(): a numeric conversion, one step as in cel-go's estimator
                arg = self.cost(args[0])
                return arg[0] + 1, SCALAR
            raise CostModelError(f"function {name}() is not priced")
        if rule == "member_dot_arg":
            return self._method(kids[0], str(kids[1]), self._args(kids[2]))
        if rule == "list_lit":
            items = [self.cost(e) for e in self._args(kids[0])]
            return 10 + sum(c for c, _ in items), Shape("list", len(items), items[0][1] if items else SCALAR)
        raise CostModelError(f"grammar rule {rule} is not priced")

    @staticmethod
    def _args(node: Any) -> list[_Node]:
        return list(node.children) if isinstance(node, Tree) else []

    def _has(self, arg: _Node) -> int:
        """has(x.f) costs what reaching x costs, plus the presence test."""
        cost, _ = self.cost(arg)
        return cost  # the selection's own 1 stands for the presence test

    @staticmethod
    def _field(target: Shape, name: str) -> Shape:
        if target.kind == "obj":
            if name not in target.props:
                raise CostModelError(f"no field {name}")
            return target.props[name]
        if target.kind == "map":
            return target.elem or SCALAR
        raise CostModelError(f"field {name} of a {target.kind}")

    def _method(self, target_node: Any, name: str, args: list[_Node]) -> tuple[int, Shape]:
        if name in ("all", "exists", "exists_one"):
            rng_cost, rng = self.cost(target_node)
            var = args[0]
            var_name = str(_first_ident(var))
            item = (rng.elem if rng.kind == "list" else Shape("str", KEY_SIZE)) or SCALAR
            inner = _Estimator({**self.scope, var_name: item})
            body, _ = inner.cost(args[1])
            return rng_cost + 1 + rng.size * (body + LOOP_STEP), SCALAR
        target_cost, target = self.cost(target_node)
        arg_costs = [self.cost(a) for a in args]
        base = target_cost + sum(c for c, _ in arg_costs) + 1
        if name in ("startsWith", "endsWith", "contains"):
            return base + math.ceil(max(target.size, arg_costs[0][1].size) * TRAVERSAL), SCALAR
        if name == "matches":
            pattern = arg_costs[0][1].size
            return base + math.ceil(target.size * TRAVERSAL) * math.ceil(pattern * REGEX), SCALAR
        if name == "split":  # the pieces: as many as the string has bytes, each as long as the string
            return base + math.ceil(target.size * TRAVERSAL), Shape("list", target.size, Shape("str", target.size))
        if name == "size":
            return base, SCALAR
        raise CostModelError(f"method {name}() is not priced")


def _first_ident(node: _Node) -> Token:
    for tok in (node.scan_values(lambda v: isinstance(v, Token) and v.type == "IDENT")
                if isinstance(node, Tree) else [node]):
        return tok
    raise CostModelError("comprehension without a variable")


def expression_cost(expr: str, node: dict[str, Any]) -> int:
    """Estimated worst-case cost of one evaluation of rule `expr` on schema `node` (self, and oldSelf)."""
    shape = shape_of(node)
    tree = celpy.Environment().compile(expr)
    cost, _ = _Estimator({"self": shape, "oldSelf": shape}).cost(tree)
    return cost


@dataclass(frozen=True)
class RuleCost:
    """One rule's estimate: where it sits, its per-evaluation cost, how often it can run, and the product."""

    path: str
    rule: str
    per_call: int
    cardinality: int

    @property
    def total(self) -> int:
        return self.per_call * self.cardinality


def rule_costs(node: dict[str, Any], path: str = "", cardinality: int = 1) -> list[RuleCost]:
    """Every rule under `node` with its estimated cost x the node's cardinality (validation.go getExpressionCost)."""
    out = [RuleCost(path or "(root)", r["rule"], expression_cost(r["rule"], node), cardinality)
           for r in node.get("x-kubernetes-validations", [])]
    for name, sub in node.get("properties", {}).items():
        out += rule_costs(sub, f"{path}.{name}", cardinality)
    shape = shape_of(node)
    if isinstance(node.get("items"), dict):
        out += rule_costs(node["items"], f"{path}[]", cardinality * shape.size)
    if isinstance(node.get("additionalProperties"), dict):
        out += rule_costs(node["additionalProperties"], f"{path}.*", cardinality * shape.size)
    return out

"""YAML as kubectl reads manifests, minus what only an attacker or a mistake needs: no aliases (a few hundred
bytes of aliases expand to billions of nodes), no duplicate keys (kubectl refuses them), bounded nesting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from hedgeops.api.validate import Problem

# Our kinds nest under 10 levels; the validators walk documents recursively, so depth is capped well below
# Python's recursion limit (10,000 nested lists used to end in a RecursionError traceback).
MAX_DEPTH = 64
JSON_SCALARS = (str, int, float, bool, type(None))


class ManifestYamlError(yaml.YAMLError):
    """YAML that parses but is refused; the message names the line."""

    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(f"line {mark.line + 1}: {message}" if mark is not None else message)


class ManifestLoader(yaml.SafeLoader):
    """SafeLoader refusing aliases, duplicate keys and deep nesting; timestamps stay strings, as kubectl's
    YAML-to-JSON conversion keeps them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ManifestYamlError(event.start_mark, f"YAML aliases (*{event.anchor}) are refused: expanding them "
                                    "can blow a few hundred bytes up to gigabytes; write the values out")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ManifestYamlError(self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                                        f"nested deeper than {MAX_DEPTH} levels: not a manifest")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # merge keys first (idempotent: the base class calls it again)
        first: dict[Any, Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base class refuses it with its own message
            if seen is not key_node:
                raise ManifestYamlError(key_node.start_mark, f"duplicate key {key!r} (first on line "
                                        f"{seen.start_mark.line + 1}); kubectl refuses it too")
        return super().construct_mapping(node, deep)


def _timestamp_as_text(loader: yaml.SafeLoader, node: Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


ManifestLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)
# kubectl's YAML (go-yaml) reads `1e4` and `2.5E-3` as numbers; PyYAML's YAML 1.1 floats need a dot and a signed
# exponent, so `amountQuote: 1e4` was a string and refused. Integers keep resolving first (the int resolver was
# added before this one).
ManifestLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."))


def load_all(text: str) -> Iterator[Any]:
    """Every document in the text, loaded by ManifestLoader."""
    return yaml.load_all(text, Loader=ManifestLoader)


def shape_problems(value: Any, path: str = "") -> list[Problem]:
    """What is not JSON in a document (non-string keys, sets, binary): the API server only takes JSON."""
    if isinstance(value, dict):
        out: list[Problem] = []
        for key, sub in value.items():
            if not isinstance(key, str):
                out.append(Problem(path or "(root)", f"key {key!r} is not a string; quote it"))
            else:
                out += shape_problems(sub, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list):
        return [p for i, sub in enumerate(value) for p in shape_problems(sub, f"{path}[{i}]")]
    if isinstance(value, JSON_SCALARS):
        return []
    return [Problem(path or "(root)", f"a {type(value).__name__} is not a JSON value")]

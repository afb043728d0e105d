"""One codec for every frozen dataclass the runtime writes down (write-ahead intents, journal entries): to a JSON
document and back, by the dataclass's own type hints. Money stays exact (Decimal as text), times are ISO 8601,
enums their value. A document that does not fit its type is a `CodecError` naming the field, never a KeyError."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


# Field metadata for an optional field written as null rather than left out (a document whose readers expect the
# key): `price: Decimal | None = field(default=None, metadata=KEEP_NULL)`.
KEEP_NULL = {"keep_null": True}


class CodecError(ValueError):
    """A document that does not decode into its type (the message names the field)."""


def to_doc(value: Any) -> Any:
    """A dataclass (or anything inside one) as JSON-ready values. A field that is None is left out, unless its
    metadata is KEEP_NULL."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_doc(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None or f.metadata.get("keep_null")}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_doc(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_doc(v) for k, v in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_doc(cls: type[T], doc: Any, where: str = "") -> T:
    """`doc` decoded as `cls` (a dataclass)."""
    if not isinstance(doc, dict):
        raise CodecError(f"{where or cls.__name__}: expected an object, got {type(doc).__name__}")
    hints, out = _hints(typing.cast(type, cls)), {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        path = f"{where}.{f.name}" if where else f.name
        if f.name in doc:
            out[f.name] = _decode(hints[f.name], doc[f.name], path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            if _optional(hints[f.name]):
                out[f.name] = None
            else:
                raise CodecError(f"{path}: missing")
    return cls(**out)


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _decode(tp: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _decode(inner[0], value, path)
        return value  # a union of several types: kept as the document says
    if tp is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise CodecError(f"{path}: expected a list")
        item = args[0] if args else Any
        items = [_decode(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise CodecError(f"{path}: expected an object")
        return {k: _decode(args[1] if args else Any, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            return from_doc(tp, value, path)
        if issubclass(tp, enum.Enum):
            try:
                return tp(value)
            except ValueError:
                raise CodecError(f"{path}: {value!r} is not one of {[m.value for m in tp]}") from None
        if tp is Decimal:
            try:
                return Decimal(str(value))
            except InvalidOperation:
                raise CodecError(f"{path}: {value!r} is not a number") from None
        if tp is datetime:
            try:
                return datetime.fromisoformat(str(value))
            except ValueError:
                raise CodecError(f"{path}: {value!r} is not an ISO 8601 time") from None
        if tp is bool:
            if not isinstance(value, bool):
                raise CodecError(f"{path}: expected true or false")
            return value
        if tp in (int, float, str):
            try:
                return tp(value)
            except (TypeError, ValueError):
                raise CodecError(f"{path}: {value!r} is not {tp.__name__}") from None
    return value

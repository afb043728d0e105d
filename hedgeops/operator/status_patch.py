"""A status as kopf writes it: a JSON merge patch the API server stores exactly as sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


def _without_nulls_in_lists(value: Any, in_list: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls_in_lists(v, in_list) for k, v in value.items() if not (in_list and v is None)}
    if isinstance(value, list):
        return [_without_nulls_in_lists(v, True) for v in value]
    return value


def _nulling_removed(new: Any, stored: Any) -> Any:
    """`new` with a null for every key the stored map has and `new` lacks, at every depth of maps (lists are
    replaced whole): a merge patch merges maps key by key, so a key a map lost would otherwise stay stored."""
    if not (isinstance(new, dict) and isinstance(stored, Mapping)):
        return new
    out = {k: _nulling_removed(v, stored.get(k)) for k, v in new.items()}
    out.update({k: None for k in stored if k not in new})
    return out


def status_patch(status: BaseModel, stored: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The status as a merge patch. A top-level null deletes the field (the patch's own meaning); a null inside a
    list item is left out: lists are replaced whole, and the API server would prune a null from a field that is
    not nullable anyway, making kopf report the write as inconsistent on every cycle.

    `stored`: the status as stored now. A map inside a field (basketMark.prices when a weight goes, a grid's free-form
    breaker) that has lost keys since gets a null for each, so the stored map is the new one, not both merged. Its
    own top-level keys the model does not know (kopf's progress) are never touched."""
    out: dict[str, Any] = _without_nulls_in_lists(status.model_dump(mode="json"))
    if stored:
        out = {k: _nulling_removed(v, stored.get(k)) for k, v in out.items()}
    return out

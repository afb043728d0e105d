"""A status as kopf writes it: a JSON merge patch the API server stores exactly as sent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _without_nulls_in_lists(value: Any, in_list: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls_in_lists(v, in_list) for k, v in value.items() if not (in_list and v is None)}
    if isinstance(value, list):
        return [_without_nulls_in_lists(v, True) for v in value]
    return value


def status_patch(status: BaseModel) -> dict[str, Any]:
    """The status as a merge patch. A top-level null deletes the field (the patch's own meaning); a null inside a
    list item is left out: lists are replaced whole, and the API server would prune a null from a field that is
    not nullable anyway, making kopf report the write as inconsistent on every cycle."""
    out: dict[str, Any] = _without_nulls_in_lists(status.model_dump(mode="json"))
    return out

"""A status is written as a merge patch the API server stores as sent: no null inside a list item (it would be
pruned from a field that is not nullable, and kopf would report every write as inconsistent), while a top-level
null still deletes its field."""

from __future__ import annotations

from hedgeops.operator.status_patch import status_patch

from .runtime_fixtures import book, policy, rig


async def test_nulls_inside_list_items_are_left_out_and_top_level_nulls_kept() -> None:
    r = rig()
    result = await r.reconciler.reconcile(book(), r.clock.now(), None, policy(execution={"normal": "Maker"}))
    raw = result.status.model_dump(mode="json")
    assert any(v is None for e in raw["exposures"] for v in e.values())  # the model has nulls in list items
    patch = status_patch(result.status)

    def nulls_in_lists(value: object, in_list: bool = False) -> int:
        if isinstance(value, dict):
            return sum((in_list and v is None) + nulls_in_lists(v, in_list) for v in value.values())
        if isinstance(value, list):
            return sum(nulls_in_lists(v, True) for v in value)
        return 0

    assert nulls_in_lists(patch) == 0
    assert set(patch) == set(raw) and all(patch[k] is None for k, v in raw.items() if v is None)

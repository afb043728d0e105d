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


def test_a_map_that_lost_keys_is_stored_as_the_new_one_not_merged_into_the_old() -> None:
    """A merge patch merges maps key by key: basketMark.prices without an asset whose weight went, or a grid's
    free-form breaker without a key, kept the old key stored (and the status then differed from the model on
    every cycle, a write per tick). The patch nulls each key the stored map has lost; kopf's own keys stay."""
    from decimal import Decimal

    from hedgeops.api.enhancement import GridStatus
    from hedgeops.api.hedgebook import BasketMark, HedgeBookStatus

    from .apiserver_strict import merge_patch

    old = HedgeBookStatus(basketMark=BasketMark(tokenPriceQuote=Decimal(1), prices={
        "SOL": Decimal(150), "ETH": Decimal(3000), "BTC": Decimal(90000)}))
    new = HedgeBookStatus(basketMark=BasketMark(tokenPriceQuote=Decimal(1), prices={"SOL": Decimal(151)}))
    stored = {**old.model_dump(mode="json"), "kopf": {"progress": {"h": {"retries": 1}}}}
    patch = status_patch(new, stored)
    prices = patch["basketMark"]["prices"]
    assert prices.keys() == {"SOL", "ETH", "BTC"} and prices["ETH"] is prices["BTC"] is None and "kopf" not in patch
    after = merge_patch(stored, patch)
    assert after["basketMark"]["prices"].keys() == {"SOL"} and after["kopf"] == stored["kopf"]
    assert HedgeBookStatus.model_validate(after) == new  # read back, the status is the model: no write next tick
    assert merge_patch(stored, status_patch(new))["basketMark"]["prices"].keys() == {"SOL", "ETH", "BTC"}  # before

    grid_old = GridStatus(symbol="SOL/USDT:USDT", breaker={"tripped": True, "reason": "loss", "legacy": 1})
    grid_new = GridStatus(symbol="SOL/USDT:USDT", breaker={"tripped": False})
    after = merge_patch(grid_old.model_dump(mode="json"), status_patch(grid_new, grid_old.model_dump(mode="json")))
    assert after["breaker"] == {"tripped": False} and GridStatus.model_validate(after) == grid_new
    assert status_patch(new) == status_patch(new, None)  # nothing stored: the model as it is

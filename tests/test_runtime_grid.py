"""Seed 004's second layer in the carry's cycle, on the paper venue and the bundled data (2025-01-02 00:00 UTC: BTC's
hourly ADX 22.8, a range; ETH funding 0.01%): the carry sizes its pair on the capital the layer leaves it, the grid
lays on its share, autoSelect and the claims leave the layer's perps to it, and a process killed in the middle of
laying the grid is followed by one that finds the orders sent by client id and sends none twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgeops.api.funding import FundingArbitrage
from hedgeops.engine.common.claims import carry_claims
from hedgeops.model.orders import OrderType

from .runtime_fixtures import killed_after, rig
from .test_runtime_carry import Carry

D = Decimal
BTC, SOL = "BTC/USDT:USDT", "SOL/USDT:USDT"


def layered(**spec: Any) -> FundingArbitrage:
    return FundingArbitrage.model_validate({"kind": "FundingArbitrage", "metadata": {
        "name": "eth", "namespace": "default", "uid": "uid-eth", "generation": 1}, "spec": {
            "exchange": {"name": "okx", "account": "main"},
            "pairs": [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"}],
            "capital": {"amountQuote": "10000"}, "exit": {"stopLossRatio": "-0.02"},
            "enhancement": {"capitalShare": "0.2", "grid": {"symbol": BTC, "stopLossRatio": "-0.05"},
                            "contrarian": {"symbol": SOL, "stopLossRatio": "-0.03"}}, **spec}})


async def test_the_carry_sizes_on_the_rest_and_the_grid_on_its_share() -> None:
    a = Carry(rig(), layered())
    res = await a.tick()
    venue = await a.venue()
    [leg] = res.status.legs
    eth = venue.quote("ETH/USDT").ask
    # 80% of 10000 for the carry, half of it as spot: about 4000 of ETH (less the slippage allowance)
    assert D(3900) < leg.spotQty * eth <= D(4000) and leg.perpQty == -leg.spotQty
    grid = res.status.grid
    assert grid is not None and grid.phase.value == "Running" and len(grid.orders) == 10
    btc = grid.levels[5]
    # the grid's half of the layer's 2000, at 1x, over 10 levels
    assert grid.levelQty == venue.account.markets[BTC].round_amount(D(1000) / (10 * btc))
    resting = [o for o in venue.account.open_orders() if o.symbol == BTC]
    assert len(resting) == 10 and all(o.type == OrderType.LIMIT for o in resting)
    contrarian = res.status.contrarian
    assert contrarian is not None and contrarian.symbol == SOL and contrarian.position == 0


async def test_autoselect_and_the_claims_leave_the_layers_perps_to_them() -> None:
    fa = layered(pairs=[], autoSelect={"maxSymbols": 3, "minVolumeQuote": "1000000"},
                 entry={"minFundingRate": "0"})
    res = await Carry(rig(), fa).tick()
    assert res.status.selection is not None and res.status.selection.candidates == 3
    assert [p.perp for p in res.status.selection.pairs] == ["ETH/USDT:USDT"]
    keys = {c[-1] for c in carry_claims(fa)}
    assert {f"perp:{BTC}", f"perp:{SOL}"} <= keys


async def test_a_grid_killed_mid_plan_is_recovered_by_client_id() -> None:
    a = Carry(rig(), layered())
    venue = await a.venue()
    async with killed_after(venue, 4) as sent:  # four of the grid's ten orders go, the process dies at the fifth
        await a.tick()
    assert len(sent) == 4
    res = await a.tick(5)  # the status as before the kill: the intent is newer
    assert "GridPlanRecovered" in {e.reason for e in res.events}
    resting = [o for o in venue.account.open_orders() if o.symbol == BTC]
    assert len(resting) == 10 and len({(o.side, o.price) for o in resting}) == 10  # none twice
    assert set(sent) <= {o.client_order_id for o in resting}
    assert res.status.grid is not None and len(res.status.grid.orders) == 10

"""FundingArbitrage autoSelect (seed 004's market scan) on the paper venue: the pair with the best real funding
rate among the liquid ones is carried; volume and rate filters; a held pair is never abandoned by a scan."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgeops.api.funding import AutoSelect, Entry, FundingArbitrage, Phase
from hedgeops.engine.carry.select import Candidate, liquid, select

from .runtime_fixtures import rig
from .test_runtime_carry import Carry

D = Decimal
PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]


def auto(pairs: list[dict[str, str]] | None = None, **select_spec: Any) -> FundingArbitrage:
    return FundingArbitrage.model_validate({"kind": "FundingArbitrage", "metadata": {
        "name": "auto", "uid": "uid-auto", "generation": 1}, "spec": {
            "exchange": {"name": "okx", "account": "auto"}, "pairs": pairs or [],
            "autoSelect": {"maxSymbols": 1, "minVolumeQuote": "1000000", **select_spec},
            "capital": {"amountQuote": "10000"}, "exit": {"stopLossRatio": "-0.02"},
            "entry": {"minFundingRate": "0.00001"}}})


async def test_the_best_real_funding_rate_is_carried() -> None:
    a = Carry(rig(), auto())
    res = await a.tick()
    venue = await a.venue()
    rates = {p: (await venue.funding_rate(p))[0] for p in PERPS}
    volume = {c.perp: c.volume_quote for c in await venue.carry_universe("USDT")}
    best = min(PERPS, key=lambda p: (-rates[p], -volume[p]))  # the best rate; on a tie, the most liquid
    assert res.status.selection is not None and res.status.selection.candidates == 3
    assert [p.perp for p in res.status.selection.pairs] == [best]
    assert res.status.selection.pairs[0].fundingRate == rates[best]
    assert res.status.selection.pairs[0].volumeQuote > D(10_000_000)  # real 24 h volume from the bundled data
    assert {"PairsSelected", "BootstrapPassed", "Entry"} <= {e.reason for e in res.events}, res.events
    assert [leg.perp for leg in res.status.legs] == [best]
    assert venue.leverage == {best: 1}  # leverage set on the picked pair only


async def test_nothing_liquid_enough_is_a_ready_idle_carry() -> None:
    a = Carry(rig(), auto(minVolumeQuote="1000000000000"))
    res = await a.tick()
    assert res.status.selection is not None and res.status.selection.pairs == []
    assert not res.status.legs and not (await a.venue()).account.orders
    message = next(e.message for e in res.events if e.reason == "PairsSelected")
    assert "nothing" in message
    ready = next(c for c in res.status.conditions if c.type == "Ready")
    assert ready.status.value == "True"


async def test_listed_pairs_bound_the_selection() -> None:
    a = Carry(rig(), auto(pairs=[{"spot": "SOL/USDT", "perp": "SOL/USDT:USDT"}]))
    res = await a.tick()
    assert res.status.selection is not None and [p.perp for p in res.status.selection.pairs] == ["SOL/USDT:USDT"]
    assert [leg.perp for leg in res.status.legs] == ["SOL/USDT:USDT"]


async def test_a_held_pair_is_not_abandoned_when_the_scan_stops_picking_it() -> None:
    a = Carry(rig(), auto())
    res = await a.tick()
    await a.tick(5)
    held = res.status.legs[0].perp
    # The owner raises the minimum volume so far that nothing qualifies: the next scan picks nothing new, but
    # the open position stays carried (its own exit rules close it), with its quantities intact.
    spec = a.fa.spec.model_copy(update={"autoSelect": AutoSelect(maxSymbols=1, minVolumeQuote=D("1e15"))})
    a.fa = a.fa.model_copy(update={"spec": spec})
    res = await a.tick(301)
    assert res.status.selection is not None and [p.perp for p in res.status.selection.pairs] == [held]
    leg = res.status.legs[0]
    assert leg.perp == held and leg.phase is Phase.OPEN and leg.perpQty < 0


def test_select_is_deterministic_and_respects_the_entry_range() -> None:
    cands = [Candidate("A/USDT", "A/USDT:USDT", D(5e7), D("0.0003")),
             Candidate("B/USDT", "B/USDT:USDT", D(9e7), D("0.0003")),
             Candidate("C/USDT", "C/USDT:USDT", D(9e7), D("0.05")),  # a squeeze, not carry
             Candidate("D/USDT", "D/USDT:USDT", D(1e3), D("0.001"))]  # too thin
    rules = AutoSelect(maxSymbols=2, minVolumeQuote=D(1e6))
    scored = liquid(cands, rules)
    assert [c.perp for c in scored] == ["B/USDT:USDT", "C/USDT:USDT", "A/USDT:USDT"]
    picked = select(scored, rules, Entry(), held=[])
    assert [c.perp for c in picked] == ["B/USDT:USDT", "A/USDT:USDT"]  # same rate: the more liquid first
    picked = select(scored, rules, Entry(), held=[("Z/USDT", "Z/USDT:USDT")])
    assert [c.perp for c in picked] == ["Z/USDT:USDT", "B/USDT:USDT"]  # held first, counted in maxSymbols

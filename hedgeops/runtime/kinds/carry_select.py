"""FundingArbitrage autoSelect: seed 004's market scan, the pairs a tick carries."""

from __future__ import annotations

from hedgeops.api.funding import CarryPair, Phase, SelectedPair, Selection
from hedgeops.engine.carry.pairs import q8
from hedgeops.engine.carry.select import Candidate, liquid, select
from hedgeops.model.journal import SelectionEntry
from hedgeops.runtime.cycle import CycleEvent
from hedgeops.runtime.kinds.carry_tick import ZERO, CarryTick


async def auto_select(t: CarryTick, events: list[CycleEvent]) -> tuple[Selection | None, list[CarryPair]]:
    """Seed 004's market scan: on the scan cadence, the pairs to carry picked by volume and funding rate.
    A pair holding a position is carried whether picked or not, until its machine closes it."""
    spec, auto, venue = t.fa.spec, t.fa.spec.autoSelect, t.guard.venue
    assert auto is not None
    held = [(leg.spot, leg.perp) for leg in t.status.legs
            if leg.phase not in (Phase.IDLE, Phase.CLOSED) or leg.spotQty != 0 or leg.perpQty != 0]
    selection = t.status.selection
    if "scan" in t.due or selection is None:
        universe = await venue.carry_universe(spec.quoteCurrency)
        within = {(p.spot, p.perp) for p in spec.pairs} or None
        # The second layer's grid perp is never carried: a one-way perp position would net with the carry's short.
        enh = spec.enhancement
        layers = {x.symbol for x in (enh.grid, enh.contrarian) if x is not None} if enh is not None else set()
        scored = [Candidate(c.spot, c.perp, c.volume_quote, (await venue.funding_rate(c.perp))[0])
                  for c in liquid([Candidate(u.spot, u.perp, u.volume_quote) for u in universe
                                   if u.perp not in layers], auto, within)]
        picked = select(scored, auto, spec.entry, held)
        fresh = Selection(at=t.now, candidates=len(universe), pairs=[
            SelectedPair(spot=c.spot, perp=c.perp, fundingRate=c.rate or ZERO,
                         volumeQuote=None if c.volume_quote is None else q8(c.volume_quote))
            for c in picked])
        before = [(p.spot, p.perp) for p in selection.pairs] if selection else None
        after = [(p.spot, p.perp) for p in fresh.pairs]
        if before != after:
            message = (", ".join(f"{p.perp} at {p.fundingRate:.4%}" for p in fresh.pairs) or
                       f"nothing: of {len(universe)} pairs none has {auto.minVolumeQuote} volume and funding "
                       f"in [{spec.entry.minFundingRate:.4%}, {spec.entry.maxFundingRate:.4%}]")
            events.append(CycleEvent("Normal", "PairsSelected", f"autoSelect picked {message}"))
            await t.guard.record(SelectionEntry(pairs=tuple(p.perp for p in fresh.pairs), candidates=len(universe)))
        selection = fresh
    pairs = [CarryPair(spot=p.spot, perp=p.perp) for p in selection.pairs]
    pairs += [CarryPair(spot=s, perp=p) for s, p in held if all((x.spot, x.perp) != (s, p) for x in pairs)]
    return selection, pairs

"""FundingArbitrage's self-check (seed 004's bootstrap) before the first trade, and the same check for a pair
autoSelect brings in later."""

from __future__ import annotations

from hedgeops.api.common import Mode
from hedgeops.api.funding import BootstrapStatus, CarryPair, Phase
from hedgeops.engine.carry.codec import decode
from hedgeops.engine.carry.rules import bootstrap_problems
from hedgeops.model.journal import AbnormalExitEntry, RefusedEntry
from hedgeops.model.orders import AccountSnapshot
from hedgeops.runtime.cycle import CycleEvent
from hedgeops.runtime.kinds.carry_tick import ZERO, CarryTick


async def check_new_pairs(t: CarryTick, snap: AccountSnapshot, pairs: list[CarryPair],
                          events: list[CycleEvent]) -> list[CarryPair]:
    """A pair autoSelect brings in after the first trade gets the same self-check (leftovers, leverage)
    before it may trade; one that fails is left out, the others go on."""
    known = {(leg.spot, leg.perp) for leg in t.status.legs}
    new = [p for p in pairs if (p.spot, p.perp) not in known]
    if not new:
        return pairs
    symbols = sorted({s for p in new for s in (p.spot, p.perp)})
    missing = [s for s in symbols if s not in snap.quotes]
    if missing:
        snap = await t.guard.venue.snapshot(symbols)
    skipped: set[tuple[str, str]] = set()
    for pair in new:
        check = await bootstrap(t, snap, [pair])
        if not check.passed:
            skipped.add((pair.spot, pair.perp))
            events.append(CycleEvent("Warning", "PairSkipped", "; ".join(check.problems)))
            await t.guard.record(RefusedEntry(reason="PairSkipped", message="; ".join(check.problems)))
    return [p for p in pairs if (p.spot, p.perp) not in skipped]


async def bootstrap(t: CarryTick, snap: AccountSnapshot, pairs: list[CarryPair]) -> BootstrapStatus:
    """Seed 004's self-check. Credentials: the private snapshot just worked (a refusal is CredentialsRejected
    before this). Leftovers: spot or perp this object did not open. An abnormal exit (a plan cut short, its
    intent newer than the status) is this object's own position: not a leftover, and recovered in the pair's
    turn from the intent before any new decision."""
    guard, legs = t.guard, t.status.legs
    problems: list[str] = []
    known = {(leg.spot, leg.perp) for leg in legs if leg.phase is not Phase.IDLE}
    seqs = {(leg.spot, leg.perp): decode(leg.machine).seq for leg in legs}
    for pair in pairs:
        intent = await t.intents.pending(f"{guard.intents}:{pair.perp}", seqs.get((pair.spot, pair.perp), 0))
        if intent is not None:
            known.add((pair.spot, pair.perp))
            await guard.record(AbnormalExitEntry(symbol=pair.perp, seq=intent.seq))
    for pair in pairs:
        base = pair.spot.split("/")[0]
        pos = snap.positions.get(pair.perp)
        checks = bootstrap_problems(has_credentials=True, live=t.fa.spec.mode is Mode.LIVE,
                                    leftover_spot=snap.balances.get(base, ZERO),
                                    leftover_perp=pos.qty if pos else ZERO,
                                    known_position=(pair.spot, pair.perp) in known, last_exit_abnormal=False)
        problems += [f"{pair.spot}/{pair.perp}: {c.message}" for c in checks]
    if not problems:
        for pair in pairs:
            await guard.venue.set_leverage(pair.perp, t.fa.spec.leverage)
    return BootstrapStatus(passed=not problems, at=t.now, problems=problems)

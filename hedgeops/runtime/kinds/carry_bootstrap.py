"""FundingArbitrage's self-check (seed 004's bootstrap) before the first trade, and the same check for a pair
autoSelect brings in later. A self-check holds for the account it ran against only: an object moved to another
account (Paper to Live, another account label, Secret or sandbox) starts afresh there, as on its first cycle."""

from __future__ import annotations

from hedgeops.api.common import Mode
from hedgeops.api.enhancement import ContrarianStatus, GridStatus
from hedgeops.api.funding import (
    BootstrapStatus,
    CarryLegStatus,
    CarryPair,
    FundingArbitrage,
    FundingArbitrageSpec,
    FundingArbitrageStatus,
    Phase,
)
from hedgeops.engine.carry.codec import decode, encode
from hedgeops.engine.carry.machine import CarryState
from hedgeops.engine.carry.pairs import PairMemory
from hedgeops.engine.carry.rules import bootstrap_problems
from hedgeops.model.journal import AbnormalExitEntry, RefusedEntry
from hedgeops.model.orders import AccountSnapshot
from hedgeops.runtime.cycle import CycleEvent
from hedgeops.runtime.kinds.carry_tick import ZERO, CarryTick

# A key in a pair's machine: the pair was carried over from another account and has not been checked on this one
# (its turn rewrites the machine without it, and a pair only takes a turn once it passed a self-check here).
UNCHECKED = "uncheckedOnThisAccount"


def account_of(spec: FundingArbitrageSpec) -> str:
    """The account a self-check runs against, in words: mode, exchange/account label and sandbox, which a Live
    object may not change (api/common.py live_account_rule). Not the credentials Secret: rotating an account's
    keys into a new Secret is the same account, and counting it another one reset a Live carry holding positions
    and then stopped it on them as leftovers."""
    ex = spec.exchange
    words = [spec.mode.value, f"{ex.name}/{ex.account}"]
    if ex.sandbox:
        words.append("sandbox")
    return " ".join(words)


def _same_account(recorded: str, here: str) -> bool:
    """A recorded account names this one (a record that also named the Secret, as one briefly did, too)."""
    return recorded == here or recorded.split(" secret ", 1)[0] == here


def on_account(fa: FundingArbitrage, status: FundingArbitrageStatus,
               ) -> tuple[FundingArbitrageStatus, list[CycleEvent]]:
    """The status as the account the spec names now may use it. The same account: as it is. Another one: the
    object starts afresh, as on its first cycle (the self-check runs, sets the leverage and looks for leftovers
    on this account before any order; every pair's wallets are its fresh share of the capital; the breaker, the
    grid and the contrarian trade start over), keeping only its plan numbers so that no client order id is used
    twice and no write-ahead intent of the old account is taken for this one's. What the old account holds stays
    there, no longer tracked: the event says so."""
    here, boot = account_of(fa.spec), status.bootstrap
    if boot.account is not None and _same_account(boot.account, here):
        return status, []  # this account's
    if boot.account is None and not boot.passed:
        return status, []  # no self-check has passed anywhere yet: it runs here first
    if boot.account is None:  # passed before the account was recorded: which one cannot be told
        held = any(leg.spotQty != 0 or leg.perpQty != 0 or leg.phase is not Phase.IDLE for leg in status.legs) \
            or any(x is not None and x.position != 0 for x in (status.grid, status.contrarian)) \
            or (status.grid is not None and bool(status.grid.orders))
        if fa.spec.mode is Mode.PAPER or held:  # a Paper account, or the positions it has been running here
            return status.model_copy(update={"bootstrap": boot.model_copy(update={"account": here})}), []
        return status.model_copy(update={"bootstrap": BootstrapStatus()}), []  # flat and Live: checked again
    left = [f"{leg.perp} ({leg.spotQty} spot / {leg.perpQty} perp)" for leg in status.legs
            if leg.spotQty != 0 or leg.perpQty != 0]
    left += [f"the {name}'s {x.symbol} ({x.position})" for name, x in (("grid", status.grid),
                                                                         ("contrarian trade", status.contrarian))
             if x is not None and x.position != 0]
    if status.grid is not None and status.grid.orders:
        left.append(f"the grid's {len(status.grid.orders)} order(s) on {status.grid.symbol}")
    left_words = f"; left on {boot.account}, no longer tracked: {', '.join(left)}" if left else ""
    spec = fa.spec
    fresh = FundingArbitrageStatus(
        observedGeneration=status.observedGeneration, conditions=status.conditions,
        legs=[_unchecked(leg, spec) for leg in status.legs],
        grid=None if status.grid is None else GridStatus(symbol=status.grid.symbol,
                                                         generation=status.grid.generation, seq=status.grid.seq),
        contrarian=None if status.contrarian is None else ContrarianStatus(symbol=status.contrarian.symbol,
                                                                           seq=status.contrarian.seq),
        bootstrap=BootstrapStatus(account=here))
    ran = "passed" if boot.passed else "ran"
    message = (f"the self-check {ran} on {boot.account}, not on {here}: the object starts afresh on {here} "
               f"(its self-check, leverage {spec.leverage}x and leftover check before any order; each pair's "
               f"wallets its fresh share of the capital){left_words}")
    return fresh, [CycleEvent("Warning", "AccountChanged", message)]


def _unchecked(leg: CarryLegStatus, spec: FundingArbitrageSpec) -> CarryLegStatus:
    """A pair carried over to another account: flat, its fresh share of the capital, its plan number kept."""
    mem = PairMemory.of(None, spec)
    machine = {**encode(CarryState(seq=decode(leg.machine).seq)), UNCHECKED: True}
    return CarryLegStatus(spot=leg.spot, perp=leg.perp, spotQty=ZERO, perpQty=ZERO,
                          spotWalletQuote=mem.spot_wallet, collateralQuote=mem.collateral, machine=machine)


async def check_new_pairs(t: CarryTick, snap: AccountSnapshot, pairs: list[CarryPair],
                          events: list[CycleEvent]) -> list[CarryPair]:
    """A pair autoSelect brings in after the first trade gets the same self-check (leftovers, leverage)
    before it may trade; one that fails is left out, the others go on. So does a pair carried over from another
    account that was not in play when the object moved."""
    known = {(leg.spot, leg.perp) for leg in t.status.legs if not leg.machine.get(UNCHECKED)}
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
    return BootstrapStatus(passed=not problems, at=t.now, problems=problems, account=account_of(t.fa.spec))

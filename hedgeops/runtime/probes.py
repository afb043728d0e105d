"""Each kind's stream probe (runtime/triggers.py): built after a cycle from the object, its new status and what the
cycle learned (markets, fees), then asked on every burst of stream updates whether the object is due before its
schedule. Pure: the live snapshot in, a Wake or None out; the same engine functions the cycle decides with.

- HedgeBook, Allocation objective: its weights at live prices against its targets; a band crossed: the next tick.
- HedgeBook (Hedge objective): the pure step on the live positions, quotes and open orders. An emergency band
  crossed wakes it at once; a normal band at the next tick. (A book's deviation is in units of the asset: a price
  move alone changes it only through what is priced, a pool's weights or an option's delta; a position or balance
  change, an outside fill, a liquidation, changes it at once.)
- MarketMaker: a quote filled (partly or wholly, or gone from the book), or the touch's mid moved beyond
  spec.requoteToleranceRatio (default half the spread) from where the quotes were placed: requote now.
- FundingArbitrage: each held pair's margin ratio re-estimated at the live mark; beyond the top-up or compound
  line: at once; a mark move of MARGIN_RECHECK_MOVE since the cycle: the next tick."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from hedgeops.api.funding import FundingArbitrage, FundingArbitrageStatus
from hedgeops.api.hedgebook import HedgeBook, HedgeBookStatus, HoldingsSource, ObjectiveType
from hedgeops.api.marketmaker import MarketMaker, MarketMakerStatus
from hedgeops.api.policy import RebalancePolicy
from hedgeops.engine.allocation.weights import decide_allocation
from hedgeops.engine.common.controls import Controls
from hedgeops.engine.hedge.delta import observed_positions
from hedgeops.engine.hedge.held import HoldingsUnavailable, resolve_holdings
from hedgeops.engine.hedge.signals import signal_from_status
from hedgeops.engine.hedge.step import HedgeObservation, foreign_orders, memory_of, step
from hedgeops.engine.hedge.triggers import Urgency
from hedgeops.model.market import Fees, MarketRules
from hedgeops.model.orders import AccountSnapshot
from hedgeops.runtime.kinds.book_result import today_of
from hedgeops.runtime.triggers import Probe, Scoped
from hedgeops.runtime.wakeups import Wake

ZERO = Decimal(0)
MARGIN_RECHECK_MOVE = Decimal("0.01")  # a 1 % mark move re-checks a held carry's margin at the next tick


def book_probe(book: HedgeBook, policy: RebalancePolicy | None, status: HedgeBookStatus,
               markets: Mapping[str, MarketRules], fees: Fees, controls: Controls) -> Probe | None:
    """The Hedge objective's trigger on live positions and quotes (an Allocation book's: `allocation_probe`); None
    where a stream cannot judge the book (no policy, a halted, paused or closing book)."""
    spec = book.spec
    if policy is None or controls.halted or spec.paused or controls.close_all:
        return None
    if spec.objective.type is ObjectiveType.ALLOCATION:
        return allocation_probe(book, policy, status)
    legs = {leg.asset: leg.symbol for leg in spec.legs}
    if any(sym not in markets for sym in legs.values()):
        return None
    http = {e.asset: e.holdingQty for e in status.exposures} if spec.holdings.source is HoldingsSource.HTTP else None
    uid = book.metadata.uid or book.key

    def probe(snap: AccountSnapshot) -> Wake | None:
        if any(sym not in snap.quotes for sym in legs.values()):
            return None
        prices = {asset: snap.quotes[sym].last for asset, sym in legs.items()}
        try:
            held = resolve_holdings(spec, prices, snap.balances, status.basketMark, http)
        except HoldingsUnavailable:
            return None
        obs = HedgeObservation(
            uid, spec.objective, signal_from_status(status.activeSignal), spec.paused, legs, markets, snap.quotes,
            held.units, {sym: p.qty for sym, p in snap.positions.items()},
            foreign_orders(snap.open_orders, legs, uid, status.rebalanceSeq, status.workingPlan is not None), fees,
            status.workingPlan, observed_positions(spec.instruments, snap.balances, snap.positions, snap.at))
        out = step(obs, policy.spec, memory_of(status, today_of(status, snap.at)), controls, snap.at)
        decision = out.verdict.decision
        if decision.urgency is Urgency.NONE or decision.primary is None:
            return None
        if status.workingPlan is not None:
            # A plan in flight is progressed, not replaced: only an emergency (which forces its rest to taker) wakes it.
            return Wake(True, decision.primary.code) if decision.urgency is Urgency.EMERGENCY else None
        # Only what the cycle would act on: a plan the gate lets through (not one the day's cost or count limit, a
        # pause or a halt refuses, nor one below the minimum order), and not one already waiting for approval. A
        # book woken for what its cycle then declines would run, and write its status, once per spacing forever.
        if out.plan is None or out.gate is None or not out.gate.allowed or status.pendingPlan:
            return None
        return Wake(decision.urgency is Urgency.EMERGENCY, decision.primary.code)

    reads = {f"position {s}" for s in legs.values()}
    reads |= {f"position {i.symbol}" for i in spec.instruments if i.symbol is not None}
    if spec.holdings.source is HoldingsSource.EXCHANGE_BALANCE or any(i.symbol is None for i in spec.instruments):
        reads.add("balance")  # the held units or a Spot instrument are the account's balances
    return Scoped(probe, frozenset(reads))


def allocation_probe(book: HedgeBook, policy: RebalancePolicy, status: HedgeBookStatus) -> Probe | None:
    """An Allocation book's weights at the live spot prices and balances against the targets its last cycle set
    (its weighting's, in status.weights): a weight crossing its band is a rebalance at the next tick (the allocation
    objective has no emergency band; its emergency is the close-all exit, a person's). None before its first
    cycle, while a plan is in flight (its sells and buys move the weights on purpose) or awaits approval, and when
    a weight was beyond its band already at the last cycle (which then declined to trade: its schedule goes on)."""
    spec = book.spec
    targets = {w.asset: w.targetWeight for w in status.weights}
    if not targets or status.workingPlan is not None or status.pendingPlan:
        return None
    if any(abs(w.driftRatio) > w.bandRatio for w in status.weights):
        return None  # already beyond at its last cycle, which judged it (the cost tolerance, a limit): no crossing
    quote = spec.quoteCurrency
    owned = spec.holdings.exchangeBalance.assets if spec.holdings.exchangeBalance else []
    symbols = {a: f"{a}/{quote}" for a in owned if a != quote}

    def probe(snap: AccountSnapshot) -> Wake | None:
        if any(s not in snap.quotes for s in symbols.values()):
            return None
        values = {a: snap.balances.get(a, ZERO) * (Decimal(1) if a == quote else snap.quotes[symbols[a]].mid)
                  for a in owned}
        decision = decide_allocation(targets, values, policy.spec.allocation)
        return Wake(False, decision.reason) if decision.reason == "WeightDrift" else None

    return Scoped(probe, frozenset({"balance"}))


def maker_probe(mm: MarketMaker, status: MarketMakerStatus, controls: Controls) -> Probe | None:
    """Requote when a quote fills or the touch moves beyond the tolerance; None while nothing is quoted."""
    spec, symbol = mm.spec, mm.spec.symbol
    if controls.halted or spec.paused or status.bid is None or status.ask is None:
        return None
    placed_mid = (status.bid + status.ask) / 2
    tolerance = spec.requoteToleranceRatio if spec.requoteToleranceRatio is not None else spec.spreadRatio / 2
    # The quotes still working when the cycle ended (one already done would wake it for nothing, every update).
    quotes = {str(q["clientOrderId"]): filled for q in status.quotes
              if (filled := Decimal(str(q.get("filled", "0")))) < Decimal(str(q.get("amount", "0")))}

    def probe(snap: AccountSnapshot) -> Wake | None:
        resting = {o.client_order_id: o for o in snap.open_orders if o.symbol == symbol}
        for cid, filled in quotes.items():
            live = resting.get(cid)
            if live is None or live.filled > filled:
                return Wake(True, "QuoteFilled")
        quote = snap.quotes.get(symbol)
        if quote is None or placed_mid <= 0:
            return None
        mid = (quote.bid + quote.ask) / 2
        if abs(mid - placed_mid) / placed_mid > tolerance:
            return Wake(True, "TouchMoved")
        return None

    return Scoped(probe, frozenset())  # its orders and the touch: no position or balance


def carry_probe(fa: FundingArbitrage, status: FundingArbitrageStatus, controls: Controls,
                reference: AccountSnapshot | None) -> Probe | None:
    """Each held pair's margin ratio at the live mark, from the ratio and mark its last cycle saw: for a perp of q
    units at leverage L, equity moves by q·(p − p₀) and the initial margin is |q|·p/L, so
    m(p) = (m₀·p₀ + L·sign(q)·(p − p₀)) / p."""
    if controls.halted or reference is None:
        return None
    rb, lev = fa.spec.rebalance, fa.spec.leverage
    held = [(leg.perp, leg.perpQty, leg.marginRatio, reference.quotes[leg.perp].last) for leg in status.legs
            if leg.perpQty != 0 and leg.marginRatio is not None and leg.perp in reference.quotes
            and reference.quotes[leg.perp].last > 0]
    if not held:
        return None

    def probe(snap: AccountSnapshot) -> Wake | None:
        moved = False
        for perp, qty, m0, p0 in held:
            quote = snap.quotes.get(perp)
            if quote is None or quote.last <= 0:
                continue
            p = quote.last
            sign = Decimal(1) if qty > 0 else Decimal(-1)
            m = (m0 * p0 + lev * sign * (p - p0)) / p
            if m < rb.topUpMarginRatio <= m0 or (rb.compoundMarginRatio is not None
                                                 and m > rb.compoundMarginRatio >= m0):
                return Wake(True, "MarginLine")
            moved = moved or abs(p / p0 - 1) >= MARGIN_RECHECK_MOVE
        return Wake(False, "MarkMoved") if moved else None

    return Scoped(probe, frozenset())  # the marks only (its margin line is estimated from the cycle's position)

"""Seed 003's per-cycle summary ("本次執行總結"): the market, the position against its lines, the skew, what filled
this cycle, this cycle's and the run's PnL (funding included) and the quotes resting. Pure: the runtime puts it in
the status and the journal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from hedgeops.api.marketmaker import MarketMakerSpec
from hedgeops.engine.maker.decide import MakerLedger
from hedgeops.engine.maker.quotes import Resting, skew_ratio
from hedgeops.model.orders import Side

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")


def _q(x: Decimal) -> Decimal:
    return x.quantize(Q8, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class CycleSummary:
    bid: Decimal
    ask: Decimal
    mid: Decimal
    spread_ratio: Decimal  # (ask − bid) ÷ mid: the market's, not ours
    position: Decimal
    target_position: Decimal
    max_position: Decimal
    skew_ratio: Decimal  # how far the quotes were moved, as a ratio of mid (positive: down, when long)
    skew_offset: Decimal  # the same in price
    bought: Decimal  # this cycle's fills, units
    sold: Decimal
    fees_quote: Decimal  # this cycle's fees
    funding_quote: Decimal  # this cycle's funding (received +, paid −)
    cycle_pnl_quote: Decimal  # change of the run's PnL since the last cycle
    realized_pnl_quote: Decimal  # the run's, after fees
    unrealized_pnl_quote: Decimal
    funding_total_quote: Decimal  # the run's funding
    pnl_quote: Decimal  # realised + unrealised + funding
    quotes: int  # resting after the cycle
    best_bid_quote: Decimal | None  # our highest bid resting, None when no bid rests
    best_ask_quote: Decimal | None


def run_pnl(ledger: MakerLedger, mid: Decimal, funding: Decimal) -> Decimal:
    """The run's PnL marked at `mid`: realised after fees, unrealised, and funding received or paid."""
    return ledger.realized_pnl + ledger.unrealized_pnl(mid) + funding


def summarize(spec: MarketMakerSpec, *, before: MakerLedger, after: MakerLedger, previous_pnl: Decimal,
              bid: Decimal, ask: Decimal, funding_cycle: Decimal, funding_total: Decimal,
              resting: Sequence[Resting]) -> CycleSummary:
    """One cycle's summary. `before` is the ledger as the last cycle left it, `after` with this cycle's fills;
    `previous_pnl` the run's PnL the last cycle reported (0 on the first)."""
    mid = (bid + ask) / 2
    position = after.inventory.qty
    skew = skew_ratio(spec, position)
    bids = [r.price for r in resting if r.side == Side.BUY]
    asks = [r.price for r in resting if r.side == Side.SELL]
    pnl = run_pnl(after, mid, funding_total)
    return CycleSummary(
        bid=bid, ask=ask, mid=_q(mid), spread_ratio=_q((ask - bid) / mid) if mid else ZERO,
        position=position, target_position=spec.targetPosition, max_position=spec.maxPosition,
        skew_ratio=_q(skew), skew_offset=_q(mid * skew), bought=after.bought - before.bought,
        sold=after.sold - before.sold, fees_quote=_q(after.fees_quote - before.fees_quote),
        funding_quote=_q(funding_cycle), cycle_pnl_quote=_q(pnl - previous_pnl),
        realized_pnl_quote=_q(after.realized_pnl), unrealized_pnl_quote=_q(after.unrealized_pnl(mid)),
        funding_total_quote=_q(funding_total), pnl_quote=_q(pnl), quotes=len(resting),
        best_bid_quote=max(bids) if bids else None, best_ask_quote=min(asks) if asks else None)

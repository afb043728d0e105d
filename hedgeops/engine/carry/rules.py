"""Seed 004's conditions for cash and carry, each a small pure predicate: entry, exit, margin, liquidity,
sizing, cadence and the bootstrap self-check. The state machine (carry_machine) strings them together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hedgeops.api.funding import FundingArbitrageSpec
from hedgeops.model.book import OrderBook, depth_within, walk
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import Side

ZERO = Decimal(0)
FUNDING_INTERVAL = timedelta(hours=8)
# The seed's scheduler: scan the market every 5 min, risk and PnL every hour, funding every 8 h.
CADENCE: dict[str, timedelta] = {
    "scan": timedelta(minutes=5),
    "risk": timedelta(hours=1),
    "settle": FUNDING_INTERVAL,
}


@dataclass(frozen=True)
class CarryMarket:
    """One spot/perp pair as observed."""

    spot: MarketRules
    perp: MarketRules
    spot_book: OrderBook
    perp_book: OrderBook
    funding_rate: Decimal  # rate of the coming settlement, per interval
    mark_price: Decimal  # perp mark


@dataclass(frozen=True)
class CarryAccount:
    """What the account holds for the pair."""

    spot_qty: Decimal
    perp_qty: Decimal  # signed: negative is short
    free_quote: Decimal  # quote in the spot wallet, free to spend or transfer
    perp_equity: Decimal  # derivatives-wallet equity (collateral + unrealised PnL)
    open_orders: int = 0


@dataclass(frozen=True)
class Check:
    """A condition's verdict: ok, or a CamelCase reason and a message."""

    ok: bool
    reason: str = "Ok"
    message: str = ""


OK = Check(True)


def margin_ratio(perp_equity: Decimal, perp_qty: Decimal, mark: Decimal, leverage: Decimal) -> Decimal | None:
    """Derivatives equity ÷ the initial margin of the perp position (notional ÷ leverage): 1 right after
    opening with exactly the initial margin, falling as a short loses. None without a position."""
    notional = abs(perp_qty) * mark
    if notional == 0:
        return None
    return perp_equity * leverage / notional


def leg_deviation(spot_qty: Decimal, perp_qty: Decimal) -> Decimal:
    """|spot − |perp|| ÷ the larger leg: how unequal the two legs are (0 when both are flat)."""
    larger = max(spot_qty, abs(perp_qty))
    return ZERO if larger == 0 else abs(spot_qty - abs(perp_qty)) / larger


def is_flat(account: CarryAccount, market: CarryMarket) -> bool:
    """Both legs below what either market would let us trade: nothing left to close."""
    return account.spot_qty < market.spot.min_amount and abs(account.perp_qty) < market.perp.min_amount


def funding_in_range(spec: FundingArbitrageSpec, rate: Decimal) -> Check:
    """Positive and within [minFundingRate, maxFundingRate]: higher rates signal a squeeze, not carry."""
    lo, hi = spec.entry.minFundingRate, spec.entry.maxFundingRate
    if rate < lo:
        return Check(False, "FundingTooLow", f"funding {rate:.4%} below {lo:.4%}")
    if rate > hi:
        return Check(False, "FundingTooHigh", f"funding {rate:.4%} above {hi:.4%}: a squeeze, not carry")
    return OK


def liquidity_ok(spec: FundingArbitrageSpec, market: CarryMarket, qty: Decimal) -> Check:
    """Both books deep enough near the touch, and buying spot / selling perp `qty` slips at most
    maxSlippageRatio (liquidity guard: depth, slippage, wicks)."""
    guard = spec.liquidity
    for name, book, side in (("spot", market.spot_book, Side.BUY), ("perp", market.perp_book, Side.SELL)):
        depth = depth_within(book, side, guard.maxSlippageRatio)
        if depth < guard.minDepthQuote:
            return Check(False, "ThinBook", f"{name} depth {depth:.0f} < {guard.minDepthQuote}")
        w = walk(book, side, qty)
        if not w.complete or w.slippage_ratio is None:
            return Check(False, "ThinBook", f"{name} book cannot fill {qty}")
        if w.slippage_ratio > guard.maxSlippageRatio:
            return Check(False, "Slippage",
                         f"{name} slippage {w.slippage_ratio:.4%} > {guard.maxSlippageRatio:.4%}")
    return OK


def carry_capital(spec: FundingArbitrageSpec) -> Decimal:
    """The capital the carry sizes its pairs on: capital.amountQuote less the second layer's share (seed 004: the
    carry 70%-80%, the enhancement layer 20%-30%)."""
    share = spec.enhancement.capitalShare if spec.enhancement is not None else ZERO
    return spec.capital.amountQuote * (1 - share)


def pair_notional(spec: FundingArbitrageSpec, pairs: int) -> Decimal:
    """Quote notional per leg for one pair: the spot share of the carry's capital split over the pairs, capped, less
    the slippage allowance, so that the pair's spot share can pay for the spot leg at the worst accepted price."""
    share = carry_capital(spec) * spec.capital.spotRatio / max(pairs, 1)
    notional = share / (1 + spec.liquidity.maxSlippageRatio)
    cap = spec.capital.maxPerPositionQuote
    return min(notional, cap) if cap is not None else notional


def entry_qty(market: CarryMarket, notional: Decimal) -> Decimal:
    """Units per leg: on both markets' grids and equal, so the legs match exactly; 0 if below a minimum."""
    ask = market.spot_book.asks[0][0] if market.spot_book.asks else ZERO
    if ask <= 0:
        return ZERO
    raw = notional / ask
    # The smaller of the two roundings may be off the other market's grid: round it once more on both.
    qty = min(market.spot.round_amount(raw), market.perp.round_amount(raw))
    qty = min(market.spot.round_amount(qty), market.perp.round_amount(qty))
    if qty < market.spot.min_amount or qty < market.perp.min_amount:
        return ZERO
    return qty


def next_funding_time(now: datetime) -> datetime:
    """OKX and Binance settle at 00:00, 08:00 and 16:00 UTC."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    slot = (now - day) // FUNDING_INTERVAL + 1
    return day + slot * FUNDING_INTERVAL


def due_tasks(now: datetime, last_runs: dict[str, datetime | None]) -> tuple[str, ...]:
    """Which of scan / risk / settle are due: never run, or their interval has passed."""
    due: list[str] = []
    for name, every in CADENCE.items():
        last = last_runs.get(name)
        if last is None or now - last >= every:
            due.append(name)
    return tuple(due)


def bootstrap_problems(*, has_credentials: bool, live: bool, leftover_spot: Decimal, leftover_perp: Decimal,
                       known_position: bool, last_exit_abnormal: bool) -> tuple[Check, ...]:
    """Seed 004's self-check before the first trade. Any problem means: do not trade, say why."""
    problems: list[Check] = []
    if live and not has_credentials:
        problems.append(Check(False, "NoCredentials", "Live mode needs API credentials"))
    if not known_position and (leftover_spot > 0 or leftover_perp != 0):
        problems.append(Check(False, "LeftoverPosition",
                              f"the account already holds spot {leftover_spot} / perp {leftover_perp} "
                              "that this object did not open"))
    if last_exit_abnormal:
        problems.append(Check(False, "AbnormalExit", "the last run ended abnormally: check and clear the halt"))
    return tuple(problems)

"""A weight-holding basket (like JLP) hedged with perps, replayed bar by bar through the engine.

Each bar the basket's value moves with the weighted returns and its units are re-derived from the fixed
weights; this is how a pool that holds target weights drifts against a fixed hedge. Every check, the
engine's own `decide_book` and `plan_rebalance` decide (so this measures the operator's logic, minimum
orders and market rounding included). Orders decided on a bar's close execute in the next bar, as
`hedgeops.backtest.fills` models an exchange: a post-only maker order at the touch fills only if the price
trades through it within the maker timeout, else the rest goes taker at the price reached then; takers pay
half the spread and walk the book. The short perps pay or earn funding at every funding time.

The result is a series (deviation every bar, counters per day) so that any window of days can be scored
from one run: the walk-forward benchmark fits on earlier windows and scores later ones."""

from __future__ import annotations

import csv
import gzip
import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from pathlib import Path
from typing import Any

from hedgeops.api.hedgebook import Objective
from hedgeops.api.policy import RebalancePolicySpec
from hedgeops.backtest.fills import BookProfile, along, bar_path, path_fraction, taker_fill
from hedgeops.engine.hedge.decision import decide_book
from hedgeops.engine.hedge.exposure import AssetObservation, compute_exposure
from hedgeops.engine.hedge.planner import PlanInputs, PlannedOrder, plan_rebalance
from hedgeops.engine.hedge.triggers import Urgency
from hedgeops.engine.hedge.volatility import DeviationVolatility
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import Liquidity, Side

D = Decimal
SECONDS_PER_YEAR = 365 * 86400
DAY_MS = 86_400_000
# The yardstick for "time beyond the emergency threshold", the same for every policy: seed 000 compact's
# emergency levels (any asset beyond 5% or the total beyond 3%).
YARDSTICK_ASSET, YARDSTICK_TOTAL = 0.05, 0.03
COUNTERS = ("fees", "slippage", "funding", "rebalances", "emergencies", "orders", "maker_fills",
            "taker_fallbacks", "traded_notional", "held_back", "fired_no_order")


@dataclass(frozen=True)
class Bars:
    """Aligned bars of several assets: one timestamp column (bar open, ms), then OHLC per asset."""

    ts_ms: Sequence[int]
    open: Mapping[str, Sequence[float]]
    high: Mapping[str, Sequence[float]]
    low: Mapping[str, Sequence[float]]
    close: Mapping[str, Sequence[float]]

    @property
    def step_ms(self) -> int:
        return self.ts_ms[1] - self.ts_ms[0]

    def window(self, start: int, stop: int) -> Bars:
        """Bars [start, stop) by index."""
        cut = {k: {a: v[start:stop] for a, v in col.items()} for k, col in
               (("o", self.open), ("h", self.high), ("l", self.low), ("c", self.close))}
        return Bars(self.ts_ms[start:stop], cut["o"], cut["h"], cut["l"], cut["c"])


@dataclass(frozen=True)
class Basket:
    """Capital, constant value weights of the risky assets (the rest is stablecoin), and the perps."""

    capital: Decimal
    weights: Mapping[str, Decimal]
    symbols: Mapping[str, str]
    markets: Mapping[str, MarketRules]
    hedge_ratio: Decimal = Decimal(1)


@dataclass(frozen=True)
class Market:
    """What the replay charges: fees, each asset's book, funding (ts → rate per asset)."""

    fees: Fees
    books: Mapping[str, BookProfile]
    funding: Mapping[str, Mapping[int, float]] = field(default_factory=dict)


@dataclass
class Series:
    """One run: |total deviation|, each asset's share of it and beyond-the-yardstick every bar; counters
    cumulative at each day's end."""

    start_ms: int
    bar_seconds: int
    deviation: array[float] = field(default_factory=lambda: array("f"))
    # Each asset's |net| ÷ the book's total target: the parts the total deviation sums.
    by_asset: dict[str, array[float]] = field(default_factory=dict)
    beyond: bytearray = field(default_factory=bytearray)
    day_end_bar: list[int] = field(default_factory=list)  # index of the first bar after each day
    cumulative: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in COUNTERS})

    @property
    def days(self) -> int:
        return len(self.day_end_bar)

    def figures(self, capital: Decimal, first_day: int = 0, last_day: int | None = None) -> dict[str, Any]:
        """Yearly rates and deviation statistics over days [first_day, last_day)."""
        return score([(self, first_day, self.days if last_day is None else last_day)], capital)

    def bars_of(self, first_day: int, last_day: int) -> tuple[int, int]:
        """The bar indices [a, b) of days [first_day, last_day)."""
        return (0 if first_day == 0 else self.day_end_bar[first_day - 1]), self.day_end_bar[last_day - 1]

    def total(self, name: str, first_day: int, last_day: int) -> float:
        col = self.cumulative[name]
        return col[last_day - 1] - (col[first_day - 1] if first_day else 0.0)


def score(pieces: Sequence[tuple[Series, int, int]], capital: Decimal) -> dict[str, Any]:
    """The figures over several windows of days taken together (held-out folds, each from its own run)."""
    devs: list[float] = []
    parts: dict[str, float] = {}
    beyond = 0
    totals = dict.fromkeys(COUNTERS, 0.0)
    seconds = 0
    for series, first, last in pieces:
        a, b = series.bars_of(first, last)
        devs.extend(series.deviation[a:b])
        for asset, col in series.by_asset.items():
            parts[asset] = parts.get(asset, 0.0) + sum(col[a:b])
        beyond += sum(series.beyond[a:b])
        seconds += (b - a) * series.bar_seconds
        for name in COUNTERS:
            totals[name] += series.total(name, first, last)
    devs.sort()
    n = len(devs)
    years = seconds / SECONDS_PER_YEAR

    def per_year(name: str) -> float:
        return totals[name] / years

    fees, slip = per_year("fees"), per_year("slippage")
    makers, fallbacks = totals["maker_fills"], totals["taker_fallbacks"]
    return {
        "rebalances_per_year": round(per_year("rebalances"), 1),
        "cost_per_year_usd": round(fees + slip, 2),
        "fees_per_year_usd": round(fees, 2),
        "spread_and_slippage_per_year_usd": round(slip, 2),
        "cost_per_year_pct_capital": round(100 * (fees + slip) / float(capital), 4),
        "funding_per_year_usd": round(per_year("funding"), 2),
        "traded_notional_per_year_usd": round(per_year("traded_notional"), 0),
        "mean_abs_exposure_pct": round(100 * sum(devs) / n, 4),
        "mean_abs_exposure_pct_by_asset": {a: round(100 * v / n, 4) for a, v in parts.items()},
        "p99_abs_exposure_pct": round(100 * devs[min(n - 1, int(0.99 * n))], 4),
        "max_abs_exposure_pct": round(100 * devs[-1], 4),
        "time_beyond_emergency_pct": round(100 * beyond / n, 4),
        "emergency_rebalances_per_year": round(per_year("emergencies"), 1),
        "maker_fill_ratio": round(makers / max(1.0, makers + fallbacks), 4),
        "held_back_per_year": round(per_year("held_back"), 1),
        "fired_no_order_per_year": round(per_year("fired_no_order"), 1),
        "days": round(seconds / 86400, 2),
    }


def _dec(x: float) -> Decimal:
    return D(repr(x))


def simulate(policy: RebalancePolicySpec, basket: Basket, bars: Bars, market: Market, *,
             untradeable_rule: bool = True) -> Series:
    """Replay `bars` with `policy` deciding every checkIntervalSeconds; the book starts fully hedged.

    `untradeable_rule=False` reproduces the old reading for contrast: triggers fire on deviations no order
    could correct (and band-edge bands lose their minimum-order floor). Runs in a fixed Decimal context: the
    ambient one may carry what ccxt left in it (ROUND_HALF_UP)."""
    with localcontext(Context(prec=28, rounding=ROUND_HALF_EVEN)):
        return _simulate(policy, basket, bars, market, untradeable_rule)


def _simulate(policy: RebalancePolicySpec, basket: Basket, bars: Bars, market: Market,
              untradeable_rule: bool) -> Series:
    assets = list(basket.weights)
    bar_s = bars.step_ms // 1000
    check_every = max(1, policy.checkIntervalSeconds // bar_s)
    # The operator enforces a maker timeout at its first check at or after the deadline (progress_plan runs on
    # the book's timer), so a maker rests that long: the seed's 30 s is 60 s on a 60 s check, 300 s on Loose's.
    interval = policy.checkIntervalSeconds
    wait_s = float(math.ceil(policy.maker_timeout_s() / interval) * interval)
    objective = Objective(hedgeRatio=basket.hedge_ratio)
    rules = {a: basket.markets[basket.symbols[a]] for a in assets}
    minimums = {a: max(policy.minOrder.get(a, D(0)), rules[a].min_amount) for a in assets}
    value = basket.capital
    prev = {a: _dec(bars.close[a][0]) for a in assets}
    hedge = {a: rules[a].round_amount(-basket.hedge_ratio * basket.weights[a] * value / prev[a]) for a in assets}
    funding = {a: sorted(market.funding.get(a, {}).items()) for a in assets}
    next_funding = {a: 0 for a in assets}
    for a in assets:
        while next_funding[a] < len(funding[a]) and funding[a][next_funding[a]][0] <= bars.ts_ms[0]:
            next_funding[a] += 1
    vols: dict[str, DeviationVolatility] = {}
    pending: list[tuple[PlannedOrder, float]] = []  # orders resting, with the seconds they have waited
    last_rebalance: datetime | None = None
    seq = 0
    out = Series(bars.ts_ms[0], bar_s)
    count = dict.fromkeys(COUNTERS, 0.0)
    day = 0
    base = dict(legs=basket.symbols, markets=basket.markets, min_order=policy.minOrder,
                normal_style=policy.execution.normal, emergency_style=policy.execution.emergency, fees=market.fees)
    for k in range(1, len(bars.ts_ms)):
        ts = bars.ts_ms[k]
        while (ts - out.start_ms - 1) // DAY_MS > day:  # a bar belongs to the day its open falls in after bar 0
            _close_day(out, count)
            day += 1
        # Funding settles on the position held at its time (the bar's open comes after the previous fills).
        for a in assets:
            rows, i = funding[a], next_funding[a]
            while i < len(rows) and rows[i][0] <= ts:
                count["funding"] += -float(hedge[a]) * bars.open[a][k] * rows[i][1]
                i += 1
            next_funding[a] = i
        still: list[tuple[PlannedOrder, float]] = []
        for o, waited in pending:
            if _execute(o, k, bars, market, rules[o.asset], (wait_s - waited) / bar_s, count):
                hedge[o.asset] += o.signed_amount
            else:
                still.append((o, waited + bar_s))
        pending = still
        price = {a: _dec(bars.close[a][k]) for a in assets}
        value *= 1 + sum((basket.weights[a] * (price[a] / prev[a] - 1) for a in assets), D(0))
        prev = price
        exposure = compute_exposure(
            [AssetObservation(a, price[a], basket.weights[a] * value / price[a], hedge[a]) for a in assets], objective)
        total = float(exposure.total_deviation)
        out.deviation.append(total)
        whole = float(exposure.total_target_notional)
        for e in exposure.assets:
            out.by_asset.setdefault(e.asset, array("f")).append(abs(float(e.net_quote)) / whole if whole else 0.0)
        out.beyond.append(total > YARDSTICK_TOTAL or float(exposure.max_abs_deviation) > YARDSTICK_ASSET)
        if k % check_every:
            continue
        now = datetime.fromtimestamp(ts / 1000, UTC)
        verdict = decide_book(exposure, policy, now, last_rebalance, vols, minimums if untradeable_rule else {})
        vols = verdict.volatility
        decision = verdict.decision
        if pending:
            # The operator plans nothing new while a plan is working; an emergency sends what rests as taker now.
            if decision.urgency is Urgency.EMERGENCY:
                pending = [(o, wait_s) for o, _ in pending]
            continue
        if decision.urgency is Urgency.NONE:
            count["held_back"] += bool(decision.untradeable)
            continue
        quotes = {basket.symbols[a]: _quote(basket.symbols[a], price[a], rules[a], market.books[a], now)
                  for a in assets}
        plan = plan_rebalance(
            book_uid="backtest", seq=seq + 1, now=now, exposure=exposure, decision=decision,
            inputs=PlanInputs(quotes=quotes, rebalance_to=verdict.rebalance_to, thresholds=verdict.thresholds,
                              **base))  # type: ignore[arg-type]
        if not plan.orders:
            count["fired_no_order"] += 1
            continue
        seq += 1
        pending = [(o, 0.0) for o in plan.orders]
        last_rebalance = now
        count["rebalances"] += 1
        count["orders"] += len(plan.orders)
        count["emergencies"] += plan.urgency is Urgency.EMERGENCY
    _close_day(out, count)
    return out


def _quote(symbol: str, mid: Decimal, rules: MarketRules, book: BookProfile, now: datetime) -> Quote:
    """The touch a maker order joins, taken a whole spread away from the last trade on each side (so a post-only
    order fills only when the price trades through a level beyond the close), on the price grid whatever the
    ambient Decimal context (ccxt changes its rounding)."""
    tick = rules.price_step
    away = tick * book.spread_ticks
    bid = mid.quantize(tick, rounding=ROUND_FLOOR) - away
    ask = mid.quantize(tick, rounding=ROUND_CEILING) + away
    return Quote(symbol, bid, ask, mid, now)


def _close_day(out: Series, count: Mapping[str, float]) -> None:
    out.day_end_bar.append(len(out.deviation))
    for name in COUNTERS:
        out.cumulative[name].append(count[name])


def _execute(o: PlannedOrder, k: int, bars: Bars, market: Market, rules: MarketRules, left: float,
             count: dict[str, float]) -> bool:
    """Work one order during bar k, `left` bars of its maker timeout remaining; whether it is done."""
    a, buy, amount = o.asset, o.side == Side.BUY, float(o.amount)
    path = bar_path(bars.open[a][k], bars.high[a][k], bars.low[a][k], bars.close[a][k])
    if o.type is Liquidity.MAKER and o.price is not None and left > 0:
        limit = float(o.price)
        low, high, at = along(path, path_fraction(left))
        if (buy and low < limit) or (not buy and high > limit):
            count["maker_fills"] += 1
            count["fees"] += amount * limit * float(market.fees.maker)
            count["traded_notional"] += amount * limit
            return True
        if left > 1:
            return False  # still resting at the end of this bar
        count["taker_fallbacks"] += 1
    else:
        if o.type is Liquidity.MAKER:
            count["taker_fallbacks"] += 1  # forced out by an emergency
        at = path[0]
    fill = taker_fill(at, buy, amount, market.books[a], float(rules.price_step))
    count["fees"] += amount * fill.price * float(market.fees.taker)
    count["slippage"] += fill.slippage
    count["traded_notional"] += amount * fill.price
    return True


def load_bars(paths: Mapping[str, Path], start_ms: int | None = None, stop_ms: int | None = None) -> Bars:
    """Aligned bars from gzip CSV files (ts,open,high,low,close,...), keeping the timestamps all assets share
    (within [start_ms, stop_ms) when given)."""
    rows: dict[str, dict[int, tuple[float, float, float, float]]] = {}
    for asset, path in paths.items():
        with gzip.open(path, "rt", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows[asset] = {int(r[0]): (float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in reader}
    common = sorted(t for t in set.intersection(*(set(r) for r in rows.values()))
                    if (start_ms is None or t >= start_ms) and (stop_ms is None or t < stop_ms))
    if len(common) < 2:
        raise ValueError("the series share fewer than two bars")
    cols = [{a: [rows[a][t][i] for t in common] for a in rows} for i in range(4)]
    return Bars(common, *cols)


def load_funding(path: Path) -> dict[int, float]:
    """ts (ms) → funding rate from a bundled funding file (ts,funding_rate[,mark_price])."""
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return {int(r[0]): float(r[1]) for r in reader}

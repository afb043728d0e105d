"""A weight-holding basket (like JLP) hedged with perps, replayed bar by bar through the engine.

Each bar the basket's value moves with the weighted returns and its units are re-derived from the fixed
weights; this is how a pool that holds target weights drifts against a fixed hedge. Every check, the
engine's own `decide_book` and `plan_rebalance` decide (so this measures the operator's logic, minimum
orders and market rounding included). Orders are decided on a bar's close and executed in the next bar:
taker at the far touch of the decision quote; post-only maker at the near touch, filled only if the next
bar trades through the price, else sent as taker at that bar's close (the maker timeout is shorter than a
bar)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hedgeops.api.hedgebook import Objective
from hedgeops.api.policy import RebalancePolicySpec
from hedgeops.engine.hedge.decision import decide_book
from hedgeops.engine.hedge.exposure import AssetObservation, compute_exposure
from hedgeops.engine.hedge.planner import PlanInputs, PlannedOrder, plan_rebalance
from hedgeops.engine.hedge.triggers import Urgency
from hedgeops.engine.hedge.volatility import DeviationVolatility
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import Liquidity, Side

D = Decimal
SECONDS_PER_YEAR = 365 * 86400


@dataclass(frozen=True)
class Bars:
    """Aligned bars of several assets: one timestamp column, then high/low/close per asset."""

    ts_ms: Sequence[int]
    high: Mapping[str, Sequence[float]]
    low: Mapping[str, Sequence[float]]
    close: Mapping[str, Sequence[float]]

    @property
    def years(self) -> float:
        step = self.ts_ms[1] - self.ts_ms[0]
        return (self.ts_ms[-1] - self.ts_ms[0] + step) / 1000 / SECONDS_PER_YEAR


@dataclass(frozen=True)
class Basket:
    """Capital, constant value weights of the risky assets (the rest is stablecoin), and the perps."""

    capital: Decimal
    weights: Mapping[str, Decimal]
    symbols: Mapping[str, str]
    markets: Mapping[str, MarketRules]
    hedge_ratio: Decimal = Decimal(1)


@dataclass
class SimResult:
    """What a policy did over the bars."""

    rebalances: int = 0
    emergencies: int = 0
    orders: int = 0
    maker_fills: int = 0
    taker_fallbacks: int = 0
    cost_quote: Decimal = Decimal(0)
    total_deviation: list[float] = field(default_factory=list)
    bars_beyond_emergency: int = 0
    years: float = 0.0

    def figures(self, capital: Decimal) -> dict[str, float]:
        devs = sorted(self.total_deviation)
        n = len(devs)
        cost_year = float(self.cost_quote) / self.years
        return {
            "rebalances_per_year": round(self.rebalances / self.years, 1),
            "cost_per_year_usd": round(cost_year, 2),
            "cost_per_year_pct_capital": round(100 * cost_year / float(capital), 4),
            "mean_abs_exposure_pct": round(100 * sum(devs) / n, 4),
            "p99_abs_exposure_pct": round(100 * devs[min(n - 1, int(0.99 * n))], 4),
            "max_abs_exposure_pct": round(100 * devs[-1], 4),
            "time_beyond_emergency_pct": round(100 * self.bars_beyond_emergency / n, 4),
            "emergency_rebalances_per_year": round(self.emergencies / self.years, 1),
            "maker_fill_ratio": round(self.maker_fills / max(1, self.maker_fills + self.taker_fallbacks), 4),
        }


# The yardstick for "time beyond the emergency threshold", the same for every policy: seed 000 compact's
# emergency levels (any asset beyond 5% or the total beyond 3%).
YARDSTICK_ASSET, YARDSTICK_TOTAL = D("0.05"), D("0.03")


def _dec(x: float) -> Decimal:
    return D(repr(x))


def simulate(policy: RebalancePolicySpec, basket: Basket, bars: Bars, fees: Fees | None = None,
             check_every: int = 1) -> SimResult:
    """Replay `bars` with `policy` deciding every `check_every` bars; the book starts fully hedged."""
    fees = fees or Fees()
    assets = list(basket.weights)
    objective = Objective(hedgeRatio=basket.hedge_ratio)
    minimums = {a: max(policy.minOrder.get(a, D(0)), basket.markets[basket.symbols[a]].min_amount) for a in assets}
    value = basket.capital
    prev = {a: _dec(bars.close[a][0]) for a in assets}
    hedge = {a: basket.markets[basket.symbols[a]].round_amount(
        -basket.hedge_ratio * basket.weights[a] * value / prev[a]) for a in assets}
    vols: dict[str, DeviationVolatility] = {}
    pending: tuple[PlannedOrder, ...] = ()
    last_rebalance: datetime | None = None
    seq = 0
    res = SimResult(years=bars.years)
    inputs_base = dict(legs=basket.symbols, markets=basket.markets,
                       min_order=policy.minOrder, normal_style=policy.execution.normal,
                       emergency_style=policy.execution.emergency, fees=fees)
    for k in range(1, len(bars.ts_ms)):
        price = {a: _dec(bars.close[a][k]) for a in assets}
        value *= 1 + sum((basket.weights[a] * (price[a] / prev[a] - 1) for a in assets), D(0))
        prev = price
        for o in pending:
            if o.type is Liquidity.TAKER:
                fill_price, rate = o.est_price, fees.taker
            elif (o.side == Side.BUY and bars.low[o.asset][k] < float(o.price or 0)) or (
                    o.side == Side.SELL and bars.high[o.asset][k] > float(o.price or 0)):
                fill_price, rate = o.price or o.est_price, fees.maker
                res.maker_fills += 1
            else:
                fill_price, rate = price[o.asset], fees.taker
                res.taker_fallbacks += 1
            hedge[o.asset] += o.signed_amount
            res.cost_quote += o.amount * fill_price * rate
        pending = ()
        exposure = compute_exposure(
            [AssetObservation(a, price[a], basket.weights[a] * value / price[a], hedge[a]) for a in assets], objective)
        total = exposure.total_deviation
        res.total_deviation.append(float(total))
        if total > YARDSTICK_TOTAL or exposure.max_abs_deviation > YARDSTICK_ASSET:
            res.bars_beyond_emergency += 1
        if k % check_every:
            continue
        now = datetime.fromtimestamp(bars.ts_ms[k] / 1000, UTC)
        verdict = decide_book(exposure, policy, now, last_rebalance, vols, minimums)
        vols = verdict.volatility
        if verdict.decision.urgency is Urgency.NONE:
            continue
        quotes = {}
        for a in assets:
            sym = basket.symbols[a]
            tick = basket.markets[sym].price_step
            quotes[sym] = Quote(sym, price[a] - tick, price[a] + tick, price[a], now)
        plan = plan_rebalance(
            book_uid="backtest", seq=seq + 1, now=now, exposure=exposure, decision=verdict.decision,
            inputs=PlanInputs(quotes=quotes, rebalance_to=verdict.rebalance_to, thresholds=verdict.thresholds,
                              **inputs_base))  # type: ignore[arg-type]
        if not plan.orders:
            continue
        seq += 1
        pending = plan.orders
        last_rebalance = now
        res.rebalances += 1
        res.orders += len(plan.orders)
        if plan.urgency is Urgency.EMERGENCY:
            res.emergencies += 1
    return res


def load_bars(paths: Mapping[str, Path]) -> Bars:
    """Aligned bars from gzip CSV files (ts,open,high,low,close,...), keeping timestamps all assets share."""
    import csv
    import gzip

    rows: dict[str, dict[int, tuple[float, float, float]]] = {}
    for asset, path in paths.items():
        with gzip.open(path, "rt", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows[asset] = {int(r[0]): (float(r[2]), float(r[3]), float(r[4])) for r in reader}
    common = sorted(set.intersection(*(set(r) for r in rows.values())))
    if len(common) < 2:
        raise ValueError("the series share fewer than two bars")
    return Bars(common, {a: [rows[a][t][0] for t in common] for a in rows},
                {a: [rows[a][t][1] for t in common] for a in rows}, {a: [rows[a][t][2] for t in common] for a in rows})


"""The basket backtest on real bars: the engine's decisions, minimum orders, determinism, the seed's ordering."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedgeops.api.policy import Preset, RebalancePolicySpec
from hedgeops.backtest.basket import Bars, Basket, load_bars, simulate
from hedgeops.engine.hedge import planner
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.exchange.marketdata.replay import data_dir

D = Decimal
ASSETS = ("SOL", "ETH", "BTC")
MIN = {"SOL": D("0.05"), "ETH": D("0.005"), "BTC": D("0.0005")}
BASKET = Basket(D(15000), {"SOL": D("0.45"), "ETH": D("0.085"), "BTC": D("0.16")},
                {a: f"{a}/USDT:USDT" for a in ASSETS}, PAPER_MARKETS)


@pytest.fixture(scope="module")
def week() -> Bars:
    bars = load_bars({a: data_dir() / f"binance_futures_{a}_USDT_5m.csv.gz" for a in ASSETS})
    n = 7 * 288 + 1
    return Bars(bars.ts_ms[:n], {a: v[:n] for a, v in bars.high.items()}, {a: v[:n] for a, v in bars.low.items()},
                {a: v[:n] for a, v in bars.close.items()})


def test_tighter_policy_trades_more_and_drifts_less(week: Bars) -> None:
    loose = simulate(RebalancePolicySpec(preset=Preset.LOOSE, minOrder=MIN), BASKET, week)
    compact = simulate(RebalancePolicySpec(preset=Preset.COMPACT, minOrder=MIN), BASKET, week)
    lf, cf = loose.figures(BASKET.capital), compact.figures(BASKET.capital)
    assert cf["rebalances_per_year"] > lf["rebalances_per_year"]
    assert cf["cost_per_year_usd"] > lf["cost_per_year_usd"]
    assert cf["mean_abs_exposure_pct"] < lf["mean_abs_exposure_pct"]
    assert len(compact.total_deviation) == len(week.ts_ms) - 1


def test_every_order_respects_the_minimum_and_the_market_grid(week: Bars, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = planner.plan_rebalance

    def spy(**kwargs):  # type: ignore[no-untyped-def]
        plan = real(**kwargs)
        seen.extend(plan.orders)
        return plan

    monkeypatch.setattr("hedgeops.backtest.basket.plan_rebalance", spy)
    simulate(RebalancePolicySpec(minOrder=MIN), BASKET, week)
    assert seen
    for o in seen:
        market = PAPER_MARKETS[o.symbol]
        assert o.amount >= MIN[o.asset] and o.amount % market.amount_step == 0


def test_backtest_is_deterministic(week: Bars) -> None:
    a = simulate(RebalancePolicySpec(minOrder=MIN), BASKET, week).figures(BASKET.capital)
    b = simulate(RebalancePolicySpec(minOrder=MIN), BASKET, week).figures(BASKET.capital)
    assert a == b

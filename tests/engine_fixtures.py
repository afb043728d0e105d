"""Builders for engine tests: markets, quotes, policies, exposures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hedgeops.api.hedgebook import Objective
from hedgeops.api.policy import OrderStyle, Preset, RebalancePolicySpec
from hedgeops.engine.hedge.bands import resolve_rebalance_to, resolve_thresholds
from hedgeops.engine.hedge.exposure import AssetObservation, BookExposure, compute_exposure
from hedgeops.engine.hedge.planner import PlanInputs
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.model.market import Fees, Quote

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LEGS = {"SOL": "SOL/USDT:USDT", "ETH": "ETH/USDT:USDT", "BTC": "BTC/USDT:USDT"}
SEED_MIN = {"SOL": D("0.05"), "ETH": D("0.005"), "BTC": D("0.0005")}


def quote(symbol: str, price: Decimal) -> Quote:
    tick = PAPER_MARKETS[symbol].price_step
    return Quote(symbol, price - tick, price + tick, price, NOW)


def exposure(rows: dict[str, tuple[str, str, str]], ratio: str = "1") -> BookExposure:
    """rows: asset -> (price, holding, hedge)."""
    obs = [AssetObservation(a, D(p), D(h), D(q)) for a, (p, h, q) in rows.items()]
    return compute_exposure(obs, Objective(hedgeRatio=D(ratio)))


def inputs(prices: dict[str, Decimal], policy: RebalancePolicySpec | None = None,
           min_order: dict[str, Decimal] | None = None) -> PlanInputs:
    policy = policy or RebalancePolicySpec(preset=Preset.COMPACT, minOrder=SEED_MIN)
    return PlanInputs(
        legs=LEGS, markets=PAPER_MARKETS,
        quotes={LEGS[a]: quote(LEGS[a], p) for a, p in prices.items()},
        min_order=policy.minOrder if min_order is None else min_order,
        normal_style=OrderStyle.MAKER, emergency_style=OrderStyle.TAKER,
        rebalance_to=resolve_rebalance_to(policy),
        thresholds=resolve_thresholds(policy), fees=Fees())

"""One HedgeBook decision, end to end: this cycle's bands, the trigger verdict and the updated drift
volatility. The runtime and the backtester both call this, so a benchmark measures the operator's logic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hedgeops.api.policy import RebalancePolicySpec, RebalanceTo
from hedgeops.engine.hedge.bands import (
    Thresholds,
    adapt_thresholds,
    resolve_rebalance_to,
    resolve_thresholds,
    resolve_volatility_bands,
)
from hedgeops.engine.hedge.exposure import BookExposure
from hedgeops.engine.hedge.triggers import TriggerDecision, decide
from hedgeops.engine.hedge.volatility import DeviationVolatility, update_volatility


@dataclass(frozen=True)
class BookDecision:
    """What the policy says about a book at one moment."""

    thresholds: Thresholds
    decision: TriggerDecision
    rebalance_to: RebalanceTo
    volatility: dict[str, DeviationVolatility]


def decide_book(
    exposure: BookExposure,
    policy: RebalancePolicySpec,
    now: datetime,
    last_rebalance_at: datetime | None,
    volatility: Mapping[str, DeviationVolatility],
    min_order: Mapping[str, Decimal],
) -> BookDecision:
    """`min_order`: the smallest tradeable amount per asset (the policy's and the market's larger)."""
    scaling = resolve_volatility_bands(policy)
    rebalance_to = resolve_rebalance_to(policy)
    vols = dict(volatility)
    if scaling is not None:
        for a in exposure.assets:
            vols[a.asset] = update_volatility(vols.get(a.asset), a.target_hedge_qty, now, scaling.halfLifeSeconds)
    thresholds = adapt_thresholds(
        resolve_thresholds(policy), exposure, volatility=vols, scaling=scaling, min_order=min_order,
        band_edge=rebalance_to is RebalanceTo.BAND_EDGE, overridden=frozenset(policy.assetOverrides))
    return BookDecision(thresholds, decide(exposure, thresholds, now, last_rebalance_at, min_order), rebalance_to, vols)

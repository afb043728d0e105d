"""Realised volatility and covariance from closing prices, the one estimator seed 002's weighting and dynamic
schedule read: log returns rₜ = ln(cₜ / cₜ₋₁) of consecutive closed candles, their sample variance and covariance
(divided by n − 1), annualised by the candles a year (365 for 1d, 2190 for 4h). Several assets' candles are first
aligned on their open times (`aligned_closes`): only the candles every asset has count, so each return of one asset
is paired with the other assets' returns over the same period.

Computed in binary floating point in a fixed order (the same inputs give the same bits on every IEEE 754
machine); results leave as Decimal rounded to 8 places. Pure: no I/O, no clock."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from hedgeops.model.candles import Candle

PERIODS_A_YEAR = {"1d": 365, "4h": 6 * 365}
MIN_RETURNS = 2  # a sample variance needs two returns: three closes
Q8 = Decimal("0.00000001")


def aligned_closes(candles: Mapping[str, Sequence[Candle]]) -> dict[str, tuple[Decimal, ...]]:
    """Each asset's closes, oldest first, at the open times every asset has a candle for. Venues do not close
    every market's candle at the same instant, and one may miss a candle: pairing by position would set one
    asset's Tuesday against another's Monday."""
    if not candles:
        return {}
    common = set.intersection(*({c.start for c in cs} for cs in candles.values()))
    return {a: tuple(c.close for c in sorted(cs, key=lambda c: c.start) if c.start in common)
            for a, cs in candles.items()}


def log_returns(closes: Sequence[Decimal]) -> list[float]:
    """ln(cₜ / cₜ₋₁) for each consecutive pair of positive closes, oldest first."""
    out = []
    for prev, cur in itertools.pairwise(closes):
        if prev > 0 and cur > 0:
            out.append(math.log(float(cur) / float(prev)))
    return out


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def sample_covariance(returns: Mapping[str, Sequence[float]]) -> dict[tuple[str, str], float] | None:
    """The sample covariance of every pair of assets, over the most recent returns they all have (the shortest
    series' length); None when that is fewer than MIN_RETURNS."""
    n = min((len(r) for r in returns.values()), default=0)
    if n < MIN_RETURNS:
        return None
    tail = {a: list(r[-n:]) for a, r in returns.items()}
    means = {a: _mean(r) for a, r in tail.items()}
    assets = sorted(tail)
    cov: dict[tuple[str, str], float] = {}
    for i, a in enumerate(assets):
        for b in assets[i:]:
            c = math.fsum((x - means[a]) * (y - means[b]) for x, y in zip(tail[a], tail[b], strict=True)) / (n - 1)
            cov[(a, b)] = cov[(b, a)] = c
    return cov


def annualise(variance: float, timeframe: str) -> Decimal:
    """√(variance × candles a year), as a Decimal rounded to 8 places."""
    return Decimal(repr(math.sqrt(max(variance, 0.0) * PERIODS_A_YEAR[timeframe]))).quantize(Q8, ROUND_HALF_EVEN)


def portfolio_volatility(weights: Mapping[str, Decimal], closes: Mapping[str, Sequence[Decimal]],
                         timeframe: str) -> Decimal | None:
    """√(wᵀΣw) annualised, for the weighted assets that have closes (an asset without closes, the quote
    currency, is riskless). None when there is nothing to read."""
    risky = {a: float(w) for a, w in weights.items() if a in closes and w != 0}
    if not risky:
        return Decimal(0)
    cov = sample_covariance({a: log_returns(closes[a]) for a in risky})
    if cov is None:
        return None
    variance = math.fsum(risky[a] * risky[b] * cov[(a, b)] for a in sorted(risky) for b in sorted(risky))
    return annualise(variance, timeframe)

"""Target weights from volatility (seed 002's dynamic risk budget): Static, InverseVolatility or RiskParity.

The static `targetWeights` give the universe and the budget: the assets other than the quote currency with a
target above zero share the sum of their targets; the quote currency keeps its own target as cash, and an asset
targeted at zero stays at zero. Within the budget:

- InverseVolatility: wᵢ ∝ 1/σᵢ, σᵢ the asset's realised volatility (engine/common/volatility_estimators.py);
- RiskParity: equal risk contributions wᵢ(Σw)ᵢ = wᵀΣw / n under the sample covariance Σ of log returns, solved by
  cyclical coordinate descent on ½yᵀΣy − Σ ln(yᵢ)/n (Griveau-Billion, Richard and Roncalli 2013) from y = 1/σ,
  sweep after sweep until every asset's risk contribution is within TOLERANCE (relative, 1e-10) of the equal
  share, n·yᵢ(Σy)ᵢ = 1 (checked every 10 sweeps), or MAX_SWEEPS (10 000) have run; then w = y / Σy. Strongly
  (negatively) correlated assets converge slowly: a solve that stops at the cap says so in every asset's reason.

Weights are rounded to 6 places (half even) and the rounding's remainder goes to the largest, so they sum to the
budget exactly. Without at least three closes for every asset of the universe, or with an asset that did not
move, the static targets stand and each asset's reason says why."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from hedgeops.api.allocation import Weighting
from hedgeops.engine.common.volatility_estimators import annualise, log_returns, sample_covariance

ZERO = Decimal(0)
Q6 = Decimal("0.000001")
TOLERANCE = 1e-10
MAX_SWEEPS = 10_000  # about 0.3 s for 5 assets: a cycle never waits long on a solve that will not settle
CHECK_EVERY = 10


@dataclass(frozen=True)
class AssetTarget:
    """The target an asset got, its static target, the volatility read (annualised) and why, in words."""

    asset: str
    weight: Decimal
    static: Decimal
    volatility: Decimal | None
    reason: str


def _static(targets: Mapping[str, Decimal], why: str, vols: Mapping[str, Decimal] | None = None) -> dict[
        str, AssetTarget]:
    return {a: AssetTarget(a, w, w, (vols or {}).get(a), why) for a, w in targets.items()}


def _rounded(raw: Mapping[str, float], budget: Decimal) -> dict[str, Decimal]:
    """Shares of `budget` in proportion to `raw`, rounded to 6 places, summing to `budget` exactly."""
    total = math.fsum(raw.values())
    out = {a: (budget * Decimal(repr(v / total))).quantize(Q6, ROUND_HALF_EVEN) for a, v in raw.items()}
    largest = max(sorted(out), key=lambda a: out[a])
    out[largest] += budget - sum(out.values(), ZERO)
    return out


@dataclass(frozen=True)
class RiskParity:
    """Equal-risk-contribution weights (summing to 1), whether the solve met TOLERANCE, and the sweeps it took."""

    weights: dict[str, float]
    converged: bool
    sweeps: int


def _gap(cov: Mapping[tuple[str, str], float], assets: Sequence[str], y: Mapping[str, float]) -> float:
    """The largest relative distance of a risk contribution from the equal share: max |n·yᵢ(Σy)ᵢ − 1|."""
    n = len(assets)
    return max(abs(n * y[a] * math.fsum(cov[(a, b)] * y[b] for b in assets) - 1) for a in assets)


def solve_risk_parity(cov: Mapping[tuple[str, str], float], assets: Sequence[str]) -> RiskParity:
    """Equal risk contributions for `assets` under covariance `cov` (variances > 0), to TOLERANCE or MAX_SWEEPS."""
    n = len(assets)
    y = {a: 1 / math.sqrt(cov[(a, a)]) for a in assets}
    sweeps = 0
    converged = _gap(cov, assets, y) <= TOLERANCE
    while not converged and sweeps < MAX_SWEEPS:
        for a in assets:
            c = math.fsum(cov[(a, b)] * y[b] for b in assets if b != a)
            var = cov[(a, a)]
            y[a] = (-c + math.sqrt(c * c + 4 * var / n)) / (2 * var)
        sweeps += 1
        if sweeps % CHECK_EVERY == 0 or sweeps == MAX_SWEEPS:
            converged = _gap(cov, assets, y) <= TOLERANCE
    total = math.fsum(y.values())
    return RiskParity({a: y[a] / total for a in assets}, converged, sweeps)


def risk_parity(cov: Mapping[tuple[str, str], float], assets: Sequence[str]) -> dict[str, float]:
    """Equal-risk-contribution weights (summing to 1) for `assets` under covariance `cov` (variances > 0)."""
    return solve_risk_parity(cov, assets).weights


def weigh(targets: Mapping[str, Decimal], quote: str, weighting: Weighting,
          closes: Mapping[str, Sequence[Decimal]] | None, timeframe: str) -> dict[str, AssetTarget]:
    """Every asset's target under `weighting`, from the static `targets` and the assets' closes (oldest first)."""
    if weighting is Weighting.STATIC:
        return _static(targets, "targetWeights (weighting Static)")
    universe = sorted(a for a, w in targets.items() if a != quote and w > 0)
    if not universe:
        return _static(targets, "no asset to weigh: targetWeights as written")
    budget = sum((targets[a] for a in universe), ZERO)
    returns = {a: log_returns((closes or {}).get(a, ())) for a in universe}
    short = [a for a in universe if len(returns[a]) < 2]
    if short:
        return _static(targets, f"{', '.join(short)}: fewer than 3 closed {timeframe} candles, targetWeights stand")
    cov = sample_covariance(returns)
    assert cov is not None  # every series has two returns or more
    vols = {a: annualise(cov[(a, a)], timeframe) for a in universe}
    still = [a for a in universe if cov[(a, a)] <= 0]
    if still:
        return _static(targets, f"{', '.join(still)}: no price movement in the window, targetWeights stand", vols)
    if weighting is Weighting.INVERSE_VOLATILITY:
        raw = {a: 1 / math.sqrt(cov[(a, a)]) for a in universe}
        how = "1/σ share of {budget}"
    else:
        solved = solve_risk_parity(cov, universe)
        raw = solved.weights
        how = "equal risk contribution within {budget}" + ("" if solved.converged else (
            f" (NOT converged: risk contributions still differ by more than {TOLERANCE:g} after "
            f"{solved.sweeps} sweeps; strongly correlated assets)"))
    weights = _rounded(raw, budget)
    out = _static(targets, "kept as written (quote currency or zero target)")
    for a in universe:
        out[a] = AssetTarget(a, weights[a], targets[a], vols[a],
                             f"{weighting.value}: σ {vols[a]:.2%} a year over {len(returns[a]) + 1} {timeframe} "
                             f"candles, {how.format(budget=f'{budget:.2%}')}")
    return out

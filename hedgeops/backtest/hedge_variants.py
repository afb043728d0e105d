"""Changes to the shipped default that the held-out numbers did not support, measured so that the README can say
so with figures.

Each variant changes one thing in the default (the 5-minute fit window's pick) and runs over both datasets of the
hedging benchmark; it is scored on the fit window and on everything after it, beside the default. Two kinds of
variant are not engine features, so a run of one replaces a single engine function for its own duration
(`patched`), always in a process of its own (`bench/hedge_variants.py`):

- bands ∝ σ^p instead of σ: the hourly volatility the bands read is mapped to SIGMA_REF·(σ/SIGMA_REF)^p, so a band
  at SIGMA_REF is unchanged and the bands of calmer and wilder assets move closer to it (p = ⅔ is the no-trade
  band of a variance penalty);
- trading the minimum order across the target: an asset may be traded once its deviation reaches a share f of
  its minimum order (the engine waits for the whole minimum, so that it never trades past the target), by the
  minimum order; for ETH and BTC, whose minimum order is 0.5–2.6% of the starting leg, this is the only way to hold them
  tighter than about a third of that."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgeops.api.policy import Execution, RebalancePolicySpec
from hedgeops.backtest import hedge_study as study
from hedgeops.backtest.basket import simulate
from hedgeops.backtest.readme_blocks import between, replace_between
from hedgeops.backtest.study_report import verdict_line
from hedgeops.engine.hedge import decision, planner, triggers
from hedgeops.engine.hedge.bands import resolve_volatility_bands
from hedgeops.engine.hedge.volatility import DeviationVolatility

D = Decimal
SIGMA_REF = 0.004  # an hourly drift volatility typical of SOL's on the bundled data
# Longer maker waits than the default's: 600 s is what a fit offered the wait picks (hedge_study says why the
# wait is set, not fitted), 1200 s twice that.
WAIT_FACTORS = (5, 10)
BEGIN, END = "<!-- hedge-variants:begin -->", "<!-- hedge-variants:end -->"


@dataclass(frozen=True)
class Variant:
    name: str
    spec: RebalancePolicySpec
    exponent: float | None = None  # bands ∝ σ^exponent
    across: str | None = None  # trade the minimum order across the target from this share of it
    stands_for: str | None = None  # a run with the venue's minimum orders: the benchmark policy it is


def _default() -> RebalancePolicySpec:
    return RebalancePolicySpec(minOrder=study.SEED_MIN)


def _with_bands(**change: Any) -> RebalancePolicySpec:
    bands = resolve_volatility_bands(_default())
    assert bands is not None
    return _default().model_copy(update={"volatilityBands": bands.model_copy(update=change)})


def variants() -> list[Variant]:
    """The default first, then one change each."""
    wait = _default().maker_timeout_s()
    bands = resolve_volatility_bands(_default())
    assert bands is not None
    half_life = f"{bands.halfLifeSeconds / 3600:g} h"
    return [
        Variant("the shipped default", _default()),
        *(Variant(f"maker wait {k * wait} s ({k}× the default's {wait} s)",
                  _default().model_copy(update={"execution": Execution(makerTimeoutSeconds=k * wait)}))
          for k in WAIT_FACTORS),
        Variant(f"volatility half-life 30 min (default {half_life})", _with_bands(halfLifeSeconds=1800)),
        Variant("volatility half-life 1 day", _with_bands(halfLifeSeconds=86400)),
        Variant("bands ∝ σ^⅔", _default(), exponent=2 / 3),
        Variant("bands ∝ σ^½", _default(), exponent=0.5),
        Variant("minimum order across the target from 85% of it", _default(), across="0.85"),
        Variant("minimum order across the target from 70% of it", _default(), across="0.7"),
        Variant(VENUE_DEFAULT, RebalancePolicySpec(), stands_for=study.DEFAULT),
    ]


VENUE_DEFAULT = "the venue's minimum orders instead of the seed's (the default without minOrder)"


def venue_baselines() -> list[Variant]:
    """Both Compact readings with the venue's minimum orders too: the default's change above is one to the book's
    minimum orders, which every policy would get."""
    return [Variant(f"{name}, with the venue's minimum orders", spec.model_copy(update={"minOrder": {}}),
                    stands_for=name)
            for name, spec in ((c.name, c.spec) for c in study.candidates() if c.name in study.BASELINES)]


def runs() -> list[Variant]:
    return [*variants(), *venue_baselines()]


# Where a variant reaches into the engine: (owner, attribute).
PATCH_POINTS: tuple[tuple[Any, str], ...] = (
    (DeviationVolatility, "per_hour"), (decision, "adapt_thresholds"), (triggers, "_tradeable"),
    (planner, "_trade_qty"))


@contextmanager
def patched(v: Variant) -> Iterator[None]:
    """The engine as the variant needs it for the duration, then exactly as it was."""
    saved = [getattr(owner, name) for owner, name in PATCH_POINTS]
    changes: dict[str, Any] = {}
    if v.exponent is not None:
        changes["per_hour"] = property(_power(saved[0], v.exponent))
    if v.across is not None:
        share = D(v.across)
        changes |= {"adapt_thresholds": _scaled_floor(saved[1], share), "_tradeable": _tradeable_from(share),
                    "_trade_qty": _across(saved[3], share)}
    try:
        for owner, name in PATCH_POINTS:
            if name in changes:
                setattr(owner, name, changes[name])
        yield
    finally:
        for (owner, name), original in zip(PATCH_POINTS, saved, strict=True):
            setattr(owner, name, original)


def _power(orig: Any, p: float) -> Callable[[DeviationVolatility], Decimal | None]:
    def per_hour(self: DeviationVolatility) -> Decimal | None:
        sigma = orig.fget(self)
        return None if sigma is None else D(repr(SIGMA_REF * (float(sigma) / SIGMA_REF) ** p))
    return per_hour


def _scaled_floor(orig: Any, share: Decimal) -> Any:
    def adapt(base: Any, exposure: Any, *, min_order: Mapping[str, Decimal], **kw: Any) -> Any:
        return orig(base, exposure, min_order={a: m * share for a, m in min_order.items()}, **kw)
    return adapt


def _tradeable_from(share: Decimal) -> Any:
    def tradeable(a: Any, min_order: Mapping[str, Decimal]) -> bool:
        return bool(a.net_qty != 0 and abs(a.net_qty) >= min_order.get(a.asset, D(0)) * share)
    return tradeable


def _across(orig: Any, share: Decimal) -> Any:
    def trade_qty(a: Any, inputs: Any, market: Any, minimum: Decimal, to_edge: bool, shrink: Decimal) -> Decimal:
        qty: Decimal = orig(a, inputs, market, minimum, to_edge, shrink)
        if to_edge and abs(qty) < minimum and a.price:
            band = inputs.thresholds.band_for(a.asset).ratio * a.target_notional / a.price
            if abs(a.net_qty) > band and abs(a.net_qty) >= minimum * share:
                return minimum.copy_sign(-a.net_qty)
        return qty
    return trade_qty


def settings(v: Variant) -> dict[str, Any]:
    """Everything a variant's run depends on besides the engine and the data: stored with its figures, so that a
    changed variant cannot leave a stale row behind."""
    return {"spec": v.spec.model_dump(mode="json", exclude_none=True), "exponent": v.exponent,
            "sigma_ref": SIGMA_REF if v.exponent is not None else None, "across": v.across,
            "stands_for": v.stands_for}


def run_one(v: Variant, ds: study.Dataset) -> dict[str, Any]:
    """One variant over one dataset: its figures on the fit window and on everything after it."""
    with patched(v):
        series = simulate(v.spec, study.BASKET, study.bars_of(ds), study.market())
    return {"variant": v.name, "dataset": ds.key, "settings": settings(v),
            "fit_window": series.figures(study.CAPITAL, 0, ds.fit_days),
            "held_out": series.figures(study.CAPITAL, ds.fit_days, series.days)}


def product_ratio(row: Mapping[str, Any], default: Mapping[str, Any]) -> float:
    """cost × mean against the default's: under 1, the variant is on a better frontier."""
    return float(row["cost_per_year_usd"] * row["mean_abs_exposure_pct"]
                 / (default["cost_per_year_usd"] * default["mean_abs_exposure_pct"]))


def venue_verdicts(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The benchmark's held-out verdict with the venue's minimum orders for the default and both Compacts."""
    stands = {v.name: v.stands_for for v in runs() if v.stands_for}
    return {key: study.verdict([{**r["held_out"], "policy": stands[r["variant"]]} for r in rows
                                if r["dataset"] == key and r["variant"] in stands])
            for key in dict.fromkeys(r["dataset"] for r in rows)}


def readme_block(rows: Sequence[Mapping[str, Any]]) -> str:
    table_names = {v.name for v in variants()}
    out = [BEGIN, "", "| change to the default | data | cost/yr $ held out (fit window) | mean \\|dev\\| | p99 | "
           "cost × mean ÷ the default's, held out (fit window) |", "|---|---|---:|---:|---:|---:|"]
    default = {r["dataset"]: r for r in rows if r["variant"] == variants()[0].name}
    for r in rows:
        if r["variant"] not in table_names:
            continue
        d = default[r["dataset"]]
        h, f = r["held_out"], r["fit_window"]
        out.append(f"| {r['variant']} | {r['dataset']} | {h['cost_per_year_usd']:.2f} ({f['cost_per_year_usd']:.2f}) | "
                   f"{h['mean_abs_exposure_pct']:.3f}% | {h['p99_abs_exposure_pct']:.2f}% | "
                   f"{product_ratio(h, d['held_out']):.0%} ({product_ratio(f, d['fit_window']):.0%}) |")
    lines = [f"{key}: {verdict_line({'verdict': v})}" for key, v in venue_verdicts(rows).items()]
    out += ["", "With the venue's minimum orders for the default and both Compact readings alike, after the fit "
            f"window: {'; '.join(lines)}."]
    return "\n".join([*out, "", END])


def replace_block(text: str, block: str) -> str:
    return replace_between(text, block, BEGIN, END)


def current_block(text: str) -> str:
    return between(text, BEGIN, END)

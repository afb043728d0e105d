"""The hedging benchmark: seed 000's policies against HedgeOps' default on real bars, judged only on data no
parameter was fitted on.

Book: $15,000 with constant target weights SOL 45%, ETH 8.5%, BTC 16%, the rest stablecoin, its risky part
hedged 1:1 with perps (`basket` explains the drift, `fills` the fills). Two datasets: the bundled 13.7 months
of Binance 5-minute perp bars and the 51 days where all three 1-minute perp files overlap.

Walk-forward: every parameter of every tuned policy is fitted on the days before the window it is scored on
(the fit window, then folds that each refit on everything before them). Every setting runs once, continuously,
over the whole dataset (a run only looks back, so its first d days are what a run of d days would give): a fit
reads a prefix, a fold is scored on its slice of the chosen setting's run. The shipped default's parameters
are what the same fit picks on the 5-minute fit window (the first 90 days, to 2025-03-31), so every held-out
day of both datasets (the 1-minute data begins 2025-05-04) is after them; a test holds the default to that pick.
Seed 000's policies are not tuned: they run as written, under the same untradeable rule as every policy
(`triggers.decide`), and Compact under both readings of its time trigger."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from hedgeops.api.policy import (
    Execution,
    Preset,
    RebalancePolicySpec,
    RebalanceTo,
    StaleBasis,
    Thresholds,
    VolatilityBands,
)
from hedgeops.backtest.basket import DAY_MS, Bars, Basket, Market, Series, load_bars, load_funding, score, simulate
from hedgeops.backtest.fills import load_book_profile
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.exchange.marketdata.replay import data_dir
from hedgeops.model.market import Fees

D = Decimal
ASSETS = ("SOL", "ETH", "BTC")
WEIGHTS = {"SOL": D("0.45"), "ETH": D("0.085"), "BTC": D("0.16")}
CAPITAL = D(15000)
SEED_MIN = {"SOL": D("0.05"), "ETH": D("0.005"), "BTC": D("0.0005")}
# The assets whose minimum order is a large part of their leg (ETH 0.5–1.9%, BTC 1.3–2.6%, against SOL's
# 0.05–0.2% over the bundled prices): inside that width no policy can trade them without crossing the target.
COARSE = ("ETH", "BTC")
BASKET = Basket(CAPITAL, WEIGHTS, {a: f"{a}/USDT:USDT" for a in ASSETS}, PAPER_MARKETS)
# The fit asks for this much headroom under the baseline's mean and p99, so that a setting which only just
# matches it on the past is not chosen over one that matches it clearly. Set before any held-out figure was
# seen; the results carry the pick at other margins (pick_by_margin).
FIT_MARGIN = 0.03
MARGINS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)
SEED_TIMEOUT = Execution(makerTimeoutSeconds=30)  # seed 000: maker_timeout_seconds 30

LOOSE = "Loose (seed 000)"
COMPACT_ASSET = "Compact (seed 000), time trigger on the worst asset"
COMPACT_TOTAL = "Compact (seed 000), time trigger on the total"
COMPACT_OLD = "Compact as first benchmarked (fires on untradeable deviations)"
PREVIOUS = "Adaptive x1.55, the previous default"
DEFAULT = "HedgeOps default (preset Adaptive)"
TARGET = "Fixed band to Target, walk-forward fitted"
EDGE = "Fixed band to BandEdge, walk-forward fitted"
ADAPTIVE = "Adaptive, walk-forward fitted"
BASELINES = (COMPACT_ASSET, COMPACT_TOTAL)


@dataclass(frozen=True)
class Dataset:
    key: str
    timeframe: str
    fit_days: int  # days [0, fit_days) are the first fit window; held-out folds follow
    fold_days: int
    days: int | None = None  # truncate (quick runs)

    def files(self) -> dict[str, Any]:
        return {a: data_dir() / f"binance_futures_{a}_USDT_{self.timeframe}.csv.gz" for a in ASSETS}


DATASETS = (Dataset("5m", "5m", 90, 65), Dataset("1m", "1m", 20, 10))


@dataclass(frozen=True)
class Candidate:
    """One setting of one policy family."""

    name: str
    family: str
    spec: RebalancePolicySpec
    untradeable_rule: bool = True
    params: tuple[tuple[str, str], ...] = ()


def _fixed_band(width: str, to: RebalanceTo) -> Candidate:
    b = D(width)
    spec = RebalancePolicySpec(
        preset=Preset.CUSTOM, rebalanceTo=to, minOrder=SEED_MIN, execution=SEED_TIMEOUT,
        thresholds=Thresholds(assetRatio=b, totalRatio=b * D("0.75"), emergencyAssetRatio=max(D("0.05"), 2 * b),
                              emergencyTotalRatio=max(D("0.03"), 2 * b * D("0.75")), staleAfterSeconds=0))
    family = TARGET if to is RebalanceTo.TARGET else EDGE
    return Candidate(f"{to.value} {b * 100:.2f}%", family, spec, params=(("band", width),))


def adaptive(multiplier: str, total: str, max_ratio: str) -> RebalancePolicySpec:
    """An Adaptive policy with the three parameters the fit chooses."""
    return RebalancePolicySpec(
        minOrder=SEED_MIN, thresholds=Thresholds(totalRatio=D(total)),
        volatilityBands=VolatilityBands(multiplier=D(multiplier), maxRatio=D(max_ratio)),
        execution=Execution(makerTimeoutSeconds=ADAPTIVE_TIMEOUT))


ADAPTIVE_GRID = [(m, t, mx) for m in ("1.25", "1.5", "1.75", "2") for t in ("0.006", "0.008", "0.01")
                 for mx in ("0.015", "0.03")]
# The maker wait is set, not fitted. A fit given longer waits simply takes the longest (5-minute bars sample the
# deviation at bar closes, so a wait inside a bar costs it nothing it can see); the wait also holds every
# Adaptive Allocation book, which this benchmark does not run; and a wait near the 10-minute
# deviationPersistSeconds (and the persistence alert's `for: 10m`) would let the alert fire before the taker
# fallback. Longer waits are rows of bench/hedge_variants.py instead.
ADAPTIVE_TIMEOUT = 120
WIDTHS = ("0.005", "0.0075", "0.01", "0.015", "0.02", "0.03")


def candidates(small: bool = False) -> list[Candidate]:
    """Every setting run over every dataset: the fixed policies, then the tuned families' grids."""
    fixed = [
        Candidate(LOOSE, LOOSE, RebalancePolicySpec(preset=Preset.LOOSE, checkIntervalSeconds=300, minOrder=SEED_MIN,
                                                    execution=SEED_TIMEOUT)),
        Candidate(COMPACT_ASSET, COMPACT_ASSET, RebalancePolicySpec(
            preset=Preset.COMPACT, minOrder=SEED_MIN, execution=SEED_TIMEOUT,
            thresholds=Thresholds(staleBasis=StaleBasis.WORST_ASSET))),
        Candidate(COMPACT_TOTAL, COMPACT_TOTAL, RebalancePolicySpec(
            preset=Preset.COMPACT, minOrder=SEED_MIN, execution=SEED_TIMEOUT,
            thresholds=Thresholds(staleBasis=StaleBasis.TOTAL))),
        Candidate(COMPACT_OLD, COMPACT_OLD, RebalancePolicySpec(
            preset=Preset.COMPACT, minOrder=SEED_MIN, execution=SEED_TIMEOUT), untradeable_rule=False),
        Candidate(PREVIOUS, PREVIOUS, RebalancePolicySpec(
            minOrder=SEED_MIN, thresholds=Thresholds(totalRatio=D("0.02")), execution=SEED_TIMEOUT,
            volatilityBands=VolatilityBands(multiplier=D("1.55"), maxRatio=D("0.03")))),
        Candidate(DEFAULT, DEFAULT, RebalancePolicySpec(minOrder=SEED_MIN)),
    ]
    widths = WIDTHS[2:4] if small else WIDTHS
    grid = ADAPTIVE_GRID[:2] if small else ADAPTIVE_GRID
    tuned = [_fixed_band(w, to) for to in (RebalanceTo.TARGET, RebalanceTo.BAND_EDGE) for w in widths]
    tuned += [Candidate(f"Adaptive x{m} total {D(t) * 100:.1f}% max {D(mx) * 100:.1f}%", ADAPTIVE,
                        adaptive(m, t, mx), params=(("multiplier", m), ("totalRatio", t), ("maxRatio", mx)))
              for m, t, mx in grid]
    return fixed + tuned


FIXED_ROWS = (LOOSE, COMPACT_ASSET, COMPACT_TOTAL, PREVIOUS, DEFAULT)
TUNED = (TARGET, EDGE, ADAPTIVE)


@cache
def market() -> Market:
    """Fees, each perp's book (the real BTC book's shape, its depth scaled by the asset's traded value against
    BTC's over the 5-minute fit window), and the Binance funding history."""
    profile = load_book_profile(data_dir() / "binance_futures_BTC_USDT_book_profile.json")
    volume = _quote_volume(DATASETS[0].fit_days)
    books = {a: profile.scaled(volume[a] / volume["BTC"]) for a in ASSETS}
    funding = {a: load_funding(data_dir() / f"binance_futures_{a}_USDT_funding_8h.csv.gz") for a in ASSETS}
    return Market(Fees(), books, funding)


def _quote_volume(days: int) -> dict[str, float]:
    """Traded value per perp over the first `days` of the 5-minute files (the fit window: nothing later)."""
    import csv
    import gzip

    out = {}
    for a in ASSETS:
        with gzip.open(data_dir() / f"binance_futures_{a}_USDT_5m.csv.gz", "rt", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows = [(int(r[0]), float(r[4]) * float(r[5])) for r in reader]
        stop = rows[0][0] + days * DAY_MS
        out[a] = sum(v for t, v in rows if t < stop)
    return out


_BARS: dict[tuple[str, int | None], Bars] = {}


def bars_of(ds: Dataset) -> Bars:
    key = (ds.timeframe, ds.days)
    if key not in _BARS:
        bars = load_bars(ds.files())
        if ds.days:
            bars = bars.window(0, ds.days * DAY_MS // bars.step_ms + 1)
        _BARS[key] = bars
    return _BARS[key]


def total_days(ds: Dataset) -> int:
    bars = bars_of(ds)
    return (bars.ts_ms[-1] - bars.ts_ms[0] - 1) // DAY_MS + 1


def folds(ds: Dataset) -> list[tuple[int, int]]:
    """Held-out windows [first, last) in days: fold after fold after the fit window; the last takes the rest."""
    n = total_days(ds)
    out, first = [], ds.fit_days
    while first < n:
        last = n if n - first < ds.fold_days * 3 // 2 else first + ds.fold_days
        out.append((first, last))
        first = last
    return out


def sweep_one(ds: Dataset, cand: Candidate) -> Series:
    """One setting over the whole dataset (its prefixes are the fit windows)."""
    return simulate(cand.spec, BASKET, bars_of(ds), market(), untradeable_rule=cand.untradeable_rule)


def fit(family: Sequence[Candidate], sweep: Mapping[str, Series], first: int, last: int,
        margin: float = FIT_MARGIN) -> Candidate:
    """The family's setting that the fit window [first, last) recommends: the cheapest whose mean and p99 are
    FIT_MARGIN under both Compact readings' (the stricter of the two) and whose time beyond 5%/3% is no
    longer; if none is, the one with the lowest mean."""
    base = [sweep[b].figures(CAPITAL, first, last) for b in BASELINES]
    mean = min(f["mean_abs_exposure_pct"] for f in base) * (1 - margin)
    p99 = min(f["p99_abs_exposure_pct"] for f in base) * (1 - margin)
    beyond = min(f["time_beyond_emergency_pct"] for f in base)
    scored = [(c, sweep[c.name].figures(CAPITAL, first, last)) for c in family]
    ok = [(f["cost_per_year_usd"], c.name, c) for c, f in scored if f["mean_abs_exposure_pct"] <= mean
          and f["p99_abs_exposure_pct"] <= p99 and f["time_beyond_emergency_pct"] <= beyond]
    if ok:
        return min(ok, key=lambda t: (t[0], t[1]))[2]
    return min(scored, key=lambda cf: (cf[1]["mean_abs_exposure_pct"], cf[0].name))[0]


def day_iso(ds: Dataset, day: int) -> str:
    """Day `day`'s boundary as a UTC instant: the open of its first bar (the end of the data for the last)."""
    bars = bars_of(ds)
    t = min(bars.ts_ms[0] + day * DAY_MS, bars.ts_ms[-1] + bars.step_ms)
    return datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


Mapper = Callable[..., Iterable[Any]]


def config() -> dict[str, Any]:
    """What decides the figures besides the code of the engine: stored with them, checked against the code."""
    return {"datasets": [{"key": d.key, "fit_days": d.fit_days, "fold_days": d.fold_days} for d in DATASETS],
            "fit_margin": FIT_MARGIN, "adaptive_grid": [list(g) for g in ADAPTIVE_GRID],
            "adaptive_timeout": ADAPTIVE_TIMEOUT, "widths": list(WIDTHS), "capital": str(CAPITAL),
            "weights": {a: str(w) for a, w in WEIGHTS.items()}, "min_order": {a: str(m) for a, m in SEED_MIN.items()}}


def chosen_settings(families: Mapping[str, Sequence[Candidate]], sweep: Mapping[str, Series],
                    windows: Sequence[tuple[int, int]]) -> dict[tuple[str, int], Candidate]:
    """Each tuned family's setting for each held-out window, fitted on every day before it and nothing after."""
    return {(f, i): fit(members, sweep, 0, first) for f, members in families.items()
            for i, (first, _) in enumerate(windows)}


def run_dataset(ds: Dataset, pool: Executor | None, small: bool = False,
                progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Everything the benchmark reports for one dataset."""
    cands = candidates(small)
    by_name = {c.name: c for c in cands}
    mapper: Mapper = pool.map if pool is not None else map
    sweep: dict[str, Series] = {}
    for c, series in zip(cands, mapper(sweep_one, [ds] * len(cands), cands), strict=True):
        sweep[c.name] = series
        progress(f"{ds.key} {len(sweep)}/{len(cands)}: {c.name}")
    days = next(iter(sweep.values())).days
    windows = folds(ds)
    families = {f: [c for c in cands if c.family == f] for f in TUNED}
    chosen = chosen_settings(families, sweep, windows)
    for name in FIXED_ROWS:
        for i in range(len(windows)):
            chosen[(name, i)] = by_name[name]
    held_out, fold_rows = [], []
    period = {"from": day_iso(ds, windows[0][0]), "to": day_iso(ds, windows[-1][1])}
    for policy in (*FIXED_ROWS, *TUNED):
        pieces = []
        for i, (first, last) in enumerate(windows):
            setting = chosen[(policy, i)]
            pieces.append((sweep[setting.name], first, last))
            fold_rows.append({"policy": policy, "fold": i + 1, "held_out": True,
                              "period": {"from": day_iso(ds, first), "to": day_iso(ds, last)},
                              "setting": setting.name, **sweep[setting.name].figures(CAPITAL, first, last)})
        held_out.append({"policy": policy, "held_out": True, "period": period,
                         "settings": sorted({chosen[(policy, i)].name for i in range(len(windows))}),
                         **score(pieces, CAPITAL)})
    whole = {"from": day_iso(ds, 0), "to": day_iso(ds, days)}
    in_sample = [{"policy": name, "held_out": False, "period": whole, **sweep[name].figures(CAPITAL)}
                 for name in (*FIXED_ROWS, COMPACT_OLD)]
    for f, members in families.items():
        best = fit(members, sweep, 0, days)
        in_sample.append({"policy": f.replace("walk-forward fitted", "fitted in-sample"), "held_out": False,
                          "period": whole, "setting": best.name, **sweep[best.name].figures(CAPITAL)})
    frontier = [{"policy": c.name, "family": c.family, "held_out": True, "period": period,
                 **sweep[c.name].figures(CAPITAL, windows[0][0], days)} for c in cands if c.family != COMPACT_OLD]
    pick = by_margin = None
    if ds.key == "5m":
        pick = dict(fit(families[ADAPTIVE], sweep, 0, ds.fit_days).params)
        by_margin = {str(m): fit(families[ADAPTIVE], sweep, 0, ds.fit_days, margin=m).name for m in MARGINS}
    bars = bars_of(ds)
    return {
        "dataset": ds.key, "bars": len(bars.ts_ms), "bar_seconds": bars.step_ms // 1000,
        "period": whole, "fit_window": {"from": day_iso(ds, 0), "to": day_iso(ds, ds.fit_days)},
        "folds": [{"from": day_iso(ds, a), "to": day_iso(ds, b)} for a, b in windows],
        "default_fit": pick, "pick_by_margin": by_margin,
        "held_out": held_out, "in_sample": in_sample, "fold_rows": fold_rows, "frontier": frontier,
        "verdict": verdict(held_out),
    }


TARGET_COST = 0.65


def verdict(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The issue's target, held out: the default's cost at most 65% of each fair Compact reading's, at no worse
    mean, p99, time beyond 5%/3% and emergencies."""
    by = {r["policy"]: r for r in rows}
    d = by[DEFAULT]
    out: dict[str, Any] = {}
    met = True
    for b in BASELINES:
        c = by[b]
        key = "vs_compact_asset" if b == COMPACT_ASSET else "vs_compact_total"
        ratios = {
            "cost": round(d["cost_per_year_usd"] / c["cost_per_year_usd"], 4),
            "mean": round(d["mean_abs_exposure_pct"] / c["mean_abs_exposure_pct"], 4),
            "p99": round(d["p99_abs_exposure_pct"] / c["p99_abs_exposure_pct"], 4),
            "beyond_pct_points": round(d["time_beyond_emergency_pct"] - c["time_beyond_emergency_pct"], 4),
            "emergencies_per_year": [d["emergency_rebalances_per_year"], c["emergency_rebalances_per_year"]],
        }
        ok = (ratios["cost"] <= TARGET_COST and ratios["mean"] <= 1 and ratios["p99"] <= 1
              and ratios["beyond_pct_points"] <= 0
              and d["emergency_rebalances_per_year"] <= c["emergency_rebalances_per_year"])
        out[key] = {**ratios, "met": ok}
        met = met and ok
    out["target_met"] = met
    return out


def day_of_iso(iso: str) -> datetime:
    """A period boundary as stored (`day_iso`) back to an instant."""
    return datetime.strptime(iso, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)

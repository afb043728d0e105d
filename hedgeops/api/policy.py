"""RebalancePolicy: WHEN and HOW a book is brought back (seeds 000, 001, 002)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from croniter import CroniterBadDateError, croniter
from pydantic import ConfigDict, Field, model_validator

from hedgeops.api.cel import rule, with_rules
from hedgeops.api.common import (
    MAX_ASSETS,
    MAX_CONDITIONS,
    AssetCode,
    Condition,
    PositiveQuantity,
    Quantity,
    Ratio,
    Resource,
    Schema,
)

SEED_MAKER_TIMEOUT_S = 30  # seed 000: maker_timeout_seconds
MAX_WINDOW_CANDLES = 299  # model.candles.MAX_CANDLES, what a venue serves in one call (the api imports only api)


def cron_problem(cron: str) -> str | None:
    """Why `cron` cannot schedule anything (None: it can): not a five-field expression, or one that never fires
    ("0 0 31 2 *": croniter gives up looking for its next and previous dates)."""
    if not croniter.is_valid(cron):
        return f"{cron!r} is not a valid five-field cron expression"
    try:
        croniter(cron, 0).get_next(float)
        croniter(cron, 0).get_prev(float)
    except CroniterBadDateError:
        return f"{cron!r} never fires (no such date)"
    return None
ADAPTIVE_MAKER_TIMEOUT_S = 120


class Preset(StrEnum):
    """Named threshold sets. Explicit thresholds override the preset's values field by field."""

    ADAPTIVE = "Adaptive"  # HedgeOps' recommended default: volatility-scaled bands, trade to the band edge
    COMPACT = "Compact"  # seed 000: 2%/1.5%, emergency 5%/3%, 1 h + 1%
    LOOSE = "Loose"  # seed 000: 5%/3%, emergency 10%/8%
    AGGRESSIVE = "Aggressive"  # seed 001: delta threshold 0.05
    BALANCED = "Balanced"  # seed 001: delta threshold 0.10
    CONSERVATIVE = "Conservative"  # seed 001: delta threshold 0.15
    CUSTOM = "Custom"  # everything from `thresholds`


class RebalanceTo(StrEnum):
    """Where a rebalance trades back to."""

    TARGET = "Target"  # zero deviation, as the seeds do
    BAND_EDGE = "BandEdge"  # just back inside the band: the cost-optimal no-trade-band rule


class StaleBasis(StrEnum):
    """What the time + deviation trigger reads. Seed 000 says "more than 1 h since the last rebalance and the
    deviation above 1%": its diagram reads as any asset's deviation, its JSON config puts the 1% among the
    total thresholds."""

    WORST_ASSET = "WorstAsset"
    TOTAL = "Total"


class OrderStyle(StrEnum):
    """Maker: post-only limit at the touch, taker fallback after a timeout. Taker: market order."""

    MAKER = "Maker"
    TAKER = "Taker"


class Approval(StrEnum):
    """Auto trades at once; Manual waits for hedgeops.io/approve=<planId>."""

    AUTO = "Auto"
    MANUAL = "Manual"


class Thresholds(Schema):
    """Deviation ratios that trigger a rebalance (0–1). Unset fields come from the preset."""

    model_config = with_rules(
        rule(
            "!has(self.assetRatio) || !has(self.emergencyAssetRatio) || "
            "self.emergencyAssetRatio > self.assetRatio",
            "emergencyAssetRatio must be above assetRatio",
            ".emergencyAssetRatio",
        ),
        rule(
            "!has(self.totalRatio) || !has(self.emergencyTotalRatio) || "
            "self.emergencyTotalRatio > self.totalRatio",
            "emergencyTotalRatio must be above totalRatio",
            ".emergencyTotalRatio",
        ),
    )

    assetRatio: Ratio | None = None
    """Normal rebalance when any asset's |deviation| exceeds this (Compact: 0.02)."""
    totalRatio: Ratio | None = None
    """Normal rebalance when total deviation exceeds this (Compact: 0.015)."""
    emergencyAssetRatio: Ratio | None = None
    """Emergency (taker + alert) when any asset's |deviation| exceeds this (Compact: 0.05)."""
    emergencyTotalRatio: Ratio | None = None
    """Emergency when total deviation exceeds this (Compact: 0.03)."""
    staleAfterSeconds: Annotated[int, Field(ge=0)] | None = None
    """Time trigger: this long since the last rebalance ... (Compact: 3600; 0 disables)."""
    staleRatio: Ratio | None = None
    """... and the deviation above this (Compact: 0.01) ..."""
    staleBasis: StaleBasis | None = None
    """... read on the worst asset's |deviation| (WorstAsset, the default) or on the total deviation (Total)."""


class VolatilityBands(Schema):
    """Per-asset normal bands that follow how fast each asset's deviation drifts: band = multiplier ×
    the drift's hourly volatility, clamped. Calm markets get tight bands, wild ones wide bands, which is
    cheaper for the same average exposure than one fixed band (no-trade-band theory). The Adaptive
    preset uses the defaults below when this is not set."""

    model_config = with_rules(
        rule("self.maxRatio > self.minRatio", "maxRatio must be above minRatio", ".maxRatio"),
    )

    multiplier: Annotated[Decimal, Field(gt=0, le=100)] = Decimal("1.75")
    """Band as a multiple of the hourly standard deviation of the deviation's drift."""
    halfLifeSeconds: Annotated[int, Field(ge=60, le=30 * 86400)] = 7200
    """Half-life of the volatility estimate."""
    minRatio: Ratio = Decimal("0.002")
    """The band never gets tighter than this."""
    maxRatio: Ratio = Decimal("0.03")
    """The band never gets wider than this (nor than the emergency ratio)."""


class AssetBand(Schema):
    """Per-asset thresholds (seed 000 advanced: SOL 1.5%/4%, ETH 2.5%/6%, BTC 2%/5%)."""

    model_config = with_rules(
        rule("self.emergencyRatio > self.ratio", "emergencyRatio must be above ratio", ".emergencyRatio"),
    )

    ratio: Ratio
    """Normal threshold for this asset."""
    emergencyRatio: Ratio
    """Emergency threshold for this asset."""


class Execution(Schema):
    """How orders are placed."""

    normal: OrderStyle = OrderStyle.MAKER
    """Order style for normal rebalances."""
    emergency: OrderStyle = OrderStyle.TAKER
    """Order style for emergency rebalances."""
    makerTimeoutSeconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    """Unfilled maker orders are cancelled and the rest sent as taker after this long. Unset: 120 for the Adaptive
    preset (set, not fitted: most normal rebalances then fill as maker, and the taker fallback comes well before
    the 10-minute deviationPersistSeconds), the seed's 30 for every other preset."""
    maxSlippageRatio: Ratio = Decimal("0.005")
    """Taker orders are refused when the book would move the price more than this."""
    maxOrderQuote: PositiveQuantity | None = None
    """Slice orders larger than this notional into several."""


class LimitsPreset(StrEnum):
    """Named risk-limit sets (RebalancePolicy.spec.limits.preset); the limits' own fields win over them."""

    SEED_001 = "Seed001"  # seed 001's RISK_CONTROLS and adjustment_cost_threshold, as written


# Seed 001 §9.1 RISK_CONTROLS, and §3.3's adjustment_cost_threshold: 10 adjustments a day, a delta change of 5 units
# per trade, 1000 of cost a day, 300 s between adjustments, 30% concentration, cost at most 1% of what is traded.
# (Its min/max_adjustment_amount, 0.1 and 10 units, are per asset: the policy's minOrder and maxOrder.)
LIMITS_PRESETS: dict[LimitsPreset, dict[str, Any]] = {LimitsPreset.SEED_001: {
    "maxRebalancesPerDay": 10, "maxDeltaChangePerTrade": Decimal("5.0"), "maxDailyCostQuote": Decimal(1000),
    "minSecondsBetweenRebalances": 300, "maxConcentrationRatio": Decimal("0.3"), "maxCostRatio": Decimal("0.01")}}


class Limits(Schema):
    """Risk limits (seed 001). Emergency rebalances ignore the count and spacing limits."""

    preset: Annotated[LimitsPreset, Field(json_schema_extra={"maxLength": 16})] | None = None
    """A named set of limits, field by field under the explicit ones: Seed001 is seed 001's (10 rebalances a day,
    5 units per order, 1000 of cost a day, 300 s apart, 30% concentration, cost at most 1% of the notional
    traded)."""
    maxRebalancesPerDay: Annotated[int, Field(ge=1)] | None = None
    """At most this many rebalances per UTC day."""
    maxDailyCostQuote: PositiveQuantity | None = None
    """Stop rebalancing for the day once fees reach this."""
    minSecondsBetweenRebalances: Annotated[int, Field(ge=0)] | None = None
    """Minimum spacing between normal rebalances."""
    maxDeltaChangePerTrade: PositiveQuantity | None = None
    """Largest delta change (units of the asset) one order may make."""
    maxConcentrationRatio: Ratio | None = None
    """Largest share of the book's value one asset's position may reach; orders that would push past it are
    refused (orders that reduce it are always allowed)."""
    maxCostRatio: Ratio | None = None
    """Refuse a normal plan whose estimated cost exceeds this share of the notional it trades (seed 001
    adjustment_cost_threshold: 0.01)."""

    def effective(self) -> Limits:
        """The limits in force: the explicit fields, and the preset's values where a field is unset."""
        if self.preset is None:
            return self
        unset = {k: v for k, v in LIMITS_PRESETS[self.preset].items() if getattr(self, k) is None}
        return self.model_copy(update=unset)


class AllocationPreset(StrEnum):
    """Seed 002's strategy presets for Allocation books: the drift band and the schedule each fills where the
    policy leaves them unset (explicit fields win). Biweekly is cron's nearest: the 1st and the 15th."""

    STABLECOIN_VAULT = "StablecoinVault"  # 10 % drift, weekly (Monday 00:00 UTC)
    INDEX_FUND = "IndexFund"  # 5 % drift, monthly (the 1st, 00:00 UTC)
    BITCOIN_STRATEGY = "BitcoinStrategy"  # 7 % drift, every two weeks (the 1st and the 15th, 00:00 UTC)
    ETHER_STRATEGY = "EtherStrategy"  # 7 % drift, every two weeks (the 1st and the 15th, 00:00 UTC)
    CUSTOM = "Custom"  # nothing filled: driftRatio 0.05 unless set, no schedule unless set


class Opportunity(Schema):
    """Opportunity-based rebalancing (seed 002): rebalance before the band is reached when it is cheap: some
    asset has drifted at least `minDriftFraction` of its band and the plan's forecast cost (fees and the
    book-walk slippage) is at most `maxCostRatio` of the notional it trades."""

    minDriftFraction: Annotated[Ratio, Field(gt=0)] = Decimal("0.5")
    """Share of its band an asset's drift must reach first (0.5: half-way to the band)."""
    maxCostRatio: Ratio = Decimal("0.0015")
    """The forecast cost, as a share of the traded notional, at or below which the rebalance is cheap."""


class AllocationRules(Schema):
    """Allocation books (seed 002): how far weights may drift before trading, and what a trade may cost."""

    preset: Annotated[AllocationPreset, Field(json_schema_extra={"maxLength": 16})] = AllocationPreset.CUSTOM
    """Seed 002's strategies: StablecoinVault (10 %, weekly), IndexFund (5 %, monthly), BitcoinStrategy and
    EtherStrategy (7 %, every two weeks). They fill driftRatio and the schedule's cron where unset."""
    driftRatio: Ratio | None = None
    """Rebalance when any asset's weight is this many points from its target (0.05: 30% → 35%). Unset: the
    preset's (seed 002: index fund 5%, BTC/ETH strategies 7%, stablecoin vault 10%), else 0.05."""
    assetDrift: dict[AssetCode, Ratio] = Field(default_factory=dict, max_length=MAX_ASSETS)
    """Per-asset drift thresholds that replace driftRatio."""
    minTradeQuote: PositiveQuantity = Decimal(10)
    """Legs worth less than this are left alone."""
    maxCostRatio: Ratio = Decimal("0.005")
    """A plan whose forecast cost (fees and slippage) exceeds this share of the book's value waits (seed 002:
    cost tolerance), unless it is an emergency exit."""
    opportunity: Opportunity | None = None
    """Rebalance early when it is cheap (unset: only on drift, schedule or request)."""


class VolatilityWindow(Schema):
    """Realised volatility, as HedgeOps estimates it: the sample standard deviation of the log returns of the
    last `candles` closed candles of `timeframe` (candles − 1 returns), annualised by √(periods a year: 365 for
    1d, 2190 for 4h)."""

    timeframe: Annotated[Literal["1d", "4h"], Field(json_schema_extra={"maxLength": 2})] = "1d"
    """Candle length: 1d or 4h."""
    candles: Annotated[int, Field(ge=3, le=MAX_WINDOW_CANDLES)] = 30
    """How many closed candles the estimate reads (at most 299: what a venue serves in one call)."""


class VolatilityRegime(Schema):
    """One row of the seed's volatility table: at or above this annualised volatility, this schedule."""

    minVolatilityRatio: Annotated[Quantity, Field(ge=0, le=100)]
    """Annualised volatility (0.40 = 40 %) from which the row applies."""
    cron: Annotated[str, Field(pattern=r"^(\S+\s+){4}\S+$", max_length=256)]
    """Five-field cron expression, UTC."""

    @model_validator(mode="after")
    def _valid_cron(self) -> VolatilityRegime:
        problem = cron_problem(self.cron)
        if problem is not None:
            raise ValueError(f"cron: {problem}")
        return self


def _seed_regimes() -> list[VolatilityRegime]:
    """Seed 002's volatility table (15 / 25 / 40 / 60 % → monthly / bi-weekly / weekly / daily) with its
    quarterly schedule for stable books below the first row."""
    rows = (("0", "0 0 1 1,4,7,10 *"), ("0.15", "0 0 1 * *"), ("0.25", "0 0 1,15 * *"), ("0.40", "0 0 * * 1"),
            ("0.60", "0 0 * * *"))
    return [VolatilityRegime(minVolatilityRatio=Decimal(v), cron=c) for v, c in rows]


class DynamicSchedule(Schema):
    """Dynamic frequency (seed 002): the schedule follows the book's realised volatility, the volatility of its
    target weights over the window's candles (√(wᵀΣw), Σ the sample covariance of the assets' log returns, the
    quote currency riskless). The row with the highest minVolatilityRatio at or below it applies; the first row
    starts at 0 and the thresholds strictly increase, so every volatility has exactly one row. Without enough
    candles the volatility is unknown and the busiest row (the one that fires most often) applies."""

    model_config = with_rules(
        rule("!has(self.regimes) || size(self.regimes) == 0 || self.regimes[0].minVolatilityRatio == 0.0",
             "the first regime's minVolatilityRatio must be 0", ".regimes"),
        rule("!has(self.regimes) || [1, 2, 3, 4, 5, 6, 7].all(i, i >= size(self.regimes) || "
             "self.regimes[i - 1].minVolatilityRatio < self.regimes[i].minVolatilityRatio)",
             "regimes' minVolatilityRatio must strictly increase", ".regimes"),
    )

    window: VolatilityWindow = Field(default_factory=VolatilityWindow)
    """How volatility is estimated."""
    regimes: list[VolatilityRegime] = Field(default_factory=_seed_regimes, min_length=1, max_length=8)
    """The table (default: seed 002's, quarterly below 15 %, monthly, bi-weekly from 25 %, weekly from 40 %,
    daily from 60 %)."""

    @model_validator(mode="after")
    def _one_row_each(self) -> DynamicSchedule:
        if self.regimes[0].minVolatilityRatio != 0:
            raise ValueError("regimes: the first regime's minVolatilityRatio must be 0")
        for a, b in zip(self.regimes, self.regimes[1:], strict=False):
            if not a.minVolatilityRatio < b.minVolatilityRatio:
                raise ValueError("regimes: minVolatilityRatio must strictly increase "
                                 f"({a.minVolatilityRatio} then {b.minVolatilityRatio})")
        return self


class Schedule(Schema):
    """Time-based rebalancing (seed 002): a fixed cron, or a dynamic one that follows volatility; with neither,
    the allocation preset's cron. Each scheduled rebalance is announced `noticeSeconds` ahead."""

    model_config = with_rules(
        rule("!has(self.cron) || !has(self.dynamic)", "set cron or dynamic, not both", ".dynamic"),
    )

    cron: Annotated[str, Field(pattern=r"^(\S+\s+){4}\S+$", max_length=256)] | None = None
    """Standard five-field cron expression, UTC (seed 002: monthly "0 0 1 * *", weekly "0 0 * * 1")."""
    dynamic: DynamicSchedule | None = None
    """Dynamic frequency: the cron follows the book's realised volatility."""
    noticeSeconds: Annotated[int, Field(ge=0, le=30 * 86400)] = 3600
    """How long before a scheduled rebalance the event RebalanceScheduled is posted (0: no notice)."""

    @model_validator(mode="after")
    def _valid_cron(self) -> Schedule:
        problem = cron_problem(self.cron) if self.cron is not None else None
        if problem is not None:
            raise ValueError(f"cron: {problem}")
        if self.cron is not None and self.dynamic is not None:
            raise ValueError("dynamic: set cron or dynamic, not both")
        return self


class Alerts(Schema):
    """Alert rules evaluated by the engine (seed 000 phase 3)."""

    deviationPersistRatio: Ratio = Decimal("0.02")
    """Alert when deviation stays above this ..."""
    deviationPersistSeconds: Annotated[int, Field(ge=1)] = 600
    """... for this long."""


class RebalancePolicySpec(Schema):
    """When and how books that reference this policy are rebalanced."""

    model_config = with_rules(
        rule("!has(self.schedule) || has(self.schedule.cron) || has(self.schedule.dynamic) || "
             "(has(self.allocation) && has(self.allocation.preset) && self.allocation.preset != 'Custom')",
             "schedule needs cron or dynamic (or an allocation preset whose cron it takes)", ".schedule"),
    )

    checkIntervalSeconds: Annotated[int, Field(ge=1, le=86400)] = 60
    """How often each book is observed and decided."""
    preset: Preset = Preset.ADAPTIVE
    """Named threshold set. Adaptive (the default) is HedgeOps' recommendation; Compact and Loose are seed
    000's policies exactly as written."""
    thresholds: Thresholds = Field(default_factory=Thresholds)
    """Explicit thresholds (override the preset)."""
    assetOverrides: dict[AssetCode, AssetBand] = Field(default_factory=dict, max_length=MAX_ASSETS)
    """Per-asset thresholds. A policy is shared: each book uses the overrides of the assets it hedges."""
    rebalanceTo: RebalanceTo | None = None
    """Target (zero deviation) or BandEdge. Unset: BandEdge for the Adaptive preset, Target otherwise.
    Emergencies always trade back to the target."""
    volatilityBands: VolatilityBands | None = None
    """Volatility-scaled per-asset bands (replace the asset ratio; per-asset overrides still win)."""
    execution: Execution = Field(default_factory=Execution)
    """Order placement."""
    minOrder: dict[AssetCode, PositiveQuantity] = Field(default_factory=dict, max_length=MAX_ASSETS)
    """Smallest order per asset in units (seed 000: SOL 0.05, ETH 0.005, BTC 0.0005). Never below the
    market's own minimum."""
    limits: Limits = Field(default_factory=Limits)
    """Risk limits."""
    maxOrder: dict[AssetCode, PositiveQuantity] = Field(default_factory=dict, max_length=MAX_ASSETS)
    """Largest adjustment per asset per plan in units (seed 001 max_adjustment_amount): a larger need is
    traded this much per cycle."""
    approval: Approval = Approval.AUTO
    """Auto or Manual."""
    approvalTtlSeconds: Annotated[int, Field(ge=10, le=7 * 86400)] = 3600
    """A plan awaiting manual approval expires after this long."""
    allocation: AllocationRules = Field(default_factory=AllocationRules)
    """Rules for books with objective Allocation."""
    schedule: Schedule | None = None
    """Time-based rebalancing (an allocation preset fills its cron when unset)."""
    alerts: Alerts = Field(default_factory=Alerts)
    """Alert rules."""

    def maker_timeout_s(self) -> int:
        """The maker timeout in force: explicit, else the preset's (see Execution.makerTimeoutSeconds)."""
        if self.execution.makerTimeoutSeconds is not None:
            return self.execution.makerTimeoutSeconds
        return ADAPTIVE_MAKER_TIMEOUT_S if self.preset is Preset.ADAPTIVE else SEED_MAKER_TIMEOUT_S

    @model_validator(mode="after")
    def _emergency_above_normal(self) -> RebalancePolicySpec:
        t = self.thresholds
        for normal, emergency, name in (
            (t.assetRatio, t.emergencyAssetRatio, "thresholds.emergencyAssetRatio"),
            (t.totalRatio, t.emergencyTotalRatio, "thresholds.emergencyTotalRatio"),
        ):
            if normal is not None and emergency is not None and emergency <= normal:
                raise ValueError(f"{name}: must be above the normal ratio")
        for asset, band in self.assetOverrides.items():
            if band.emergencyRatio <= band.ratio:
                raise ValueError(f"assetOverrides.{asset}.emergencyRatio: must be above ratio")
        s = self.schedule
        if s is not None and s.cron is None and s.dynamic is None and self.allocation.preset is AllocationPreset.CUSTOM:
            raise ValueError("schedule: needs cron or dynamic (or an allocation preset whose cron it takes)")
        return self


class RebalancePolicyStatus(Schema):
    """Observed state of a RebalancePolicy."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    observedGeneration: int | None = None
    """The spec generation last validated."""
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    """Ready."""


class RebalancePolicy(Resource[RebalancePolicySpec, RebalancePolicyStatus]):
    """When and how a book is brought back into its band."""

    KIND: ClassVar[str] = "RebalancePolicy"
    PLURAL: ClassVar[str] = "rebalancepolicies"
    SINGULAR: ClassVar[str] = "rebalancepolicy"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("rbp", "rpol")
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Preset", "type": "string", "jsonPath": ".spec.preset"},
        {"name": "Interval", "type": "integer", "jsonPath": ".spec.checkIntervalSeconds"},
        {"name": "To", "type": "string", "jsonPath": ".spec.rebalanceTo"},
        {"name": "Approval", "type": "string", "jsonPath": ".spec.approval"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

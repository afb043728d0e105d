"""HedgeBook: WHAT is held and which perp legs neutralise it (or which weights to keep)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from hedgeops.api.allocation import PendingPlanDoc, RebalanceNowStatus, ScheduleStatus, Weighting
from hedgeops.api.cel import linear_swap_rule, rule, with_rules
from hedgeops.api.common import (
    MAX_ASSETS,
    MAX_CONDITIONS,
    MAX_PLAN_ORDERS,
    AssetCode,
    Condition,
    DecimalText,
    ExchangeRef,
    Mode,
    ObjectRef,
    Quantity,
    Ratio,
    Resource,
    Schema,
    SecretRef,
    ShortText,
    StatusMessage,
    StatusSymbol,
    SwapSymbol,
    TimeText,
    inline_schema,
    is_linear_swap,
    live_account_rule,
    symbol_base,
)
from hedgeops.api.holdings import (
    Basket as Basket,
)
from hedgeops.api.holdings import (
    ExchangeBalanceHoldings as ExchangeBalanceHoldings,
)
from hedgeops.api.holdings import (
    Holdings as Holdings,
)
from hedgeops.api.holdings import (
    HoldingsSource as HoldingsSource,
)
from hedgeops.api.holdings import (
    HttpHoldings as HttpHoldings,
)
from hedgeops.api.instruments import (
    MAX_INSTRUMENTS,
    DeltaInstrument,
    InstrumentDeltaStatus,
    book_rules,
    check_instruments,
)
from hedgeops.api.policy import VolatilityWindow

# Enums read by CEL rules carry a maxLength so the API server can bound the rules' cost.
_ENUM_BOUND: dict[str, Any] = {"maxLength": 16}


class ObjectiveType(StrEnum):
    """Hedge neutralises holdings with perps; Allocation keeps target weights among spot assets."""

    HEDGE = "Hedge"
    ALLOCATION = "Allocation"


class Objective(Schema):
    """What the book aims for."""

    model_config = with_rules(
        rule(
            "self.type != 'Allocation' || has(self.targetWeights)",
            "objective Allocation needs targetWeights",
            ".targetWeights",
        ),
        rule("self.type == 'Allocation' || !has(self.weighting) || self.weighting == 'Static'",
             "weighting applies to objective Allocation only (a Hedge book's targets are its deltas)", ".weighting"),
        rule("self.type == 'Allocation' || !has(self.weightingWindow) || ("
             "(!has(self.weightingWindow.timeframe) || self.weightingWindow.timeframe == '1d') && "
             "(!has(self.weightingWindow.candles) || self.weightingWindow.candles == 30))",
             "weightingWindow applies to objective Allocation only", ".weightingWindow"),
    )

    type: Annotated[ObjectiveType, Field(json_schema_extra=_ENUM_BOUND)] = ObjectiveType.HEDGE
    """Hedge or Allocation."""
    hedgeRatio: Ratio = Decimal(1)
    """Fraction of each holding to neutralise (0–1)."""
    hedgeRatioOverrides: dict[AssetCode, Ratio] = Field(default_factory=dict, max_length=MAX_ASSETS)
    """Per-asset hedge ratios that replace hedgeRatio."""
    targetDelta: Annotated[dict[AssetCode, Quantity], Field(max_length=MAX_ASSETS)] | None = None
    """Explicit target net delta per asset, in units of the asset; replaces the hedge ratio for those
    assets. A TradingView signal may override it for a while."""
    targetWeights: Annotated[dict[AssetCode, Ratio], Field(max_length=MAX_ASSETS)] | None = None
    """Allocation: target share of value per asset (sums to 1)."""
    weighting: Annotated[Weighting, Field(json_schema_extra={"maxLength": 32})] = Weighting.STATIC
    """Allocation: Static (targetWeights as written), InverseVolatility (wᵢ ∝ 1/σᵢ) or RiskParity (equal risk
    contributions under the sample covariance). The assets with a target above zero form the universe and
    share the sum of their targets; the quote currency keeps its target as cash."""
    weightingWindow: VolatilityWindow = Field(default_factory=VolatilityWindow)
    """Allocation: the candles σ and the covariance are estimated from (weighting other than Static)."""

    @model_validator(mode="after")
    def _allocation_weights(self) -> Objective:
        if self.type is not ObjectiveType.ALLOCATION:  # defaults are what the API server fills in: they pass
            if self.weighting is not Weighting.STATIC:
                raise ValueError("weighting: applies to objective Allocation only")
            if self.weightingWindow != VolatilityWindow():
                raise ValueError("weightingWindow: applies to objective Allocation only")
        if self.type is ObjectiveType.ALLOCATION:
            if not self.targetWeights:
                raise ValueError("targetWeights: objective Allocation needs targetWeights")
            total = sum(self.targetWeights.values(), Decimal(0))
            if abs(total - 1) > Decimal("0.0001"):
                raise ValueError(f"targetWeights: the weights sum to {total}, not 1")
        return self


class Leg(Schema):
    """A perpetual contract that hedges one held asset: the asset's own linear swap, nothing else. A spot market
    would sell the holding itself; another asset's swap would hedge SOL with BTC."""

    model_config = with_rules(
        rule("self.symbol.startsWith(self.asset + '/')",
             "the symbol's base must be the leg's asset (for example SOL/USDT:USDT for SOL)", ".symbol"),
        linear_swap_rule("symbol", "SOL/USDT:USDT"),
    )

    asset: AssetCode
    """The held asset this leg neutralises."""
    symbol: SwapSymbol
    """ccxt unified symbol of the asset's linear perpetual swap (BASE/QUOTE:SETTLE, SETTLE = QUOTE, BASE = asset),
    for example SOL/USDT:USDT."""

    @model_validator(mode="after")
    def _symbol_is_the_assets_swap(self) -> Leg:
        if symbol_base(self.symbol) != self.asset:
            raise ValueError(f"symbol: the symbol's base must be the leg's asset ({self.symbol} is not {self.asset}'s "
                             f"swap; for example {self.asset}/USDT:USDT)")
        if not is_linear_swap(self.symbol):
            raise ValueError(f"symbol: {self.symbol} must be a linear perpetual swap, BASE/QUOTE:SETTLE settled in its "
                             "quote currency")
        return self


class TradingViewSignals(Schema):
    """TradingView webhook signals that may override the target for a while."""

    model_config = with_rules(
        rule("!self.enabled || has(self.secretRef)", "enabled signals need secretRef", ".secretRef"),
    )

    enabled: bool = False
    """Accept signals for this book."""
    secretRef: SecretRef | None = None
    """Secret holding the webhook passphrase (key: passphrase)."""
    maxAgeSeconds: Annotated[int, Field(ge=1, le=86400)] = 300
    """Signals older than this are refused."""


class Signals(Schema):
    """External signals."""

    tradingView: TradingViewSignals = Field(default_factory=TradingViewSignals)
    """TradingView alerts."""


class HedgeBookSpec(Schema):
    """What is held and what may be traded to keep it neutral."""

    model_config = with_rules(
        rule(
            "(has(self.objective) && self.objective.type == 'Allocation') || (has(self.legs) && size(self.legs) > 0)",
            "objective Hedge needs at least one leg",
            ".legs",
        ),
        rule(
            "!has(self.objective) || self.objective.type != 'Allocation' || self.holdings.source == 'ExchangeBalance'",
            "objective Allocation trades spot balances: holdings.source must be ExchangeBalance",
            ".holdings.source",
        ),
        rule(
            "!has(self.objective) || self.objective.type != 'Allocation' || !has(self.objective.targetWeights) || "
            "!has(self.holdings.exchangeBalance) || self.objective.targetWeights.all(a, "
            "a == self.quoteCurrency || a in self.holdings.exchangeBalance.assets)",
            "every targetWeights asset must be one of holdings.exchangeBalance.assets (or the quote currency)",
            ".objective.targetWeights",
        ),
        live_account_rule(),
        rule(
            "!has(self.instruments) || "
            "self.instruments.all(i, has(self.legs) && self.legs.exists(l, l.asset == i.asset))",
            "every instrument's asset must have a leg",
            ".instruments",
        ),
        *book_rules(),
        rule(
            "!has(self.holdings.static) || !has(self.legs) || self.legs.all(l, l.asset in self.holdings.static)",
            "every leg's asset must be held",
            ".legs",
        ),
        rule(
            "!has(self.objective) || !has(self.objective.hedgeRatioOverrides) || "
            "self.objective.hedgeRatioOverrides.all(a, has(self.legs) && self.legs.exists(l, l.asset == a))",
            "hedgeRatioOverrides may only name assets that have a leg",
            ".objective.hedgeRatioOverrides",
        ),
    )

    exchange: ExchangeRef = Field(default_factory=ExchangeRef)
    """Exchange account the legs trade on."""
    mode: Mode = Mode.PAPER
    """Paper (default) or Live."""
    paused: bool = False
    """Observe and report, never trade."""
    quoteCurrency: AssetCode = "USDT"
    """Currency exposures and costs are reported in."""
    holdings: Holdings
    """What is held."""
    objective: Objective = Field(default_factory=Objective)
    """Hedge or Allocation."""
    # A list-map keyed by asset: the API server itself refuses a second leg for one asset (in O(n), where a CEL
    # uniqueness rule costs O(n²)), and server-side apply merges legs by asset.
    legs: list[Leg] = Field(default_factory=list, max_length=MAX_ASSETS, json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["asset"]})
    """Perpetual legs, one per hedged asset (at most 50; a second leg for one asset is refused)."""
    policyRef: ObjectRef
    """The RebalancePolicy that says when and how to trade."""
    signals: Signals = Field(default_factory=Signals)
    """External signals."""
    instruments: list[DeltaInstrument] = Field(default_factory=list, max_length=MAX_INSTRUMENTS)
    """Objective Hedge: other instruments whose venue positions count in an asset's delta besides its perp leg (seed
    001): the account's spot balance of the asset, dated futures, options (by the delta the venue reports: an
    option without one stops the book, Degraded, rather than be guessed). Observed only: the legs are traded."""

    @model_validator(mode="after")
    def _legs_match_holdings(self) -> HedgeBookSpec:
        if self.objective.type is ObjectiveType.HEDGE and not self.legs:
            raise ValueError("legs: objective Hedge needs at least one leg")
        if self.objective.type is ObjectiveType.ALLOCATION:
            if self.holdings.source is not HoldingsSource.EXCHANGE_BALANCE or self.holdings.exchangeBalance is None:
                raise ValueError("holdings.source: objective Allocation trades spot balances: holdings.source must "
                                 "be ExchangeBalance")
            owned = {*self.holdings.exchangeBalance.assets, self.quoteCurrency}
            stray = sorted(set(self.objective.targetWeights or {}) - owned)
            if stray:
                raise ValueError(f"objective.targetWeights: {', '.join(stray)} not in holdings.exchangeBalance.assets")
        assets = [leg.asset for leg in self.legs]
        if len(set(assets)) != len(assets):
            raise ValueError("legs: each asset may have one leg only")
        held = self.holdings.assets()
        if held:
            for leg in self.legs:
                if leg.asset not in held:
                    raise ValueError(f"legs: leg asset {leg.asset} is not held")
        for asset in self.objective.hedgeRatioOverrides:
            if asset not in assets:
                raise ValueError(f"objective.hedgeRatioOverrides: {asset} has no leg")
        if self.instruments and self.objective.type is ObjectiveType.ALLOCATION:
            raise ValueError("instruments: objective Allocation trades spot balances; instruments count in a Hedge "
                             "book's delta")
        balance = self.holdings.exchangeBalance
        check_instruments(self.instruments, set(assets), set(balance.assets) if balance is not None
                          and self.holdings.source is HoldingsSource.EXCHANGE_BALANCE else set(), self.exchange.name)
        return self

    def leg_for(self, asset: str) -> Leg | None:
        """The leg hedging `asset`, if any."""
        return next((leg for leg in self.legs if leg.asset == asset), None)


# ---- status -----------------------------------------------------------------------------------


class AssetExposureStatus(Schema):
    """One asset's exposure as last observed."""

    asset: AssetCode
    """The asset."""
    priceQuote: Quantity
    """Price used, in the quote currency."""
    holdingQty: Quantity
    """Units held."""
    hedgeQty: Quantity
    """Signed delta of the hedge in units (negative is short): the perp position, with the book's other instruments
    (spec.instruments) and orders still working counted in."""
    targetHedgeQty: Quantity
    """Signed perp position the objective asks for."""
    netExposureQuote: Quantity
    """Exposure left relative to the target, in the quote currency."""
    deviationRatio: Quantity
    """Net exposure ÷ target hedge notional (signed)."""
    bandRatio: Quantity | None = None
    """The normal band in force for this asset at this check (volatility-scaled bands move)."""
    driftVariancePerHour: Quantity | None = None
    """Estimated variance per hour of this asset's deviation drift (volatility-scaled bands only)."""
    instruments: list[InstrumentDeltaStatus] = Field(default_factory=list, max_length=MAX_INSTRUMENTS + 1)
    """Books naming spec.instruments: the asset's delta instrument by instrument (its perp leg first); hedgeQty is
    their sum."""


class AssetWeightStatus(Schema):
    """Allocation books: one asset's share of the book's value against its target."""

    asset: AssetCode
    """The asset."""
    priceQuote: Quantity
    """Price used (mid), in the quote currency."""
    qty: Quantity
    """Units held."""
    valueQuote: Quantity
    """Value in the quote currency."""
    weight: Quantity
    """Share of the book's value."""
    targetWeight: Quantity
    """Target share."""
    driftRatio: Quantity
    """weight − targetWeight."""
    bandRatio: Quantity
    """The drift that triggers a rebalance."""
    staticWeight: Quantity | None = None
    """The target as written in targetWeights (weighting other than Static)."""
    volatilityRatio: Quantity | None = None
    """The asset's annualised realised volatility the weighting read."""
    weightingReason: StatusMessage | None = None
    """Why the asset got its target, in words."""


class OrderSummary(Schema):
    """An order of a plan, as reported."""

    clientOrderId: Annotated[str, Field(max_length=64)]
    """Deterministic client order id (OKX allows 32 characters)."""
    symbol: StatusSymbol
    """Market symbol."""
    side: ShortText
    """buy or sell."""
    amount: Quantity
    """Amount in units of the base asset."""
    filled: Quantity = Decimal(0)
    """Amount filled."""
    average: Quantity | None = None
    """Average fill price."""
    type: ShortText
    """maker (post-only limit) or taker (market)."""
    state: ShortText = "new"
    """open, closed (filled), canceled, rejected; queued: waiting for an earlier batch (allocation buys)."""
    feeQuote: Quantity = Decimal(0)
    """Fee paid, in the quote currency."""


class RebalanceRecord(Schema):
    """The last completed rebalance."""

    time: datetime
    """When it completed."""
    planId: ShortText
    """Plan id."""
    reason: ShortText
    """Trigger reason code."""
    urgency: ShortText
    """Normal or Emergency."""
    orders: int
    """Number of orders."""
    costQuote: Quantity
    """Fees paid, in the quote currency."""


class WorkingPlan(Schema):
    """A plan being executed: kept in status so a restart resumes it by client order id."""

    planId: ShortText
    """Plan id."""
    seq: int
    """Rebalance sequence number the plan ids derive from."""
    createdAt: datetime
    """When the plan was made."""
    makerDeadline: datetime | None = None
    """When unfilled maker orders fall back to taker."""
    reason: ShortText
    """Trigger reason code."""
    urgency: ShortText
    """Normal or Emergency."""
    orders: list[OrderSummary] = Field(default_factory=list, max_length=MAX_PLAN_ORDERS)
    """The plan's orders."""
    queued: list[OrderSummary] = Field(default_factory=list, max_length=MAX_PLAN_ORDERS)
    """Allocation plans: the buys, sent once the sells that fund them are done."""


class BasketMark(Schema):
    """Last mark of a simulated constant-weight basket (Paper mode): token price and asset prices."""

    tokenPriceQuote: Quantity
    """Token price at the mark."""
    prices: Annotated[dict[AssetCode, Quantity], Field(max_length=MAX_ASSETS)]
    """Asset prices at the mark."""


class DailyCounters(Schema):
    """Counters for the current UTC day (limits apply per day)."""

    date: Annotated[str, Field(max_length=10)]
    """UTC date, YYYY-MM-DD."""
    rebalances: int = 0
    """Rebalances today."""
    costQuote: Quantity = Decimal(0)
    """Fees paid today."""


class SignalDoc(Schema):
    """status.activeSignal as engine/signals.py writes it (no secret: the passphrase is never stored)."""

    id: Annotated[str, Field(max_length=128)]
    """The alert's id (the webhook refuses ids over 128 characters)."""
    issuedAt: TimeText
    """When TradingView sent it (RFC 3339)."""
    expiresAt: TimeText
    """When it stops applying (RFC 3339)."""
    priority: ShortText
    """low, normal, high or emergency."""
    targetDelta: Annotated[dict[AssetCode, DecimalText], Field(max_length=MAX_ASSETS)] = Field(default_factory=dict)
    """Signalled target net delta per asset (exact, as strings)."""
    hedgeRatio: DecimalText | None = None
    """Signalled hedge ratio for every asset (exact, as a string)."""


class HedgeBookStatus(Schema):
    """Observed state of a HedgeBook."""

    # Status is written by the operator; keys kopf keeps there (its own progress) are tolerated.
    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    observedGeneration: int | None = None
    """The spec generation last reconciled."""
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    """Ready, WithinBand, AwaitingApproval, Halted, Degraded."""
    # Holdings (50 assets) and legs (50, all held) name at most 50 assets; 2x leaves room for legs on assets an
    # ExchangeBalance or Http source does not report.
    exposures: list[AssetExposureStatus] = Field(default_factory=list, max_length=2 * MAX_ASSETS)
    """Per-asset exposure."""
    totalExposureQuote: Quantity | None = None
    """Σ |net exposure| in the quote currency."""
    totalDeviationRatio: Quantity | None = None
    """Hedge: Σ |net exposure| ÷ Σ target hedge notional. Allocation: the largest |weight − target|."""
    weights: list[AssetWeightStatus] = Field(default_factory=list, max_length=2 * MAX_ASSETS)
    """Allocation books: per-asset weight against target."""
    valueQuote: Quantity | None = None
    """Allocation books: the book's value in the quote currency."""
    lastCheck: datetime | None = None
    """When the book was last observed."""
    lastRebalance: RebalanceRecord | None = None
    """The last completed rebalance."""
    workingPlan: WorkingPlan | None = None
    """A plan whose orders are still being worked."""
    rebalanceSeq: int = 0
    """Number of plans made so far (plan ids derive from it)."""
    rebalancesTotal: int = 0
    """Completed rebalances since creation."""
    costTotalQuote: Quantity = Decimal(0)
    """Fees paid since creation."""
    today: DailyCounters | None = None
    """Today's counters."""
    basketMark: BasketMark | None = None
    """Paper mode: where the simulated basket stood at the last check."""
    highDeviationSince: datetime | None = None
    """Since when deviation has been above the alert ratio (for the persisting-deviation alert)."""
    # Dicts in memory (the runtime builds and reads them), declared in the CRD by their documents' models.
    pendingPlan: Annotated[dict[str, Any] | None, WithJsonSchema(inline_schema(PendingPlanDoc))] = None
    """A plan awaiting manual approval (id, expiry, orders)."""
    activeSignal: Annotated[dict[str, Any] | None, WithJsonSchema(inline_schema(SignalDoc))] = None
    """The TradingView signal currently overriding the target."""
    rebalanceNow: RebalanceNowStatus | None = None
    """The last hedgeops.io/rebalance-now request handled."""
    schedule: ScheduleStatus | None = None
    """Allocation books with a schedule: when it fires next."""


class HedgeBook(Resource[HedgeBookSpec, HedgeBookStatus]):
    """Holdings and the perp legs that neutralise them."""

    KIND: ClassVar[str] = "HedgeBook"
    PLURAL: ClassVar[str] = "hedgebooks"
    SINGULAR: ClassVar[str] = "hedgebook"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("hb", "hbook")
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
        {"name": "Objective", "type": "string", "jsonPath": ".spec.objective.type"},
        {"name": "Exposure", "type": "number", "jsonPath": ".status.totalExposureQuote",
         "description": "Σ |net exposure| in the quote currency"},
        {"name": "Deviation", "type": "number", "jsonPath": ".status.totalDeviationRatio",
         "description": "Hedge: Σ |net exposure| ÷ Σ target hedge notional; Allocation: largest weight drift"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Reason", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
         "priority": 1},
        {"name": "Last-Rebalance", "type": "date", "jsonPath": ".status.lastRebalance.time"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

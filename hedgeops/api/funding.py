"""FundingArbitrage: cash and carry on one venue — long spot, short perp, earn funding (seed 004)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, model_validator

from hedgeops.api.cel import linear_swap_rule, rule, with_rules
from hedgeops.api.common import (
    MAX_CONDITIONS,
    Condition,
    ExchangeRef,
    Mode,
    PositiveQuantity,
    Quantity,
    Ratio,
    Resource,
    Schema,
    ShortText,
    SpotSymbol,
    StatusMessage,
    StatusSymbol,
    SwapSymbol,
    is_linear_swap,
    live_account_rule,
    symbol_base,
)
from hedgeops.api.enhancement import MAX_LEVERAGE, ContrarianStatus, Enhancement, GridStatus

# The lowest emergencyMarginRatio accepted. marginRatio is derivatives equity ÷ the perp's initial margin (notional ÷
# leverage), and the exchange liquidates when equity falls to notional × its maintenance margin rate, that is at a
# marginRatio of leverage × that rate: at 3x and OKX's 0.4%-3.3% tiers, somewhere up to 0.1. A guard set below that
# fires after the liquidation, which is no guard at all.
MIN_EMERGENCY_MARGIN_RATIO = Decimal("0.1")
# Pairs one object may list (autoSelect picks at most 20 of them): bounds the CEL uniqueness rule's cost.
MAX_PAIRS = 50
# Pairs in status: the listed or picked pairs plus pairs no longer picked that still hold a position.
MAX_PAIR_STATUSES = 2 * MAX_PAIRS


class CarryPair(Schema):
    """One spot market and the linear perpetual on the same base that hedges it (long spot, short perp: only the
    same base is delta-neutral)."""

    model_config = with_rules(
        rule("self.perp.startsWith(self.spot.split('/')[0] + '/')",
             "spot and perp must have the same base (for example ETH/USDT and ETH/USDT:USDT)", ".perp"),
        linear_swap_rule("perp", "ETH/USDT:USDT"),
    )

    spot: SpotSymbol
    """ccxt spot symbol, for example ETH/USDT."""
    perp: SwapSymbol
    """ccxt symbol of the linear perpetual on the spot's base (BASE/QUOTE:SETTLE, SETTLE = QUOTE), for example
    ETH/USDT:USDT."""

    @model_validator(mode="after")
    def _same_base_linear(self) -> CarryPair:
        if symbol_base(self.perp) != symbol_base(self.spot):
            raise ValueError(f"perp: spot and perp must have the same base ({self.spot} and {self.perp} are not "
                             "delta-neutral)")
        if not is_linear_swap(self.perp):
            raise ValueError(f"perp: {self.perp} must be a linear perpetual swap, BASE/QUOTE:SETTLE settled in its "
                             "quote currency")
        return self


class AutoSelect(Schema):
    """Pick pairs by funding rate and liquidity at every market scan (5 min): among the exchange's perps that
    have a spot market (or among `pairs`, when listed), those with 24 h volume of at least minVolumeQuote and
    a funding rate inside the entry range, highest rate first. A pair holding a position stays until it is
    closed; capital is split over maxSymbols."""

    maxSymbols: Annotated[int, Field(ge=1, le=20)] = 3
    """At most this many pairs at once."""
    minVolumeQuote: PositiveQuantity = Decimal(10_000_000)
    """Skip markets with less 24 h volume than this."""


class Capital(Schema):
    """How much is committed and how it is split."""

    model_config = with_rules(
        rule("self.spotRatio + self.perpRatio <= 1.0", "spotRatio + perpRatio must not exceed 1"),
    )

    amountQuote: PositiveQuantity
    """Total capital in the quote currency."""
    spotRatio: Ratio = Decimal("0.5")
    """Share held as spot."""
    perpRatio: Ratio = Decimal("0.5")
    """Share held as perp collateral."""
    maxPerPositionQuote: PositiveQuantity | None = None
    """Largest notional per pair."""

    @model_validator(mode="after")
    def _split(self) -> Capital:
        if self.spotRatio + self.perpRatio > 1:
            raise ValueError("spotRatio: spotRatio + perpRatio must not exceed 1")
        return self


class Entry(Schema):
    """When a position may be opened (all must hold)."""

    model_config = with_rules(
        rule("self.maxFundingRate > self.minFundingRate", "maxFundingRate must be above minFundingRate",
             ".maxFundingRate"),
    )

    minFundingRate: Ratio = Decimal("0.0001")
    """Funding per interval at least this (0.01%)."""
    maxFundingRate: Ratio = Decimal("0.01")
    """... and at most this (1%): higher rates signal a squeeze, not carry."""
    minMarginRatio: Annotated[Decimal, Field(gt=0)] = Decimal("0.8")
    """Margin must be sufficient: derivatives equity ÷ perp notional at least this."""


class Exit(Schema):
    """When a position is closed (any suffices)."""

    negativeFundingPeriods: Annotated[int, Field(ge=1)] = 1
    """Close after this many consecutive negative funding settlements."""
    takeProfitRatio: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.05")
    """Close when PnL ÷ position capital reaches this."""
    stopLossRatio: Annotated[Decimal, Field(lt=0, ge=-1)]
    """Close when PnL ÷ position capital falls to this. Required and negative: no strategy without a stop."""


class Rebalance(Schema):
    """Keeping the two legs equal and the perp side collateralised."""

    model_config = with_rules(
        rule("self.topUpMarginRatio > self.emergencyMarginRatio",
             "topUpMarginRatio must be above emergencyMarginRatio", ".topUpMarginRatio"),
    )

    legDeviationRatio: Ratio = Decimal("0.01")
    """Re-align the legs when |spot qty − perp qty| ÷ spot qty exceeds this."""
    topUpMarginRatio: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] = Decimal("0.8")
    """Transfer quote from spot to the derivatives wallet when marginRatio falls below this."""
    emergencyMarginRatio: Annotated[Decimal, Field(ge=MIN_EMERGENCY_MARGIN_RATIO, allow_inf_nan=False)] = \
        Decimal("0.5")
    """Close everything when marginRatio falls below this. At least 0.1: below that the exchange has already
    liquidated a 3x position (marginRatio = leverage × the maintenance margin rate at liquidation). Must be below
    topUpMarginRatio, so a top-up is tried before the close."""
    compoundMarginRatio: Annotated[Decimal, Field(gt=1)] | None = Decimal("1.5")
    """When the short has gained so much that marginRatio exceeds this, move the excess margin to spot and
    add it to both legs equally (seed 004: compound the profits of a fall). Unset disables."""

    @model_validator(mode="after")
    def _top_up_before_emergency(self) -> Rebalance:
        if self.topUpMarginRatio <= self.emergencyMarginRatio:
            raise ValueError("topUpMarginRatio: topUpMarginRatio must be above emergencyMarginRatio")
        return self


class CircuitBreaker(Schema):
    """Stop opening positions after losses."""

    maxConsecutiveLosses: Annotated[int, Field(ge=1)] = 3
    """Trip after this many losing closes in a row."""
    dailyLossLimitQuote: PositiveQuantity = Decimal(500)
    """Trip when the day's realised loss reaches this."""


class Liquidity(Schema):
    """Refuse markets that are too thin."""

    minDepthQuote: PositiveQuantity = Decimal(50_000)
    """Order-book depth within maxSlippageRatio of the touch, each side."""
    maxSlippageRatio: Ratio = Decimal("0.002")
    """Largest expected slippage for an entry."""


class FundingArbitrageSpec(Schema):
    """Cash and carry on one exchange account."""

    model_config = with_rules(
        rule("size(self.pairs) > 0 || has(self.autoSelect)", "list pairs or set autoSelect", ".pairs"),
        # Two pairs on one spot or one perp would both own one position: each would trade the other's.
        rule("!has(self.pairs) || (self.pairs.all(p, self.pairs.exists_one(q, q.spot == p.spot)) && "
             "self.pairs.all(p, self.pairs.exists_one(q, q.perp == p.perp)))",
             "each spot and each perp may appear in one pair only", ".pairs"),
        live_account_rule(),
        # One-way perps net: a grid on a carry's perp would trade against the carry's short.
        rule("!has(self.enhancement) || !has(self.enhancement.grid) || !has(self.pairs) || "
             "self.pairs.all(p, p.perp != self.enhancement.grid.symbol)",
             "enhancement.grid.symbol must not be one of the pairs' perps", ".enhancement.grid.symbol"),
        rule("!has(self.enhancement) || !has(self.enhancement.contrarian) || !has(self.pairs) || "
             "self.pairs.all(p, p.perp != self.enhancement.contrarian.symbol)",
             "enhancement.contrarian.symbol must not be one of the pairs' perps", ".enhancement.contrarian.symbol"),
    )

    exchange: ExchangeRef = Field(default_factory=ExchangeRef)
    """Exchange account."""
    mode: Mode = Mode.PAPER
    """Paper (default) or Live."""
    paused: bool = False
    """Observe and report, never trade."""
    quoteCurrency: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,12}$", max_length=12)] = "USDT"
    """Quote currency."""
    pairs: list[CarryPair] = Field(default_factory=list, max_length=MAX_PAIRS)
    """Spot/perp pairs to carry."""
    autoSelect: AutoSelect | None = None
    """Pick pairs automatically."""
    capital: Capital
    """Capital and split."""
    leverage: Annotated[Decimal, Field(gt=0, le=MAX_LEVERAGE)] = Decimal(1)
    """Perp leverage. Never above 3."""
    entry: Entry = Field(default_factory=Entry)
    """Entry conditions."""
    exit: Exit
    """Exit conditions (stop-loss required)."""
    rebalance: Rebalance = Field(default_factory=Rebalance)
    """Leg and margin rebalancing."""
    circuitBreaker: CircuitBreaker = Field(default_factory=CircuitBreaker)
    """Loss circuit breaker."""
    liquidity: Liquidity = Field(default_factory=Liquidity)
    """Liquidity guard."""
    enhancement: Enhancement | None = None
    """Seed 004's second layer (unset: off): a grid on a share of the capital, on a perp the carry never trades."""

    @model_validator(mode="after")
    def _has_pairs(self) -> FundingArbitrageSpec:
        if not self.pairs and self.autoSelect is None:
            raise ValueError("pairs: list pairs or set autoSelect")
        for side in ("spot", "perp"):
            symbols = [getattr(p, side) for p in self.pairs]
            twice = sorted({s for s in symbols if symbols.count(s) > 1})
            if twice:
                raise ValueError(f"pairs: each spot and each perp may appear in one pair only ({', '.join(twice)} "
                                 "appears more than once)")
        enh = self.enhancement
        for name, layer in (("grid", enh.grid if enh else None), ("contrarian", enh.contrarian if enh else None)):
            if layer is not None and any(p.perp == layer.symbol for p in self.pairs):
                raise ValueError(f"enhancement.{name}.symbol: {layer.symbol} is a carry pair's perp; its position "
                                 f"would net with the carry's short (give the {name} another perp)")
        return self


class Phase(StrEnum):
    """Phase of the carry state machine (the machine itself lives in the engine)."""

    IDLE = "Idle"
    OPENING = "Opening"
    OPEN = "Open"
    REBALANCING = "Rebalancing"
    CLOSING = "Closing"
    CLOSED = "Closed"
    HALTED = "Halted"


class CarryLegStatus(Schema):
    """One pair's position."""

    spot: StatusSymbol
    """Spot symbol."""
    perp: StatusSymbol
    """Perp symbol."""
    spotQty: Quantity
    """Spot units held."""
    perpQty: Quantity
    """Signed perp units (negative is short)."""
    entryBasisRatio: Quantity | None = None
    """(perp − spot) ÷ spot at entry."""
    phase: Phase = Phase.IDLE
    """This pair's phase."""
    reason: ShortText | None = None
    """The last decision's CamelCase reason (Entry, Holding, FundingOutOfRange, StopLoss, ...)."""
    message: StatusMessage | None = None
    """The last decision in words."""
    fundingEarnedQuote: Quantity = Decimal(0)
    """Funding received minus paid since this position opened."""
    feesQuote: Quantity = Decimal(0)
    """Trading fees since this position opened."""
    pnlQuote: Quantity = Decimal(0)
    """Funding − fees + basis since this position opened."""
    marginRatio: Quantity | None = None
    """Perp collateral (with unrealised PnL) ÷ the perp's initial margin."""
    spotWalletQuote: Quantity = Decimal(0)
    """Quote this pair may still spend on spot (its share of capital, less what it bought)."""
    collateralQuote: Quantity = Decimal(0)
    """Quote this pair has committed as perp collateral (its share, transfers, funding, realised PnL)."""
    machine: dict[str, Any] = Field(default_factory=dict,
                                    json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    """The engine's memory of this pair (sequence, target, ledger, breaker), so a restart resumes it."""


class Cadence(Schema):
    """When seed 004's scheduled tasks last ran."""

    scan: datetime | None = None
    """Market scan (every 5 minutes)."""
    risk: datetime | None = None
    """Risk and PnL review (every hour)."""
    settle: datetime | None = None
    """Funding settlement booking (every 8 hours, and after each settlement time)."""


class BootstrapStatus(Schema):
    """Seed 004's self-check before the first trade."""

    passed: bool = False
    """True once credentials worked, no leftover position was found and no abnormal exit is unresolved."""
    at: datetime | None = None
    """When it last ran."""
    problems: list[StatusMessage] = Field(default_factory=list, max_length=MAX_PAIR_STATUSES)
    """What failed, in words."""
    account: StatusMessage | None = None
    """The account it ran against: mode, exchange/account label, sandbox and (Live) the credentials Secret. A pass
    on another account is no pass: after a change (Paper to Live, another account) the object starts afresh."""


class SelectedPair(Schema):
    """A pair autoSelect picked, with what it was picked on."""

    spot: StatusSymbol
    """Spot symbol."""
    perp: StatusSymbol
    """Perp symbol."""
    fundingRate: Quantity
    """Funding rate at the scan."""
    volumeQuote: Quantity | None = None
    """24 h volume of the thinner market, in the quote currency; absent where the venue has no figure (a
    backtest's mark-priced years)."""


class Selection(Schema):
    """The last autoSelect scan."""

    at: datetime
    """When it ran."""
    candidates: int = 0
    """Pairs the exchange lists that were considered."""
    pairs: list[SelectedPair] = Field(default_factory=list, max_length=MAX_PAIRS)
    """What it picked, best first (at most maxSymbols, 20)."""


class BreakerStatus(Schema):
    """Circuit breaker state."""

    tripped: bool = False
    """Whether new positions are refused."""
    consecutiveLosses: int = 0
    """Losing closes in a row."""
    dailyLossQuote: Quantity = Decimal(0)
    """Today's realised loss."""


class FundingArbitrageStatus(Schema):
    """Observed state of a FundingArbitrage."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    observedGeneration: int | None = None
    """The spec generation last reconciled."""
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    """Ready, Degraded, Halted, BreakerTripped."""
    phase: Phase = Phase.IDLE
    """Current phase."""
    legs: list[CarryLegStatus] = Field(default_factory=list, max_length=MAX_PAIR_STATUSES)
    """Positions per pair."""
    fundingEarnedQuote: Quantity = Decimal(0)
    """Funding received minus paid."""
    feesQuote: Quantity = Decimal(0)
    """Trading fees paid (the grid's since its first included)."""
    basisPnlQuote: Quantity = Decimal(0)
    """PnL from the spot/perp basis."""
    marginRatio: Quantity | None = None
    """Derivatives-wallet equity ÷ the perp position's initial margin (notional ÷ leverage): 1 at entry."""
    nextFundingTime: datetime | None = None
    """Next funding settlement."""
    breaker: BreakerStatus = Field(default_factory=BreakerStatus)
    """Circuit breaker."""
    pnlQuote: Quantity = Decimal(0)
    """Funding − fees + basis over all pairs, plus the grid's PnL since its first grid."""
    cadence: Cadence = Field(default_factory=Cadence)
    """When the scheduled tasks last ran."""
    bootstrap: BootstrapStatus = Field(default_factory=BootstrapStatus)
    """The self-check before the first trade."""
    selection: Selection | None = None
    """autoSelect: the last scan's picks."""
    grid: GridStatus | None = None
    """spec.enhancement.grid: the trend-filtered grid."""
    contrarian: ContrarianStatus | None = None
    """spec.enhancement.contrarian: the low-frequency contrarian trade."""
    lastCheck: datetime | None = None
    """Last reconcile."""


class FundingArbitrage(Resource[FundingArbitrageSpec, FundingArbitrageStatus]):
    """Cash and carry: long spot, short perp, earn funding."""

    KIND: ClassVar[str] = "FundingArbitrage"
    PLURAL: ClassVar[str] = "fundingarbitrages"
    SINGULAR: ClassVar[str] = "fundingarbitrage"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("farb", "carry")
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Funding", "type": "number", "jsonPath": ".status.fundingEarnedQuote"},
        {"name": "PnL", "type": "number", "jsonPath": ".status.pnlQuote"},
        {"name": "Margin", "type": "number", "jsonPath": ".status.marginRatio"},
        {"name": "Grid", "type": "string", "jsonPath": ".status.grid.phase", "priority": 1},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

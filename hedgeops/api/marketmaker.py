"""MarketMaker: perpetual market making with layers, inventory skew and a required stop (seed 003)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from hedgeops.api.cel import linear_swap_rule, rule, with_rules
from hedgeops.api.common import (
    MAX_CONDITIONS,
    Condition,
    DecimalText,
    ExchangeRef,
    Mode,
    PositiveQuantity,
    Quantity,
    Ratio,
    Resource,
    Schema,
    ShortText,
    StatusMessage,
    SwapSymbol,
    inline_schema,
    is_linear_swap,
    live_account_rule,
)

# Resting quotes one MarketMaker tracks: maxOrders (at most 20) a side, plus reduce and close orders still open.
MAX_QUOTES = 100


class MarketMakerSpec(Schema):
    """Quote both sides of one perpetual around the mid, leaning against inventory."""

    model_config = with_rules(
        rule(
            "self.positionThreshold + (self.targetPosition < 0.0 ? -self.targetPosition : "
            "self.targetPosition) <= self.maxPosition",
            "|targetPosition| + positionThreshold must not exceed maxPosition",
            ".maxPosition",
        ),
        linear_swap_rule("symbol", "SOL/USDT:USDT"),
        live_account_rule(),
        # The position is in this symbol: quoting another would leave it unmanaged.
        rule("self.symbol == oldSelf.symbol", "symbol is immutable: the position is in this market; create a new "
             "MarketMaker to quote another", ".symbol"),
    )

    exchange: ExchangeRef = Field(default_factory=ExchangeRef)
    """Exchange account."""
    mode: Mode = Mode.PAPER
    """Paper (default) or Live."""
    paused: bool = False
    """Cancel quotes and stop."""
    symbol: SwapSymbol
    """ccxt symbol of a linear perpetual swap (BASE/QUOTE:SETTLE, SETTLE = QUOTE), for example SOL/USDT:USDT:
    quantity and position are in units of its base. Immutable: the position is in this market."""
    spreadRatio: Annotated[Decimal, Field(gt=0, le=Decimal("0.1"))]
    """Distance of the first layer from mid, as a ratio of mid (0.01 = 1%)."""
    quantity: PositiveQuantity
    """Order size per layer, in units of the base asset."""
    maxOrders: Annotated[int, Field(ge=1, le=20)] = 2
    """Layers per side."""
    targetPosition: Quantity = Decimal(0)
    """Position the strategy leans towards."""
    positionThreshold: PositiveQuantity
    """Beyond target ± threshold, reduce only the excess over the threshold line."""
    maxPosition: PositiveQuantity
    """Hard cap: beyond it, risk-close down to it."""
    inventorySkew: Ratio = Decimal(0)
    """0–1: how far quotes lean against inventory (long → quotes move down)."""
    stopLossQuote: Annotated[Decimal, Field(lt=0)]
    """Required and negative: unrealised loss that cancels all, closes at market, carries on."""
    takeProfitQuote: PositiveQuantity | None = None
    """Unrealised profit that cancels all, closes at market, carries on."""
    durationSeconds: Annotated[int, Field(ge=1)] | None = None
    """Stop after this long (unset: run until deleted or paused)."""
    intervalSeconds: Annotated[int, Field(ge=1, le=3600)] = 10
    """Quote refresh interval."""
    requoteToleranceRatio: Annotated[Decimal, Field(gt=0, le=Decimal("0.1"))] | None = None
    """On a streaming venue (HEDGEOPS_STREAMING), requote as soon as the touch's mid has moved this far from where
    the quotes were placed, or a quote fills (unset: half of spreadRatio). Polling venues requote every
    intervalSeconds."""

    @model_validator(mode="after")
    def _position_lines(self) -> MarketMakerSpec:
        if not is_linear_swap(self.symbol):
            raise ValueError(f"symbol: {self.symbol} must be a linear perpetual swap, BASE/QUOTE:SETTLE settled in its "
                             "quote currency")
        if abs(self.targetPosition) + self.positionThreshold > self.maxPosition:
            raise ValueError("maxPosition: |targetPosition| + positionThreshold must not exceed maxPosition")
        return self


class QuoteDoc(Schema):
    """One resting quote as the market maker's cycle keeps it (amounts exact, as strings)."""

    clientOrderId: Annotated[str, Field(max_length=64)]
    """Deterministic client order id."""
    side: ShortText
    """buy or sell."""
    price: DecimalText
    """Limit price."""
    amount: DecimalText
    """Amount in units of the base asset."""
    filled: DecimalText = "0"
    """Amount filled so far."""
    feeQuote: DecimalText = "0"
    """Fees paid on it, in the quote currency."""


class MakerCycleSummary(Schema):
    """Seed 003's summary of the last cycle: the market, the position against its lines, the skew, this cycle's
    fills and PnL, the run's PnL and the quotes resting."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    at: datetime
    """When the cycle ran."""
    bid: Quantity
    """Best bid of the market."""
    ask: Quantity
    """Best ask of the market."""
    mid: Quantity
    """(bid + ask) / 2."""
    spreadRatio: Quantity
    """The market's spread over mid."""
    position: Quantity
    """Signed position after the cycle's fills."""
    targetPosition: Quantity
    """spec.targetPosition."""
    maxPosition: Quantity
    """spec.maxPosition."""
    skewRatio: Quantity
    """How far inventory skew moved both quotes, over mid (positive: down, when long)."""
    skewOffset: Quantity
    """The same in price."""
    bought: Quantity
    """Units bought this cycle."""
    sold: Quantity
    """Units sold this cycle."""
    feesQuote: Quantity
    """Fees paid this cycle."""
    fundingQuote: Quantity
    """Funding received (+) or paid (−) this cycle."""
    cyclePnlQuote: Quantity
    """Change of the run's PnL (realised + unrealised + funding) since the previous cycle."""
    pnlQuote: Quantity
    """The run's PnL: realised after fees + unrealised + funding."""
    quotes: Annotated[int, Field(ge=0)]
    """Quotes resting after the cycle."""
    bestBidQuote: Quantity | None = None
    """Our highest bid resting."""
    bestAskQuote: Quantity | None = None
    """Our lowest ask resting."""


class MarketMakerStatus(Schema):
    """Observed state of a MarketMaker (the seed's cycle summary)."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    observedGeneration: int | None = None
    """The spec generation last reconciled."""
    conditions: list[Condition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    """Ready, Degraded, Halted, Finished."""
    bid: Quantity | None = None
    """Best bid seen."""
    ask: Quantity | None = None
    """Best ask seen."""
    position: Quantity = Decimal(0)
    """Signed position in units."""
    # Dicts in memory (engine/maker/book.py builds them), declared in the CRD by QuoteDoc.
    quotes: Annotated[list[dict[str, Any]], WithJsonSchema(
        {"type": "array", "items": inline_schema(QuoteDoc), "maxItems": MAX_QUOTES})] = Field(default_factory=list)
    """Resting quotes (side, price, amount)."""
    boughtQty: Quantity = Decimal(0)
    """Units bought since start."""
    soldQty: Quantity = Decimal(0)
    """Units sold since start."""
    realizedPnlQuote: Quantity = Decimal(0)
    """Realised PnL."""
    unrealizedPnlQuote: Quantity = Decimal(0)
    """Unrealised PnL."""
    feesQuote: Quantity = Decimal(0)
    """Fees paid."""
    entryPrice: Quantity = Decimal(0)
    """Average cost of the position held."""
    grossRealizedQuote: Quantity = Decimal(0)
    """Realised PnL before fees (realizedPnlQuote is after them)."""
    fundingQuote: Quantity = Decimal(0)
    """Funding received (+) or paid (−) on the position since the start (seed 003: the cost of holding)."""
    fundingBookedUntil: datetime | None = None
    """The last funding settlement booked in fundingQuote (later ones are still to book)."""
    fundingBookedIds: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=32)
    """The ids of the payments booked at fundingBookedUntil (told apart from another bill of the same time)."""
    fundingCheckedAt: datetime | None = None
    """When the venue's funding payments were last read (at most every 5 minutes)."""
    quotesPlaced: Annotated[int, Field(ge=0)] = 0
    """Quotes placed since the start."""
    quotesFilled: Annotated[int, Field(ge=0)] = 0
    """Quotes of those that filled, in part or whole: quotesFilled / quotesPlaced is the fill rate."""
    summary: MakerCycleSummary | None = None
    """The last cycle's summary (also journalled when the cycle traded, filled, booked funding or decided anew)."""
    startedAt: datetime | None = None
    """First cycle (durationSeconds counts from here)."""
    cycle: int = 0
    """Cycles that sent orders: client order ids derive from it."""
    reason: ShortText | None = None
    """The last decision's CamelCase reason (Quoting, Reduce, RiskClose, StopLoss, TakeProfit, Finished, ...)."""
    message: StatusMessage | None = None
    """The last decision in words."""
    lastCheck: datetime | None = None
    """Last cycle."""


class MarketMaker(Resource[MarketMakerSpec, MarketMakerStatus]):
    """Perpetual market making with spread, layers, position lines and a stop."""

    KIND: ClassVar[str] = "MarketMaker"
    PLURAL: ClassVar[str] = "marketmakers"
    SINGULAR: ClassVar[str] = "marketmaker"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("mm",)
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"name": "Symbol", "type": "string", "jsonPath": ".spec.symbol"},
        {"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
        {"name": "Position", "type": "number", "jsonPath": ".status.position"},
        {"name": "Realised", "type": "number", "jsonPath": ".status.realizedPnlQuote"},
        {"name": "Unrealised", "type": "number", "jsonPath": ".status.unrealizedPnlQuote"},
        {"name": "Cycles", "type": "integer", "jsonPath": ".status.cycle", "priority": 1},
        {"name": "Reason", "type": "string", "jsonPath": ".status.reason"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    )

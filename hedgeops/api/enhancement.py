"""FundingArbitrage's second layer (seed 004, 第二层：辅助增强): the trend-filtered neutral grid and the low-frequency
contrarian trade, their spec blocks (spec.enhancement) and their status (status.grid, status.contrarian)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from hedgeops.api.cel import linear_swap_rule, rule, with_rules
from hedgeops.api.common import Quantity, Schema, ShortText, StatusMessage, StatusSymbol, SwapSymbol

# The red line of seed 004: never more than 3x. Enforced here, in the CRD schema and in the engine.
MAX_LEVERAGE = Decimal(3)
# The seed's second layer takes 20%-30% of the system's capital: never more than this share of it.
MAX_ENHANCEMENT_SHARE = Decimal("0.3")
# Grid levels on each side of the price the grid is laid at: 2 × this + 1 price levels (client ids number 0-98).
MAX_GRID_LEVELS = 20
# The trend filter's ceiling: ADX above 50 is a strong trend, where neither a grid nor a fade belongs.
MAX_ADX_THRESHOLD = 50
# A contrarian stop must come before liquidation: |stopLossRatio| × leverage (the margin the stop loses) under this.
STOP_BEFORE_LIQUIDATION = "0.5"
GridTimeframe = Literal["5m", "15m", "1h", "4h"]


class Grid(Schema):
    """Seed 004's trend-filtered neutral grid (顾问 2): on one linear perp the carry does not trade, a grid of limit
    orders only while the market ranges (Wilder's ADX on `timeframe` below `adxThreshold`), buys below the price and
    sells above, each fill replaced by the opposite order one level away. A breakout (the price leaves the range,
    or ADX rises to the threshold) cancels every order and closes the position at market; the grid re-arms after
    `cooldownCandles` candles once ADX is back below the threshold."""

    model_config = with_rules(linear_swap_rule("symbol", "BTC/USDT:USDT"))

    symbol: SwapSymbol
    """ccxt symbol of the linear perpetual the grid trades (never one of the carry's perps)."""
    timeframe: GridTimeframe = "1h"
    """Candles the trend filter and the range are computed on."""
    adxPeriod: Annotated[int, Field(ge=2, le=50)] = 14
    """Wilder's ADX (and ATR) period, in candles."""
    adxThreshold: Annotated[Decimal, Field(gt=0, le=MAX_ADX_THRESHOLD, allow_inf_nan=False)] = Decimal(25)
    """A grid is laid only while ADX is below this; ADX reaching it is a breakout. At most 50: above it the trend
    filter would let a grid lie in a strongly trending market."""
    levels: Annotated[int, Field(ge=1, le=MAX_GRID_LEVELS)] = 5
    """Price levels on each side of the price the grid is laid at."""
    rangeAtr: Annotated[Decimal, Field(gt=0, le=20, allow_inf_nan=False)] = Decimal(3)
    """Half the range's width in ATRs: the range is the price ± rangeAtr × ATR, split into `levels` steps a side."""
    leverage: Annotated[Decimal, Field(gt=0, le=MAX_LEVERAGE, allow_inf_nan=False)] = Decimal(1)
    """The grid perp's leverage. Never above 3."""
    stopLossRatio: Annotated[Decimal, Field(lt=0, ge=-1, allow_inf_nan=False)]
    """Stop the grid when its PnL ÷ its capital falls to this. Required and negative: no strategy without a stop."""
    cooldownCandles: Annotated[int, Field(ge=1, le=500)] = 6
    """Candles of `timeframe` to wait after a stop before a new grid may be laid (at least one: no re-laying in
    the candle that broke out)."""


class Contrarian(Schema):
    """Seed 004's low-frequency contrarian trade (顾问 1: 反情绪、低频轻仓, 非马丁): on one linear perp the carry
    and the grid do not trade, fade a sentiment extreme (Wilder's RSI on `timeframe` at or beyond its bounds) only
    in the direction of the big trend (the last `trendTimeframe` close against its EMA), never while ADX on
    `timeframe` says the market is one-sided, one light position at a time, every entry with its stop-loss and
    take-profit, and `cooldownCandles` candles after every exit before the next entry."""

    model_config = with_rules(
        linear_swap_rule("symbol", "SOL/USDT:USDT"),
        rule("self.rsiHigh > self.rsiLow", "rsiHigh must be above rsiLow", ".rsiHigh"),
        rule(f"-double(self.stopLossRatio) * double(self.leverage) < {STOP_BEFORE_LIQUIDATION}",
             f"|stopLossRatio| × leverage must be under {STOP_BEFORE_LIQUIDATION}: the stop would sit at or past "
             "liquidation", ".stopLossRatio"),
    )

    symbol: SwapSymbol
    """ccxt symbol of the linear perpetual it trades (never one of the carry's perps, nor the grid's)."""
    timeframe: Literal["1h", "4h"] = "4h"
    """Candles the extreme (RSI) and the one-sided filter (ADX) are read on; entries are decided once a candle."""
    rsiPeriod: Annotated[int, Field(ge=2, le=50)] = 14
    """Wilder's RSI period."""
    rsiLow: Annotated[Decimal, Field(ge=0, le=50, allow_inf_nan=False)] = Decimal(30)
    """RSI at or below this is a panic: bought, if the big trend is up."""
    rsiHigh: Annotated[Decimal, Field(ge=50, le=100, allow_inf_nan=False)] = Decimal(70)
    """RSI at or above this is euphoria: sold, if the big trend is down."""
    trendTimeframe: Literal["4h", "1d"] = "1d"
    """Candles the big trend is read on."""
    trendEmaPeriod: Annotated[int, Field(ge=2, le=150)] = 50
    """The big trend is up while the last close is above this EMA of closes, down while below."""
    adxPeriod: Annotated[int, Field(ge=2, le=50)] = 14
    """Wilder's ADX period on `timeframe`."""
    adxThreshold: Annotated[Decimal, Field(gt=0, le=MAX_ADX_THRESHOLD, allow_inf_nan=False)] = Decimal(25)
    """No entry while ADX is at or above this (单边行情不硬做: no forcing a one-sided market). At most 50."""
    sizeRatio: Annotated[Decimal, Field(gt=0, le=1, allow_inf_nan=False)] = Decimal("0.5")
    """Margin per trade as a share of its capital (light: one position of this size, never added to)."""
    leverage: Annotated[Decimal, Field(gt=0, le=MAX_LEVERAGE, allow_inf_nan=False)] = Decimal(1)
    """The perp's leverage. Never above 3."""
    stopLossRatio: Annotated[Decimal, Field(lt=0, ge=Decimal("-0.5"), allow_inf_nan=False)]
    """Close when the price has moved this far against the entry (−0.03: 3%). Required: no trade without a stop.
    |stopLossRatio| × leverage must stay under 0.5: the stop comes well before the position's margin is gone (at
    3x a move of about a third liquidates), so a stop never sits past liquidation."""
    takeProfitRatio: Annotated[Decimal, Field(gt=0, le=1, allow_inf_nan=False)] = Decimal("0.06")
    """Close when the price has moved this far in favour of the entry."""
    cooldownCandles: Annotated[int, Field(ge=1, le=500)] = 6
    """Candles of `timeframe` after every exit before another entry (不连续出手: no consecutive entries)."""

    @model_validator(mode="after")
    def _bounds(self) -> Contrarian:
        if self.rsiHigh <= self.rsiLow:
            raise ValueError("rsiHigh: rsiHigh must be above rsiLow")
        if -self.stopLossRatio * self.leverage >= Decimal(STOP_BEFORE_LIQUIDATION):
            raise ValueError(f"stopLossRatio: |stopLossRatio| × leverage must be under {STOP_BEFORE_LIQUIDATION}: "
                             "the stop would sit at or past liquidation")
        return self


class Enhancement(Schema):
    """Seed 004's second layer (第二层：辅助增强): a share of this object's capital traded by the trend-filtered
    grid and the low-frequency contrarian trade (split equally when both are set), under the carry's red lines
    and circuit breaker. The carry sizes its pairs on the rest."""

    model_config = with_rules(
        rule("has(self.grid) || has(self.contrarian)", "set grid, contrarian or both", ".grid"),
        rule("!has(self.grid) || !has(self.contrarian) || self.grid.symbol != self.contrarian.symbol",
             "the grid and the contrarian trade need a perp each", ".contrarian.symbol"),
    )

    capitalShare: Annotated[Decimal, Field(gt=0, le=MAX_ENHANCEMENT_SHARE, allow_inf_nan=False)]
    """Share of capital.amountQuote the layer trades (the seed: 20%-30%; at most 0.3)."""
    grid: Grid | None = None
    """The trend-filtered neutral grid."""
    contrarian: Contrarian | None = None
    """The low-frequency contrarian trade."""

    @model_validator(mode="after")
    def _own_perps(self) -> Enhancement:
        if self.grid is None and self.contrarian is None:
            raise ValueError("grid: set grid, contrarian or both")
        if self.grid is not None and self.contrarian is not None and self.grid.symbol == self.contrarian.symbol:
            raise ValueError("contrarian.symbol: the grid and the contrarian trade need a perp each (one-way "
                             "positions on one perp would net)")
        return self


class GridPhase(StrEnum):
    """Where the grid is (engine/grid/machine.py)."""

    WAITING = "Waiting"  # no grid: the market trends (ADX at or above the threshold) or too few candles yet
    RUNNING = "Running"  # orders rest on the levels
    STOPPING = "Stopping"  # a breakout: orders cancelled, the position being closed at market
    COOLING_DOWN = "CoolingDown"  # stopped: no grid until the cool-down has passed and ADX is below the threshold
    HALTED = "Halted"  # halted, paused or the breaker tripped: no orders rest, nothing is laid


class GridOrder(Schema):
    """One of the grid's own orders as last seen (what was filled and paid then)."""

    clientOrderId: ShortText
    """Deterministic client order id (grid generation, plan, level)."""
    side: ShortText
    """buy or sell."""
    price: Quantity
    """Limit price (0 for the market close)."""
    amount: Quantity
    """Units ordered."""
    filled: Quantity = Decimal(0)
    """Units filled when last seen."""
    feeQuote: Quantity = Decimal(0)
    """Fee paid when last seen."""


class GridStatus(Schema):
    """The trend-filtered grid (spec.enhancement.grid): its state, indicators, range, levels, position and PnL."""

    phase: GridPhase = GridPhase.WAITING
    """Where the grid is."""
    reason: ShortText | None = None
    """The last decision's CamelCase reason (Laid, Trending, Breakout, TrendFilter, StopLoss, CoolingDown, ...)."""
    message: StatusMessage | None = None
    """The last decision in words."""
    symbol: StatusSymbol = ""
    """The grid's perp."""
    adx: Quantity | None = None
    """ADX of the last closed candle."""
    lastCandle: datetime | None = None
    """Open time of the last closed candle evaluated."""
    generation: int = 0
    """Grids laid so far (client order ids derive from it)."""
    seq: int = 0
    """Order plans sent in this generation (client order ids derive from it)."""
    lowerPrice: Quantity | None = None
    """Lowest level: a price below it is a breakout."""
    upperPrice: Quantity | None = None
    """Highest level: a price above it is a breakout."""
    levels: list[Quantity] = Field(default_factory=list, max_length=2 * MAX_GRID_LEVELS + 1)
    """Level prices, lowest first; the middle one is the price the grid was laid at."""
    levelQty: Quantity = Decimal(0)
    """Units each level's order trades (fixed for the generation)."""
    position: Quantity = Decimal(0)
    """Signed units held on the grid's perp."""
    entryPrice: Quantity = Decimal(0)
    """Average entry of the position."""
    grossRealizedQuote: Quantity = Decimal(0)
    """Price PnL realised since the first grid (before fees)."""
    feesQuote: Quantity = Decimal(0)
    """Fees paid since the first grid."""
    fundingQuote: Quantity = Decimal(0)
    """Funding the grid's positions received (+) or paid (−) since the first grid."""
    fundingBookedUntil: datetime | None = None
    """Settlements up to here are in fundingQuote (the venue's clock)."""
    pnlQuote: Quantity = Decimal(0)
    """Realised − fees + funding + unrealised since the first grid."""
    generationStartPnlQuote: Quantity = Decimal(0)
    """pnlQuote when this generation was laid: the generation's PnL is the difference."""
    stops: int = 0
    """Grids stopped so far (breakout, trend filter, stop-loss)."""
    stoppedAt: datetime | None = None
    """When the last grid stopped (the venue's clock)."""
    orders: list[GridOrder] = Field(default_factory=list, max_length=2 * MAX_GRID_LEVELS + 2)
    """The grid's own orders not yet known to be done."""
    breaker: dict[str, Any] = Field(default_factory=dict,
                                    json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    """The object's breaker as the grid left it (kept here too: an object with no pair yet has no leg to keep it)."""


class ContrarianPhase(StrEnum):
    """Where the contrarian trade is (engine/contrarian/machine.py)."""

    FLAT = "Flat"  # no position: waiting for an extreme in the trend's direction
    LONG = "Long"
    SHORT = "Short"
    COOLING_DOWN = "CoolingDown"  # exited: no entry until the cool-down has passed
    HALTED = "Halted"  # halted, paused or the breaker tripped: no entry


class ContrarianStatus(Schema):
    """The low-frequency contrarian trade (spec.enhancement.contrarian): its signal, position, stops and PnL."""

    phase: ContrarianPhase = ContrarianPhase.FLAT
    """Where it is."""
    reason: ShortText | None = None
    """The last decision's CamelCase reason (Entry, NoExtreme, AgainstTrend, OneSided, StopLoss, TakeProfit, ...)."""
    message: StatusMessage | None = None
    """The last decision in words."""
    symbol: StatusSymbol = ""
    """Its perp."""
    rsi: Quantity | None = None
    """RSI of the last closed candle."""
    adx: Quantity | None = None
    """ADX of the last closed candle."""
    trend: ShortText | None = None
    """Up or Down: the last trend candle's close against its EMA."""
    lastCandle: datetime | None = None
    """Open time of the last closed candle evaluated."""
    seq: int = 0
    """Orders sent so far (client order ids derive from it)."""
    position: Quantity = Decimal(0)
    """Signed units held."""
    entryPrice: Quantity = Decimal(0)
    """Average entry of the position."""
    stopPrice: Quantity | None = None
    """The open position's stop-loss price."""
    takeProfitPrice: Quantity | None = None
    """The open position's take-profit price."""
    exitedAt: datetime | None = None
    """When the last position was closed (the venue's clock)."""
    trades: int = 0
    """Positions opened so far."""
    grossRealizedQuote: Quantity = Decimal(0)
    """Price PnL realised so far (before fees)."""
    feesQuote: Quantity = Decimal(0)
    """Fees paid so far."""
    fundingQuote: Quantity = Decimal(0)
    """Funding its positions received (+) or paid (−) so far."""
    fundingBookedUntil: datetime | None = None
    """Settlements up to here are in fundingQuote (the venue's clock)."""
    pnlQuote: Quantity = Decimal(0)
    """Realised − fees + funding + unrealised so far."""
    tradeStartPnlQuote: Quantity = Decimal(0)
    """pnlQuote when the open position was entered: the trade's PnL is the difference."""

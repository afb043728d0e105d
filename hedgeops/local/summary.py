"""Per-object figures collected while the local run goes: a book's rebalances, cost and deviation; a carry's
phase, funding, fees and PnL; a market maker's inventory, fills and PnL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.funding import FundingArbitrageStatus
from hedgeops.api.marketmaker import MarketMakerStatus
from hedgeops.local.performance import by_period, performance
from hedgeops.local.trades import TradeLog
from hedgeops.runtime.kinds.book_result import CycleResult
from hedgeops.runtime.reconcile import Outcome


def hourly(points: list[tuple[datetime, float]]) -> list[list[Any]]:
    """The last point of every hour, as [ISO time, value]: what a chart of a long run needs."""
    out: dict[datetime, tuple[datetime, float]] = {}
    for t, v in points:
        out[t.replace(minute=0, second=0, microsecond=0)] = (t, v)
    return [[t.isoformat(), round(v, 6)] for t, v in out.values()]


def combine(paths: dict[str, list[tuple[datetime, float]]],
            f: Callable[[dict[str, float]], float]) -> list[tuple[datetime, float]]:
    """A path from several cumulative paths recorded at different times: at every time any of them moved, `f` of
    each one's latest value (0 before its first)."""
    events = sorted((t, i, name, v) for name, path in paths.items() for i, (t, v) in enumerate(path))
    latest = dict.fromkeys(paths, 0.0)
    out: list[tuple[datetime, float]] = []
    for t, _, name, v in events:
        latest[name] = v
        if out and out[-1][0] == t:
            out[-1] = (t, f(latest))
        else:
            out.append((t, f(latest)))
    return out


@dataclass
class BookTally:
    """Running figures for one book."""

    key: str
    cycles: int = 0
    rebalances: int = 0
    emergency: int = 0
    cost: Decimal = Decimal(0)
    dev_sum: Decimal = Decimal(0)
    dev_max: Decimal = Decimal(0)
    samples: int = 0
    last_deviation: Decimal | None = None
    last_exposure: Decimal | None = None
    state: str = "Pending"
    hedged: bool = False
    events: list[str] = field(default_factory=list)
    deviation_path: list[tuple[datetime, float]] = field(default_factory=list)
    cost_path: list[tuple[datetime, float]] = field(default_factory=list)
    # The book's own PnL from its first hedge on: what the prices did to what it held net (per asset), funding on
    # its perps, fees, slippage. Capital is what it held when first hedged (gross holdings; an allocation book's
    # value).
    attribution: dict[str, Decimal] = field(default_factory=dict)
    marks: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # asset -> (net qty, price) last seen
    capital: float | None = None
    price_path: list[tuple[datetime, float]] = field(default_factory=list)
    rebalance_marks: list[tuple[datetime, str]] = field(default_factory=list)
    asset_paths: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    worst_path: list[tuple[datetime, float]] = field(default_factory=list)  # the farthest asset: |deviation|
    band_path: list[tuple[datetime, float]] = field(default_factory=list)  # ... and that asset's band
    trades: TradeLog | None = None

    def add(self, result: CycleResult | Outcome[Any], now: datetime | None = None) -> None:
        self.cycles += 1
        exposure = getattr(result, "exposure", None)  # a cycle that failed before it observed has none
        completed = getattr(result, "completed", None)
        ready = next((c for c in result.status.conditions if c.type == "Ready"), None)
        self.state = _ready_state(result.status.conditions)
        # Deviation figures measure how the book is kept from its first hedge on (the exposure of a cycle is
        # observed before that cycle trades).
        # Allocation books have no exposure: their deviation is the largest weight drift, observed before trading.
        dev = exposure.total_deviation if exposure is not None else result.status.totalDeviationRatio
        if dev is not None and self.hedged and ready is not None and ready.status == "True":
            self.samples += 1
            self.dev_sum += dev
            self.dev_max = max(self.dev_max, dev)
            self.last_deviation = dev
            self.last_exposure = None if exposure is None else exposure.total_abs_net_quote
        if self.hedged and now is not None:
            self._mark(result.status, now)
        if completed is not None:
            self.hedged = True
            self.rebalances += 1
            self.emergency += completed.urgency == "Emergency"
            self.cost += completed.costQuote
            if now is not None:
                self.rebalance_marks.append((now, str(completed.urgency)))
        if now is not None:
            self._worst(result.status, now)
            if dev is not None:
                self.deviation_path.append((now, float(dev)))
            self.cost_path.append((now, float(self.cost)))

    def _worst(self, status: Any, now: datetime) -> None:
        """The asset farthest outside (or nearest to) its band, and that band: what a chart holds against it."""
        seen = [(abs(e.deviationRatio), e.bandRatio) for e in status.exposures if e.bandRatio] or \
            [(abs(w.driftRatio), w.bandRatio) for w in status.weights if w.bandRatio]
        if seen:
            dev, band = max(seen, key=lambda x: x[0] / x[1])
            self.worst_path.append((now, float(dev)))
            self.band_path.append((now, float(band)))

    def _mark(self, status: Any, now: datetime) -> None:
        """Book what prices did to the net holdings since the last look (mark to market, asset by asset)."""
        seen = [(e.asset, e.holdingQty + e.hedgeQty, e.priceQuote, abs(e.holdingQty * e.priceQuote))
                for e in status.exposures] or [(w.asset, w.qty, w.priceQuote, w.valueQuote) for w in status.weights]
        if not seen:
            return
        if self.capital is None:
            self.capital = float(status.valueQuote) if status.weights and status.valueQuote else \
                float(sum((g for *_, g in seen), Decimal(0)))
        for asset, net, price, _ in seen:
            last = self.marks.get(asset)
            if last is not None:
                self.attribution[asset] = self.attribution.get(asset, Decimal(0)) + last[0] * (price - last[1])
                self.asset_paths.setdefault(asset, []).append((now, float(self.attribution[asset])))
            self.marks[asset] = (net, price)
        self.price_path.append((now, float(sum(self.attribution.values(), Decimal(0)))))

    def _pnl_path(self) -> list[tuple[datetime, float]]:
        paths = {"price": self.price_path, "cost": self.cost_path,
                 "funding": self.trades.funding_path if self.trades is not None else [],
                 "slip": self.trades.slippage_path if self.trades is not None else []}
        first = self.price_path[0][0] if self.price_path else None
        return [(t, v) for t, v in combine(paths, lambda v: v["price"] + v["funding"] - v["cost"] - v["slip"])
                if first is not None and t >= first]

    def sources(self) -> dict[str, float]:
        funding = self.trades.funding if self.trades is not None else Decimal(0)
        slip = self.trades.slippage if self.trades is not None else Decimal(0)
        price = sum(self.attribution.values(), Decimal(0))
        return {"fundingQuote": round(float(funding), 4), "feesQuote": round(float(self.cost), 4),
                "slippageQuote": round(float(slip), 4), "pricePnlQuote": round(float(price), 4),
                "totalPnlQuote": round(float(price + funding - self.cost - slip), 4)}

    def series(self) -> dict[str, Any]:
        out: dict[str, Any] = {"deviation": hourly(self.deviation_path), "costQuote": hourly(self.cost_path),
                               "pnlQuote": hourly(self._pnl_path()), "pricePnlQuote": hourly(self.price_path),
                               "rebalances": [[t.isoformat(), u] for t, u in self.rebalance_marks],
                               "worstAssetDeviation": hourly(self.worst_path), "worstAssetBand": hourly(self.band_path)}
        if self.trades is not None:
            out["fundingQuote"] = hourly(self.trades.funding_path)
            out["slippageQuote"] = hourly(self.trades.slippage_path)
        return out

    @property
    def mean_deviation(self) -> Decimal:
        return self.dev_sum / self.samples if self.samples else Decimal(0)

    def as_json(self) -> dict[str, Any]:
        return {
            "book": self.key,
            "state": self.state,
            "cycles": self.cycles,
            "rebalances": self.rebalances,
            "emergencyRebalances": self.emergency,
            "costQuote": round(float(self.cost), 4),
            "meanAbsDeviationRatio": round(float(self.mean_deviation), 6),
            "maxAbsDeviationRatio": round(float(self.dev_max), 6),
            **(self.trades.as_json() if self.trades is not None else {}),
            "pnlSources": self.sources(),
            "attribution": {a: round(float(v), 4) for a, v in sorted(self.attribution.items())},
            "capitalQuote": None if self.capital is None else round(self.capital, 2),
            "performance": performance(self._pnl_path(), self.capital).as_json(),
            "byMonth": by_period({"pnl": self._pnl_path(), "pricePnl": self.price_path, "fees": self.cost_path},
                                 self.capital, "month"),
            # Seed 002's monthly report: what each asset's price did to the book, month by month.
            "attributionByMonth": by_period(self.asset_paths, None, "month"),
        }


def _ready_state(conditions: list[Any]) -> str:
    """The state column: Halted while a halt is in force (a halted object is still Ready: it reconciles, it only
    trades nothing, and the summary said "Ready" of a book the user had stopped), else Ready or Ready's reason."""
    if any(c.type == "Halted" and c.status == "True" for c in conditions):
        return "Halted"
    ready = next((c for c in conditions if c.type == "Ready"), None)
    return "Ready" if ready and ready.status == "True" else (ready.reason if ready else "Pending")


@dataclass
class CarryTally:
    """Running figures for one FundingArbitrage: its phase, what funding paid, what fees cost, its PnL."""

    key: str
    cycles: int = 0
    state: str = "Pending"
    phase: str = "Idle"
    pairs: int = 0
    funding: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    pnl: Decimal = Decimal(0)
    margin_ratio: Decimal | None = None
    breaker_tripped: bool = False
    capital: float | None = None  # spec.capital.amountQuote: what return and drawdown are measured against
    events: list[str] = field(default_factory=list)
    pnl_path: list[tuple[datetime, float]] = field(default_factory=list)
    # A pair's status figures cover its current position only: they start again from zero when the pair re-enters
    # after a close. What closed positions made is banked here (funding, fees, PnL), so the run's figures and
    # track record are lifetime ones. A reset shows as the pair's fees going down (they only grow within a
    # position, and a round trip paid more than a new entry) or the pair leaving the status.
    banked: list[Decimal] = field(default_factory=lambda: [Decimal(0)] * 3)
    last_legs: dict[str, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)
    funding_path: list[tuple[datetime, float]] = field(default_factory=list)
    fees_path: list[tuple[datetime, float]] = field(default_factory=list)
    trades: TradeLog | None = None  # the account's fills and bills on this object's symbols (runner-given)
    breaker_trips: int = 0
    tripped_at: datetime | None = None  # when the breaker last tripped (None: not tripped now)
    halted_s: float = 0.0  # time spent halted or with the breaker tripped
    last_seen: tuple[datetime, bool] | None = None  # (when, halted then)
    grid: dict[str, Any] | None = None  # spec.enhancement.grid as its status last stood (its PnL is in pnl already)
    contrarian: dict[str, Any] | None = None  # spec.enhancement.contrarian likewise

    def _bank_closed(self, status: FundingArbitrageStatus) -> None:
        now_legs = {leg.perp: (leg.fundingEarnedQuote, leg.feesQuote, leg.pnlQuote) for leg in status.legs}
        for key, last in self.last_legs.items():
            cur = now_legs.get(key)
            if cur is None or cur[1] < last[1]:
                self.banked = [b + x for b, x in zip(self.banked, last, strict=True)]
        self.last_legs = now_legs

    def add(self, status: FundingArbitrageStatus, now: datetime | None = None) -> None:
        self.cycles += 1
        self._bank_closed(status)
        self.state = _ready_state(status.conditions)
        self.phase, self.pairs = status.phase.value, len(status.legs)
        self.funding = self.banked[0] + status.fundingEarnedQuote
        self.fees = self.banked[1] + status.feesQuote
        self.pnl = self.banked[2] + status.pnlQuote
        if now is not None:
            self.pnl_path.append((now, float(self.pnl)))
            self.funding_path.append((now, float(self.funding)))
            self.fees_path.append((now, float(self.fees)))
            halted = status.breaker.tripped or status.phase.value == "Halted"
            if self.last_seen is not None and self.last_seen[1]:
                self.halted_s += (now - self.last_seen[0]).total_seconds()
            self.last_seen = (now, halted)
        if status.breaker.tripped and not self.breaker_tripped:
            self.breaker_trips += 1
            self.tripped_at = now
        elif not status.breaker.tripped:
            self.tripped_at = None
        self.margin_ratio, self.breaker_tripped = status.marginRatio, status.breaker.tripped
        g = status.grid
        if g is not None:
            self.grid = {"symbol": g.symbol, "phase": g.phase.value, "reason": g.reason, "generations": g.generation,
                         "stops": g.stops, "adx": None if g.adx is None else round(float(g.adx), 2),
                         "position": float(g.position), "ordersResting": len(g.orders),
                         "pnlQuote": round(float(g.pnlQuote), 4), "feesQuote": round(float(g.feesQuote), 4),
                         "fundingQuote": round(float(g.fundingQuote), 4)}
        c = status.contrarian
        if c is not None:
            self.contrarian = {"symbol": c.symbol, "phase": c.phase.value, "reason": c.reason, "trades": c.trades,
                               "rsi": None if c.rsi is None else round(float(c.rsi), 2), "trend": c.trend,
                               "position": float(c.position), "pnlQuote": round(float(c.pnlQuote), 4),
                               "feesQuote": round(float(c.feesQuote), 4),
                               "fundingQuote": round(float(c.fundingQuote), 4)}

    def _slippage(self) -> Decimal:
        return self.trades.slippage if self.trades is not None else Decimal(0)

    def sources(self) -> dict[str, float]:
        """The PnL split: funding earned, fees paid, slippage against the replayed price, and the rest: what the
        two legs' prices did (the basis, zero where both are priced at the mark)."""
        slip = self._slippage()
        return {"fundingQuote": round(float(self.funding), 4), "feesQuote": round(float(self.fees), 4),
                "slippageQuote": round(float(slip), 4),
                "pricePnlQuote": round(float(self.pnl - self.funding + self.fees + slip), 4)}

    def as_json(self) -> dict[str, Any]:
        return {"fundingArbitrage": self.key, "state": self.state, "cycles": self.cycles, "phase": self.phase,
                "pairs": self.pairs, "fundingEarnedQuote": round(float(self.funding), 4),
                "feesQuote": round(float(self.fees), 4), "pnlQuote": round(float(self.pnl), 4),
                "marginRatio": None if self.margin_ratio is None else round(float(self.margin_ratio), 4),
                "breakerTripped": self.breaker_tripped, "breakerTrips": self.breaker_trips,
                "haltedHours": round(self.halted_s / 3600, 2),
                **(self.trades.as_json() if self.trades is not None else {}),
                "pnlSources": self.sources(),
                "performance": performance(self.pnl_path, self.capital).as_json(),
                "byYear": by_period(self._paths(), self.capital, "year"),
                "byMonth": by_period(self._paths(), self.capital, "month"),
                **({"grid": self.grid} if self.grid is not None else {}),
                **({"contrarian": self.contrarian} if self.contrarian is not None else {})}

    def _paths(self) -> dict[str, list[tuple[datetime, float]]]:
        return {"pnl": self.pnl_path, "funding": self.funding_path, "fees": self.fees_path}

    def series(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pnlQuote": hourly(self.pnl_path), "fundingQuote": hourly(self.funding_path),
                               "feesQuote": hourly(self.fees_path)}
        if self.trades is not None:
            out["slippageQuote"] = hourly(self.trades.slippage_path)
            out["trades"] = self.trades.trade_marks()
        paths = {"pnl": self.pnl_path, "funding": self.funding_path, "fees": self.fees_path,
                 "slip": self.trades.slippage_path if self.trades is not None else []}
        out["pricePnlQuote"] = hourly(combine(paths, lambda v: v["pnl"] - v["funding"] + v["fees"] + v["slip"]))
        return out


@dataclass
class MakerTally:
    """Running figures for one MarketMaker: inventory, what it bought and sold, its PnL."""

    key: str
    cycles: int = 0
    state: str = "Pending"
    reason: str = ""
    position: Decimal = Decimal(0)
    bought: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    unrealized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    quotes: int = 0
    funding: Decimal = Decimal(0)  # what the status booked from the venue's bills (seed 003's holding cost)
    placed: int = 0
    filled: int = 0
    last_cycle: dict[str, Any] = field(default_factory=dict)  # the status's summary of the last cycle
    events: list[str] = field(default_factory=list)
    pnl_path: list[tuple[datetime, float]] = field(default_factory=list)  # the status's: realised + unrealised
    fees_path: list[tuple[datetime, float]] = field(default_factory=list)
    inventory_path: list[tuple[datetime, float]] = field(default_factory=list)
    trades: TradeLog | None = None  # the account's fills and bills on this object's symbol (runner-given)
    # The spec's position lines (target, threshold around it, max): what a chart holds the inventory against.
    lines: dict[str, float] = field(default_factory=dict)

    def add(self, status: MarketMakerStatus, now: datetime | None = None) -> None:
        self.cycles += 1
        if now is not None:  # realised is after fees; unrealised marks what is held
            self.pnl_path.append((now, float(status.realizedPnlQuote + status.unrealizedPnlQuote)))
            self.fees_path.append((now, float(status.feesQuote)))
            self.inventory_path.append((now, float(status.position)))
        finished = any(c.type == "Finished" and c.status == "True" for c in status.conditions)
        self.state = "Finished" if finished else _ready_state(status.conditions)
        self.reason = status.reason or ""
        self.position, self.bought, self.sold = status.position, status.boughtQty, status.soldQty
        self.realized, self.unrealized = status.realizedPnlQuote, status.unrealizedPnlQuote
        self.fees, self.quotes = status.feesQuote, len(status.quotes)
        self.funding, self.placed, self.filled = status.fundingQuote, status.quotesPlaced, status.quotesFilled
        if status.summary is not None:
            self.last_cycle = status.summary.model_dump(mode="json", exclude_none=True)

    def as_json(self) -> dict[str, Any]:
        return {"marketMaker": self.key, "state": self.state, "reason": self.reason, "cycles": self.cycles,
                "position": float(self.position), "boughtQty": float(self.bought), "soldQty": float(self.sold),
                "realizedPnlQuote": round(float(self.realized), 4),
                "unrealizedPnlQuote": round(float(self.unrealized), 4), "feesQuote": round(float(self.fees), 4),
                "restingQuotes": self.quotes, "positionLines": self.lines,
                "fundingQuote": round(float(self.funding), 4), "quotesPlaced": self.placed,
                "quotesFilled": self.filled,
                "fillRatio": round(self.filled / self.placed, 4) if self.placed else None,
                "lastCycle": self.last_cycle,
                **(self.trades.as_json() if self.trades is not None else {}),
                "pnlSources": self.sources(),
                # A market maker commits no stated capital: figures in quote, and Sharpe/Sortino (scale-free).
                "performance": performance(self._total_path()).as_json(),
                "byMonth": by_period({"pnl": self._total_path(), "fees": self.fees_path}, None, "month")}

    def _total_path(self) -> list[tuple[datetime, float]]:
        """The status's PnL plus the funding the position paid or earned (the status leaves funding out)."""
        if self.trades is None:
            return self.pnl_path
        return combine({"p": self.pnl_path, "f": self.trades.funding_path}, lambda v: v["p"] + v["f"])

    def sources(self) -> dict[str, float]:
        """Funding, fees, slippage against the replayed price (negative: the spread the quotes earned) and the
        rest: what the inventory's price did."""
        slip = self.trades.slippage if self.trades is not None else Decimal(0)
        funding = self.trades.funding if self.trades is not None else Decimal(0)
        return {"fundingQuote": round(float(funding), 4), "feesQuote": round(float(self.fees), 4),
                "slippageQuote": round(float(slip), 4),
                "pricePnlQuote": round(float(self.realized + self.unrealized + self.fees + slip), 4),
                "totalPnlQuote": round(float(self.realized + self.unrealized + funding), 4)}

    def series(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pnlQuote": hourly(self._total_path()), "feesQuote": hourly(self.fees_path),
                               "inventory": hourly(self.inventory_path)}
        if self.trades is not None:
            out["slippageQuote"] = hourly(self.trades.slippage_path)
            out["fundingQuote"] = hourly(self.trades.funding_path)
            out["trades"] = self.trades.trade_marks()
        return out

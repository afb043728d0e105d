"""Per-object figures collected while the local run goes: a book's rebalances, cost and deviation; a carry's
phase, funding, fees and PnL; a market maker's inventory, fills and PnL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.funding import FundingArbitrageStatus
from hedgeops.api.marketmaker import MarketMakerStatus
from hedgeops.local.performance import performance
from hedgeops.runtime.kinds.book_result import CycleResult
from hedgeops.runtime.reconcile import Outcome


def hourly(points: list[tuple[datetime, float]]) -> list[list[Any]]:
    """The last point of every hour, as [ISO time, value]: what a chart of a long run needs."""
    out: dict[datetime, tuple[datetime, float]] = {}
    for t, v in points:
        out[t.replace(minute=0, second=0, microsecond=0)] = (t, v)
    return [[t.isoformat(), round(v, 6)] for t, v in out.values()]


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

    def add(self, result: CycleResult | Outcome[Any], now: datetime | None = None) -> None:
        self.cycles += 1
        exposure = getattr(result, "exposure", None)  # a cycle that failed before it observed has none
        completed = getattr(result, "completed", None)
        ready = next((c for c in result.status.conditions if c.type == "Ready"), None)
        self.state = "Ready" if ready and ready.status == "True" else (ready.reason if ready else "Pending")
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
        if completed is not None:
            self.hedged = True
            self.rebalances += 1
            self.emergency += completed.urgency == "Emergency"
            self.cost += completed.costQuote
        if now is not None:
            if dev is not None:
                self.deviation_path.append((now, float(dev)))
            self.cost_path.append((now, float(self.cost)))

    def series(self) -> dict[str, Any]:
        return {"deviation": hourly(self.deviation_path), "costQuote": hourly(self.cost_path)}

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
        }


def _ready_state(conditions: list[Any]) -> str:
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
        self.margin_ratio, self.breaker_tripped = status.marginRatio, status.breaker.tripped

    def as_json(self) -> dict[str, Any]:
        return {"fundingArbitrage": self.key, "state": self.state, "cycles": self.cycles, "phase": self.phase,
                "pairs": self.pairs, "fundingEarnedQuote": round(float(self.funding), 4),
                "feesQuote": round(float(self.fees), 4), "pnlQuote": round(float(self.pnl), 4),
                "marginRatio": None if self.margin_ratio is None else round(float(self.margin_ratio), 4),
                "breakerTripped": self.breaker_tripped,
                "performance": performance(self.pnl_path, self.capital).as_json()}

    def series(self) -> dict[str, Any]:
        return {"pnlQuote": hourly(self.pnl_path)}


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
    events: list[str] = field(default_factory=list)
    pnl_path: list[tuple[datetime, float]] = field(default_factory=list)

    def add(self, status: MarketMakerStatus, now: datetime | None = None) -> None:
        self.cycles += 1
        if now is not None:  # realised is after fees; unrealised marks what is held
            self.pnl_path.append((now, float(status.realizedPnlQuote + status.unrealizedPnlQuote)))
        finished = any(c.type == "Finished" and c.status == "True" for c in status.conditions)
        self.state = "Finished" if finished else _ready_state(status.conditions)
        self.reason = status.reason or ""
        self.position, self.bought, self.sold = status.position, status.boughtQty, status.soldQty
        self.realized, self.unrealized = status.realizedPnlQuote, status.unrealizedPnlQuote
        self.fees, self.quotes = status.feesQuote, len(status.quotes)

    def as_json(self) -> dict[str, Any]:
        return {"marketMaker": self.key, "state": self.state, "reason": self.reason, "cycles": self.cycles,
                "position": float(self.position), "boughtQty": float(self.bought), "soldQty": float(self.sold),
                "realizedPnlQuote": round(float(self.realized), 4),
                "unrealizedPnlQuote": round(float(self.unrealized), 4), "feesQuote": round(float(self.fees), 4),
                "restingQuotes": self.quotes,
                # A market maker commits no stated capital: figures in quote, and Sharpe/Sortino (scale-free).
                "performance": performance(self.pnl_path).as_json()}

    def series(self) -> dict[str, Any]:
        return {"pnlQuote": hourly(self.pnl_path)}

"""Per-book figures collected while the local run goes: rebalances, cost, deviation."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedgeops.runtime.kinds.book_result import CycleResult


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

    def add(self, result: CycleResult) -> None:
        self.cycles += 1
        ready = next((c for c in result.status.conditions if c.type == "Ready"), None)
        self.state = "Ready" if ready and ready.status == "True" else (ready.reason if ready else "Pending")
        # Deviation figures measure how the book is kept from its first hedge on (the exposure of a cycle is
        # observed before that cycle trades).
        # Allocation books have no exposure: their deviation is the largest weight drift, observed before trading.
        dev = result.exposure.total_deviation if result.exposure is not None else result.status.totalDeviationRatio
        if dev is not None and self.hedged and ready is not None and ready.status == "True":
            self.samples += 1
            self.dev_sum += dev
            self.dev_max = max(self.dev_max, dev)
            self.last_deviation = dev
            self.last_exposure = None if result.exposure is None else result.exposure.total_abs_net_quote
        if result.completed is not None:
            self.hedged = True
            self.rebalances += 1
            self.emergency += result.completed.urgency == "Emergency"
            self.cost += result.completed.costQuote

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

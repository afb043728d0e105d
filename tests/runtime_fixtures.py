"""A reconciler wired to the paper venue on a simulated clock, and book/policy builders."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hedgeops.api import HedgeBook, RebalancePolicy
from hedgeops.api.hedgebook import HedgeBookStatus
from hedgeops.engine.common.controls import Controls
from hedgeops.runtime.clock import SimClock
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal, journal_stream
from hedgeops.runtime.kinds.book_result import CycleResult
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.reconcile import Outcome
from hedgeops.runtime.venues import PaperVenues

START = datetime(2025, 1, 2, 0, 0, tzinfo=UTC)


@dataclass
class Rig:
    clock: SimClock
    venues: PaperVenues
    locks: InMemoryLocks
    journal: InMemoryJournal
    metrics: Metrics
    reconciler: HedgeBookReconciler

    def entries(self, book: HedgeBook) -> list[dict[str, Any]]:
        return [e for _, e in self.journal.streams[journal_stream("HedgeBook", book.key)]]


def rig(start: datetime = START) -> Rig:
    clock = SimClock(start)
    venues = PaperVenues(clock.now)
    locks = InMemoryLocks(lambda: 0.0)
    journal = InMemoryJournal()
    metrics = Metrics()
    return Rig(clock, venues, locks, journal, metrics,
               HedgeBookReconciler(Services(venues, locks, journal, metrics, owner="test")))


HALT = "hedgeops.io/halt is set"


def controls(halted: bool = False, approval: str | None = None, close_all: bool = False) -> Controls:
    """The controls the tests ask for, as the keywords they used to pass."""
    return Controls(halt=HALT if halted else None, approval=approval, close_all=close_all)


def as_result(outcome: Outcome[HedgeBookStatus]) -> CycleResult:
    """A cycle's outcome with the book's own fields: a cycle that could not run has none of them (all None)."""
    if isinstance(outcome, CycleResult):
        return outcome
    return CycleResult(outcome.status, outcome.events, outcome.changed, outcome.degraded)


def book(name: str = "b1", **spec: Any) -> HedgeBook:
    body: dict[str, Any] = {
        "exchange": {"name": "okx", "account": name},
        "holdings": {"source": "Static", "static": {"SOL": 100, "ETH": 3}},
        "legs": [{"asset": "SOL", "symbol": "SOL/USDT:USDT"}, {"asset": "ETH", "symbol": "ETH/USDT:USDT"}],
        "policyRef": {"name": "p"},
    }
    body.update(spec)
    return HedgeBook.model_validate({"kind": "HedgeBook", "metadata": {"name": name, "uid": f"uid-{name}",
                                                                       "generation": 1}, "spec": body})


def policy(**spec: Any) -> RebalancePolicy:
    return RebalancePolicy.model_validate({"kind": "RebalancePolicy", "metadata": {"name": "p"},
                                           "spec": {"preset": "Compact", "minOrder": {"SOL": 0.05, "ETH": 0.005},
                                                    **spec}})


class Monotonic:
    """A monotonic clock (seconds) the test moves: caches' TTLs and rate limiters."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Killed(BaseException):
    """What SIGKILL does to a process, as far as the code after it is concerned: nothing more runs."""


@contextlib.asynccontextmanager
async def killed_after(venue: Any, orders: int) -> AsyncIterator[list[str]]:
    """Within the block the venue accepts `orders` orders, then the process 'dies' at the next one (the block
    ends there, quietly). Yields the client ids that went through; the venue is whole again afterwards."""
    place, sent = venue.place, []

    async def dying(order: Any) -> Any:
        if len(sent) == orders:
            raise Killed
        sent.append(order.client_order_id)
        return await place(order)

    venue.place = dying
    try:
        with contextlib.suppress(Killed):
            yield sent
    finally:
        venue.place = place

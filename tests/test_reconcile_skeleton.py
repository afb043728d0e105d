"""The skeleton's own promises, apart from any kind: a slot the kind declines is not a late cycle and does not
leave the object overdue (hostile review, R3: carries between scans and finished market makers paged as
lagging), and the operator keeps an owner's SharedPositions current on ticks without a cycle (R2)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.api.marketmaker import MarketMakerStatus
from hedgeops.engine.common.controls import Controls
from hedgeops.runtime.app import AppConfig, build_app
from hedgeops.runtime.clock import SimClock
from hedgeops.runtime.cycle import Guard
from hedgeops.runtime.reconcile import KindBase, Outcome, Reconciler, Schedule

from .test_claims import example

NOW = datetime(2025, 1, 2, 0, 0, 3, tzinfo=UTC)


class Declining(KindBase[Any, MarketMakerStatus, None]):
    """A kind with nothing to do on any slot (a carry with nothing held between scans, a finished maker)."""

    kind = "Declining"
    status_type = MarketMakerStatus

    def __init__(self) -> None:
        self.asked: list[bool] = []

    def interval(self, obj: Any, inputs: None) -> float:
        return 60.0

    def wanted(self, obj: Any, status: MarketMakerStatus, controls: Controls, now: datetime, scheduled: bool) -> Any:
        self.asked.append(scheduled)
        return None

    async def step(self, obj: Any, status: MarketMakerStatus, controls: Controls, now: datetime, inputs: None,
                   guard: Guard, wanted: Any) -> Outcome[MarketMakerStatus]:
        raise AssertionError("a declined slot runs no step")


def _lag_count(app: Any, kind: str) -> float:
    return sum(s.value for m in app.metrics.registry.collect() if m.name == "hedgeops_cycle_lag_seconds"
               for s in m.samples if s.name.endswith("_count") and s.labels.get("kind") == kind)


async def test_a_declined_slot_is_no_late_cycle_and_the_object_is_due_again_next_slot() -> None:
    app = build_app(AppConfig(clock="sim"), clock=SimClock(NOW))
    kind = Declining()
    reconciler = Reconciler(kind, app.services, Schedule())
    obj = SimpleNamespace(metadata=SimpleNamespace(namespace="ns", name="a", generation=1, uid="uid-a"),
                          spec=SimpleNamespace(exchange=ExchangeRef(name="okx", account="a"), mode=Mode.PAPER),
                          status=None)
    for i in range(120):  # ten minutes of 5 s ticks
        outcome = await reconciler.reconcile(obj, NOW + timedelta(seconds=5 * i))
        assert not outcome.changed
    # Asked at once, then once on each minute slot from 00:01 to 00:09: not on every tick as if overdue.
    assert kind.asked.count(True) == 10
    assert _lag_count(app, "Declining") == 0
    await app.close()


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    monkeypatch.setattr(kopf, "event", lambda body, type, reason, message: out.append((body["metadata"]["name"],
                                                                                      reason)))
    monkeypatch.setattr(kopf, "warn", lambda body, reason, message: out.append((body["metadata"]["name"], reason)))
    return out


async def test_an_owner_learns_of_a_sharer_on_a_tick_without_a_cycle(posted: list[tuple[str, str]]) -> None:
    from hedgeops.api.marketmaker import MarketMaker
    from hedgeops.engine.common.claims import maker_claims
    from hedgeops.operator import handlers, objects

    clock = SimClock(datetime(2025, 1, 2, 1, tzinfo=UTC))
    app = build_app(AppConfig(clock="sim"), clock=clock)
    memo = kopf.Memo()
    memo.runtime = handlers.Runtime(app)

    def body(name: str, created: str) -> dict[str, Any]:
        b = copy.deepcopy(example("marketmaker-sol.yaml"))
        b["metadata"].update(name=name, uid=f"uid-{name}", generation=1, creationTimestamp=created)
        b["spec"]["intervalSeconds"] = 60
        return b

    def index(*bodies: dict[str, Any]) -> dict[Any, list[Any]]:
        out: dict[Any, list[Any]] = {}
        for b in bodies:
            for claim, holder in objects.claims_of(MarketMaker, kopf.Body(b), maker_claims).items():
                out.setdefault(claim, []).append(holder)
        return out

    async def tick(b: dict[str, Any], idx: dict[Any, list[Any]]) -> dict[str, tuple[str, str]]:
        patch = kopf.Patch()
        await handlers.marketmaker_timer(body=kopf.Body(b), patch=patch, memo=memo, book_claims_index={},
                                         carry_claims_index={}, maker_claims_index=idx, cluster_halt_index={})
        written = dict(patch.get("status") or {})
        if written:
            b.setdefault("status", {}).update(copy.deepcopy(written))
        return {c["type"]: (c["status"], c["reason"]) for c in written.get("conditions", [])}

    a, b = body("a", "2025-01-01T00:00:00Z"), body("b", "2025-01-02T00:00:00Z")
    first = await tick(a, index(a))
    assert first["SharedPositions"] == ("False", "SoleOwner")
    clock.advance(5)  # inside a's 60 s interval: no cycle on this tick
    assert (await tick(a, index(a, b)))["SharedPositions"] == ("True", "SharedWithOthers")
    assert ("a", "SharedPositions") in posted
    clock.advance(5)
    assert (await tick(a, index(a)))["SharedPositions"] == ("False", "SoleOwner")
    await app.close()


async def test_an_approval_waits_for_a_cycle_that_acts_on_it(posted: list[tuple[str, str]]) -> None:
    """A one-shot control is consumed by the step that sees it, not by a cycle that failed before (here its
    policy is missing): the approval is still there for the retry (hostile review, noted as pre-existing)."""
    from hedgeops.operator import handlers

    from .runtime_fixtures import book, policy

    app = build_app(AppConfig(clock="sim"), clock=SimClock(datetime(2025, 1, 2, 1, tzinfo=UTC)))
    memo = kopf.Memo()
    memo.runtime = handlers.Runtime(app)
    body = book().model_dump(mode="json", exclude_none=True)
    body["metadata"].update(namespace="default", annotations={"hedgeops.io/approve": "abc-123"})

    async def tick(policies: dict[Any, list[Any]]) -> kopf.Patch:
        patch = kopf.Patch()
        await handlers.hedgebook_timer(body=kopf.Body(body), patch=patch, memo=memo, book_claims_index={},
                                       carry_claims_index={}, maker_claims_index={}, cluster_halt_index={},
                                       policy_index=policies)
        return patch

    missing = await tick({})
    assert "hedgeops.io/approve" not in (missing.get("metadata") or {}).get("annotations", {})
    assert ("b1", "PolicyNotFound") in posted
    p = policy().model_dump(mode="json", exclude_none=True)
    p["metadata"]["namespace"] = "default"  # no uid or generation, as in a local file: its appearing is the change
    ran = await tick({("default", "p"): [p]})  # the policy is back: the cycle runs and refuses the unknown plan id
    assert ran["metadata"]["annotations"]["hedgeops.io/approve"] is None
    await app.close()

"""The finalizer's branches (hedgeops/operator/handlers.py `finalize`), in process: what it tells and when it holds
the deletion. The whole path, kopf on the strict API server with real ccxt to the emulator, is
tests/test_operator_finalizer.py; the cancels themselves are tests/test_runtime_teardown.py."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
import yaml

from hedgeops.operator.handlers import finalize
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.teardown import TeardownResult

from .conftest import ROOT


class Reconciler:
    def __init__(self, result: TeardownResult) -> None:
        self.result, self.seen = result, []  # type: ignore[var-annotated]

    async def teardown(self, obj: Any, now: datetime) -> TeardownResult:
        self.seen.append(obj)
        return self.result


def runtime(result: TeardownResult, active: bool = True) -> tuple[SimpleNamespace, Reconciler]:
    rec = Reconciler(result)
    app = SimpleNamespace(hedgebooks=rec, clock=SimpleNamespace(now=lambda: datetime(2025, 1, 2, tzinfo=UTC)),
                          metrics=Metrics(), services=SimpleNamespace(triggers=None), wakeups=None)
    return SimpleNamespace(active=active, app=app, patched_at={}, mistyped={}), rec


def book(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((ROOT / "manifests" / "examples" / "hedgebook-spot.yaml").read_text())
    body["metadata"]["uid"] = "uid-1"
    body.update(changes)
    return body


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """The events finalize posts: (type, reason, message)."""
    posted: list[tuple[str, str, str]] = []
    monkeypatch.setattr(kopf, "warn", lambda body, reason, message: posted.append(("Warning", reason, message)))
    monkeypatch.setattr(kopf, "event", lambda body, type, reason, message: posted.append((type, reason, message)))
    return posted


async def call(rt: SimpleNamespace, body: dict[str, Any]) -> None:
    await finalize(body=body, memo=SimpleNamespace(runtime=rt), logger=SimpleNamespace(info=lambda *_: None))


async def test_cancelled_orders_are_listed_and_the_object_goes(told: list[tuple[str, str, str]]) -> None:
    rt, rec = runtime(TeardownResult(cancelled={"ho1": "0", "ho2": "0.5"}))
    await call(rt, book())
    assert told == [("Normal", "OrdersCancelled", "2 resting order(s) cancelled before deletion: ho1, ho2")]
    assert rec.seen[0].metadata.uid == "uid-1"


async def test_a_failure_that_passes_holds_the_deletion_and_one_that_cannot_lets_it_go_told(
        told: list[tuple[str, str, str]]) -> None:
    rt, _ = runtime(TeardownResult(failure=("ExchangeUnavailable", "503 from okx", True)))
    with pytest.raises(kopf.TemporaryError, match="ExchangeUnavailable: 503 from okx") as held:
        await call(rt, book())
    assert held.value.delay == 5.0 and told == []
    rt, _ = runtime(TeardownResult(failure=("UnreadableIntent", "the write-ahead intent k is not readable", False)))
    await call(rt, book())  # no exception: kopf removes the finalizer
    assert told == [("Warning", "OrdersNotCancelled", "UnreadableIntent: the write-ahead intent k is not readable; "
                     "check the account for orders it may have left resting")]


async def test_a_standby_replica_leaves_the_cancel_to_the_leader(told: list[tuple[str, str, str]]) -> None:
    rt, rec = runtime(TeardownResult(), active=False)
    with pytest.raises(kopf.TemporaryError, match="the leader cancels"):
        await call(rt, book())
    assert rec.seen == []


async def test_an_unparseable_spec_is_told_and_an_unreadable_status_falls_back_to_the_intent(
        told: list[tuple[str, str, str]]) -> None:
    rt, rec = runtime(TeardownResult())
    bad = book()
    bad["spec"]["legs"] = "not a list"
    await call(rt, bad)
    assert [(t, r) for t, r, _ in told] == [("Warning", "OrdersNotCancelled")] and rec.seen == []
    assert "the account it traded is unknown" in told[0][2]
    told.clear()
    await call(rt, book(status={"rebalanceSeq": "not a number"}))
    assert [(t, r) for t, r, _ in told] == [("Warning", "StatusUnreadable")]
    assert rec.seen[0].status is None  # teardown ran on the spec, with the intent newer than no status at all

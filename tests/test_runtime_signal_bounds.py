"""A signal in a book's status that asks for more than the book holds (sent huge, accepted when holdings were
larger, or edited by hand) is clamped at cycle time to ±2 × the units held: the cycle hedges within the book
and never trips over the number (1e30 used to raise in the order sizing, after orders could be out)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from hedgeops.api import HedgeBook
from hedgeops.runtime.kinds.book_result import CycleResult

from .runtime_fixtures import Rig, as_result, book, policy, rig

D = Decimal


async def step(r: Rig, b: HedgeBook) -> tuple[HedgeBook, CycleResult]:
    result = as_result(await r.reconciler.reconcile(b, r.clock.now(), None, policy()))
    return b.model_copy(update={"status": result.status}), result


@pytest.mark.parametrize(("asked", "target"), [
    ("-1E+30", D("-300")),  # clamped to −2 × 100 held: short 300
    ("-500", D("-300")),  # accepted when the book held more than 100 SOL
    ("1E+30", D("100")),  # clamped to +2 × 100: long 100 on top of the holding
    ("-150", D("-250")),  # within the cap: as asked
])
async def test_a_signalled_target_is_clamped_to_what_the_book_holds(asked: str, target: Decimal) -> None:
    r = rig()
    b, _ = await step(r, book())  # SOL 100, ETH 3, hedged 1:1
    now = r.clock.now()
    active = {"id": "tv-big", "issuedAt": now.isoformat(), "expiresAt": (now + timedelta(hours=1)).isoformat(),
              "priority": "normal", "targetDelta": {"SOL": asked}, "hedgeRatio": None}
    b = b.model_copy(update={"status": b.status.model_copy(update={"activeSignal": active})})  # type: ignore[union-attr]
    r.clock.advance(60)
    b, res = await step(r, b)
    assert b.status is not None
    sol = next(e for e in b.status.exposures if e.asset == "SOL")
    assert sol.targetHedgeQty == target
    assert res.plan is not None and all(abs(o.amount) <= abs(target - D(-100)) for o in res.plan.orders)

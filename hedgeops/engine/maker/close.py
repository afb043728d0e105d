"""Seed 003's close-all for a MarketMaker (hedgeops.io/close-all): cancel every quote, close the position at
market reduce-only, then stay flat and quote nothing while the annotation is set. It comes before the halt,
pause and duration (a person asked for flat, explicitly) and before the red lines of the quoting decision: it
only ever reduces. Pure: the runtime places what this returns."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hedgeops.api.marketmaker import MarketMakerSpec
from hedgeops.engine.common.ids import client_order_id, plan_id
from hedgeops.engine.maker.decide import CLOSE_LEG, MakerDecision, MakerOrder
from hedgeops.model.market import MarketRules
from hedgeops.model.orders import Side


def decide_close_all(spec: MarketMakerSpec, rules: MarketRules, *, uid: str, cycle: int, now: datetime,
                     started_at: datetime, position: Decimal) -> MakerDecision:
    """Cancel everything and close what is held. `finished` keeps saying whether the run's duration is over, so
    a finished MarketMaker flattened by close-all stays finished."""
    finished = spec.durationSeconds is not None and (now - started_at).total_seconds() >= spec.durationSeconds
    # Reduce-only never trades more than is held: round down onto the grid; below the venue's minimum there is
    # nothing an order can close (dust), so it is reported, not retried every cycle.
    amount = rules.round_amount(abs(position))
    if amount == 0 or amount < rules.min_amount:
        left = f"; {position} left, below the minimum order {rules.min_amount}" if position != 0 else ""
        return MakerDecision("ClosedAll", f"flat{left}: quoting nothing while hedgeops.io/close-all is set",
                             cancel_all=True, finished=finished)
    side = Side.towards(-position)
    close = MakerOrder(side, amount, client_order_id(plan_id(uid, cycle), CLOSE_LEG, "t"))
    return MakerDecision("CloseAll", f"hedgeops.io/close-all is set: quotes cancelled, position {position} closed "
                         f"at market ({side} {amount}, reduce-only)", cancel_all=True, close=close,
                         finished=finished)

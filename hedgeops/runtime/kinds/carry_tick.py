"""One FundingArbitrage tick as each part of it sees it (runtime/kinds/carry*.py): the object and its status as
the tick found them, the controls, the time, the tasks due, the guard, and the kind's services and intents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hedgeops.api.funding import FundingArbitrage, FundingArbitrageStatus
from hedgeops.engine.carry.intent import CarryIntent
from hedgeops.engine.common.controls import Controls
from hedgeops.runtime.cycle import Guard, Services
from hedgeops.runtime.intents import IntentStore

ZERO = Decimal(0)
KIND = FundingArbitrage.KIND


@dataclass(frozen=True)
class CarryTick:
    """What stays the same for the whole of one tick: the scan, the self-checks and every pair's turn read it."""

    fa: FundingArbitrage
    status: FundingArbitrageStatus
    controls: Controls
    now: datetime
    due: set[str]
    guard: Guard
    services: Services
    intents: IntentStore[CarryIntent]

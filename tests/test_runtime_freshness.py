"""Stale market data is refused (issue 13, finding 11): a snapshot older than the bound on the cycle's clock
makes the object Degraded StaleMarketData and nothing is sent. On the paper venue (a replay run past its data)
and through real ccxt to the emulator whose feed froze while the cycle's clock went on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.operator.settings import OperatorSettings
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues

from .emulator_fixtures import KEY, Rig, read_secret, start
from .runtime_fixtures import book, policy, rig


def conditions(status: object) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status.value, c.reason, c.message) for c in status.conditions}  # type: ignore[attr-defined]


async def test_a_replay_run_past_its_data_trades_nothing() -> None:
    end = max(MarketReplay().series(s).last_known for s in ("SOL/USDT:USDT", "ETH/USDT:USDT"))
    r = rig(end + timedelta(hours=2))  # the last bar closed two hours before the cycle's clock
    result = await r.reconciler.reconcile(book(), r.clock.now(), None, policy())
    conds = conditions(result.status)
    assert conds["Ready"][:2] == ("False", "StaleMarketData") and conds["Degraded"][:2] == ("True", "StaleMarketData")
    assert "SOL/USDT:USDT" in conds["Ready"][2] and "s old" in conds["Ready"][2]
    venue = r.venues.paper("okx", "b1")
    assert venue is not None and not venue.account.orders


async def test_within_one_bar_of_the_replay_is_fresh() -> None:
    r = rig()
    r.clock.advance(299)  # 4 min 59 s into a 5-minute bar: its quote is that old, and that is the data's step
    result = await r.reconciler.reconcile(book(), r.clock.now(), None, policy())
    assert result.completed is not None and conditions(result.status)["Ready"][0] == "True"


@pytest.fixture
async def emulated() -> AsyncIterator[Rig]:
    async for rig_ in start():
        yield rig_


async def test_a_frozen_exchange_feed_through_ccxt_stops_the_cycle(emulated: Rig) -> None:
    venues = Venues(PaperVenues(emulated.clock), CcxtVenues(read_secret, {"okx": emulated.url},
                                                            snapshot_max_age_s=0, rate_limit=False))
    reconciler = HedgeBookReconciler(Services(venues, InMemoryLocks(lambda: 0.0), InMemoryJournal(), Metrics(),
                                              "test", max_data_age_s=30))
    live = book(mode="Live", exchange={"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}})
    try:
        # The exchange's clock stands still (its tickers keep their stamp) while the cycle's moves on 2 minutes.
        result = await reconciler.reconcile(live, emulated.clock() + timedelta(minutes=2), None, policy())
        conds = conditions(result.status)
        assert conds["Ready"][:2] == ("False", "StaleMarketData") and conds["Degraded"][0] == "True"
        assert not emulated.emu.account(KEY).ord_ids  # nothing sent on old prices
        # Within the bound the same book trades.
        result = await reconciler.reconcile(live, emulated.clock() + timedelta(seconds=10), None, policy())
        assert result.completed is not None and emulated.emu.account(KEY).ord_ids
    finally:
        await venues.close()


def test_the_bound_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings.from_env().max_data_age_seconds == 30.0
    monkeypatch.setenv("HEDGEOPS_MAX_DATA_AGE_SECONDS", "off")
    assert OperatorSettings.from_env().max_data_age_seconds is None
    monkeypatch.setenv("HEDGEOPS_MAX_DATA_AGE_SECONDS", "5s")
    with pytest.raises(ValueError, match="HEDGEOPS_MAX_DATA_AGE_SECONDS"):
        OperatorSettings.from_env()

"""The cycle's Guard under failure (issue 13, finding 5): a cancelled cycle gives its account queue back, the
lease outlives a slow exchange call, and any Redis error mid-cycle (out of memory, read-only) is a condition,
never a traceback with an order already out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.runtime.cycle import Guard, ObjectCycle, Services
from hedgeops.runtime.journal import InMemoryJournal, RedisJournal
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks, Lease, RedisLocks, account_lock_key
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import PaperVenues, paper_account_key

from .conftest import free_port, start_redis
from .runtime_fixtures import START, book, policy

pytestmark = pytest.mark.slow
REF = ExchangeRef(name="okx", account="b1")
KEY = account_lock_key(paper_account_key("default", "okx", "b1"))


class StuckLocks(InMemoryLocks):
    """A lock store whose acquisition never answers (a partitioned Redis before its timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()

    async def acquire(self, key: str, owner: str, ttl_seconds: float) -> Lease | None:
        self.entered.set()
        await asyncio.Event().wait()
        return None


def services(locks: Any, journal: Any = None, ttl: float = 30.0) -> Services:
    return Services(PaperVenues(lambda: START), locks, journal or InMemoryJournal(), Metrics(), "test",
                    lock_ttl_seconds=ttl)


def cycle(s: Services) -> ObjectCycle:
    return ObjectCycle("HedgeBook", "default", "b1", 1, START, s)


async def test_a_cycle_cancelled_while_acquiring_gives_the_account_queue_back() -> None:
    locks = StuckLocks()
    s = services(locks)

    async def run() -> None:
        async with Guard(cycle(s), REF, Mode.PAPER, "default/b1"):
            pass

    task = asyncio.create_task(run())
    await asyncio.wait_for(locks.entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not s.account_queue(KEY).locked()  # the next cycle of this account is not stuck behind a ghost


async def test_the_lease_is_renewed_while_a_slow_call_runs() -> None:
    """TTL 0.3 s, one call of 1 s: without renewal another actor would take the account mid-call."""
    locks = InMemoryLocks()
    s = services(locks, ttl=0.3)
    async with Guard(cycle(s), REF, Mode.PAPER, "default/b1") as g:
        assert g.lease is not None
        await asyncio.sleep(1.0)  # an order create + look-up at the exchange's pace
        assert await locks.acquire(KEY, "someone-else", 30) is None
        assert await locks.still_held(g.lease)
    assert await locks.acquire(KEY, "someone-else", 30) is not None  # released at the end


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[aioredis.Redis]:
    """A redis-server of this test's own: it is driven out of memory."""
    port = free_port()
    proc = start_redis(port, tmp_path)
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        yield client
    finally:
        await client.aclose()
        proc.terminate()
        proc.wait(timeout=10)


async def test_redis_out_of_memory_mid_cycle_is_a_condition_not_a_traceback(own_redis: aioredis.Redis) -> None:
    s = services(RedisLocks(own_redis), RedisJournal(own_redis))
    reconciler = HedgeBookReconciler(s)
    venue = await s.venues.account(REF, Mode.PAPER, "default")
    place = venue.venue.place

    async def place_then_oom(order: Any) -> Any:
        state = await place(order)
        await own_redis.config_set("maxmemory-policy", "noeviction")
        await own_redis.config_set("maxmemory", "1")  # every write from now on: OOM command not allowed
        return state

    venue.venue.place = place_then_oom  # type: ignore[method-assign]
    result = await reconciler.reconcile(book(), START, None, policy())
    conds = {c.type: c for c in result.status.conditions}
    assert conds["Ready"].status.value == "False" and conds["Degraded"].status.value == "True"
    assert conds["Ready"].reason == "LockUnavailable" and "OutOfMemory" in conds["Ready"].message

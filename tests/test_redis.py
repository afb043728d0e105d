"""Locks and journal against a real redis-server: TTL, renewal, fencing tokens, streams."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from hedgeops.runtime.journal import ONCE_TTL_SECONDS, InMemoryJournal, RedisJournal, journal_stream
from hedgeops.runtime.locks import InMemoryLocks, RedisLocks, account_lock_key

KEY = account_lock_key("paper:default:okx:main")


async def test_one_holder_at_a_time_with_growing_fencing_tokens(redis_client: aioredis.Redis) -> None:
    locks = RedisLocks(redis_client)
    a = await locks.acquire(KEY, "op-a", 5)
    assert a is not None
    assert await locks.acquire(KEY, "op-b", 5) is None
    assert await locks.still_held(a)
    await locks.release(a)
    b = await locks.acquire(KEY, "op-b", 5)
    assert b is not None and b.token > a.token
    assert not await locks.still_held(a)  # a's token is stale: a must stop submitting


async def test_ttl_expiry_hands_over_and_fences_the_old_holder(redis_client: aioredis.Redis) -> None:
    locks = RedisLocks(redis_client)
    a = await locks.acquire(KEY, "op-a", 0.2)
    assert a is not None
    await asyncio.sleep(0.35)
    b = await locks.acquire(KEY, "op-b", 5)
    assert b is not None and b.token > a.token
    assert not await locks.renew(a, 5)  # the old holder cannot renew its way back
    assert not await locks.still_held(a)
    await locks.release(a)  # releasing a stale lease must not drop the new holder's lock
    assert await locks.still_held(b)


async def test_renewal_keeps_the_lease(redis_client: aioredis.Redis) -> None:
    locks = RedisLocks(redis_client)
    a = await locks.acquire(KEY, "op-a", 0.3)
    assert a is not None
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await locks.renew(a, 0.3)
    assert await locks.acquire(KEY, "op-b", 5) is None


async def test_in_memory_locks_follow_the_same_contract() -> None:
    t = [0.0]
    locks = InMemoryLocks(lambda: t[0])
    a = await locks.acquire(KEY, "a", 1)
    assert a is not None and await locks.acquire(KEY, "b", 1) is None
    t[0] = 2.0
    b = await locks.acquire(KEY, "b", 1)
    assert b is not None and b.token > a.token and not await locks.still_held(a)


async def test_journal_is_an_ordered_stream(redis_client: aioredis.Redis) -> None:
    journal = RedisJournal(redis_client)
    stream = journal_stream("HedgeBook", "default/jlp")
    for i in range(5):
        await journal.append(stream, {"type": "order", "n": i, "fence": 7})
    entries = await journal.read(stream)
    assert [e["n"] for _, e in entries] == [0, 1, 2, 3, 4]
    assert await redis_client.type(stream) == b"stream"
    assert [e["n"] for _, e in await journal.read(stream, count=2)] == [3, 4]


async def test_a_once_entry_is_journalled_once_per_stream_and_key(redis_client: aioredis.Redis) -> None:
    """The write-once append (a plan's entry re-journalled by a cycle retried after a crash): one script, so the
    marker and the entry land together; the key is per stream, so two books' plans never hide each other."""
    for journal in (RedisJournal(redis_client), InMemoryJournal()):
        a, b = journal_stream("HedgeBook", "ns-a/jlp"), journal_stream("HedgeBook", "ns-b/jlp")
        assert await journal.append_once(a, "plan:p1", {"type": "plan", "n": 1}) is not None
        assert await journal.append_once(a, "plan:p1", {"type": "plan", "n": 2}) is None
        assert await journal.append_once(b, "plan:p1", {"type": "plan", "n": 3}) is not None
        assert await journal.append_once(a, "plan:p2", {"type": "plan", "n": 4}) is not None
        assert [e["n"] for _, e in await journal.read(a)] == [1, 4]
        assert [e["n"] for _, e in await journal.read(b)] == [3]
    ttl = await redis_client.ttl(journal_stream("HedgeBook", "ns-a/jlp") + ":once:plan:p1")
    assert 0 < ttl <= ONCE_TTL_SECONDS  # markers expire: one key per plan must not grow Redis forever


async def test_a_deleted_objects_intents_are_dropped_and_no_one_elses(redis_client: aioredis.Redis) -> None:
    """After a deletion's cancels (runtime/teardown.py): its own intent and its carry pairs' go; the same name's
    other incarnation, a longer name, its journal and a name full of glob characters stay."""
    for journal in (RedisJournal(redis_client), InMemoryJournal()):
        gone = journal_stream("FundingArbitrage", "desk/eth") + ":u1"
        kept = [journal_stream("FundingArbitrage", "desk/eth") + ":u10",  # u1* would have matched it
                journal_stream("FundingArbitrage", "desk/eth2") + ":u1",
                journal_stream("FundingArbitrage", "desk/[e]th*") + ":u1"]
        for stream in (gone, f"{gone}:ETH-USDT-SWAP", f"{gone}:grid", *kept):
            await journal.write_intent(stream, {"seq": 1})
        await journal.append(gone, {"type": "plan"})
        assert await journal.drop_intents(gone) == 3
        assert all([await journal.read_intent(s) is None for s in (gone, f"{gone}:ETH-USDT-SWAP", f"{gone}:grid")])
        assert all([await journal.read_intent(s) == {"seq": 1} for s in kept])
        assert len(await journal.read(gone)) == 1  # the journal is history: kept
        assert await journal.drop_intents(journal_stream("FundingArbitrage", "desk/[e]th*") + ":u1") == 1
        assert await journal.drop_intents(gone) == 0


async def test_more_cycles_than_connections_wait_their_turn_rather_than_fail(redis_url: str) -> None:
    """The operator's client (runtime/app.redis_for): 500 books cycling at once on one process took more than
    redis-py's default 100 pooled connections, and the 101st command failed at once (MaxConnectionsError), one cycle
    in ten as LockUnavailable. Its pool makes the rest wait for a connection instead."""
    from hedgeops.runtime.app import REDIS_CONNECTIONS, redis_for

    client = redis_for(redis_url)
    locks = RedisLocks(client)

    async def cycle(i: int) -> bool:
        lease = await locks.acquire(account_lock_key(f"paper:load:okx:{i}"), "op", 5)
        assert lease is not None
        await asyncio.sleep(0.05)  # all 500 hold a lease at once, as the operator's cycles do
        return await locks.renew(lease, 5)

    try:
        results = await asyncio.gather(*(cycle(i) for i in range(REDIS_CONNECTIONS * 5)))
        assert all(results)
    finally:
        await client.aclose()

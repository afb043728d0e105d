"""Account locks with fencing tokens: no two actors ever trade one account at once.

A lease carries a token that grows with every acquisition; before every order the holder checks that
its token is still the current one, so a holder that lost its lease (GC pause, partition) stops."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True)
class Lease:
    """A held lock: key, owner and fencing token."""

    key: str
    owner: str
    token: int

    @property
    def value(self) -> str:
        return f"{self.owner}:{self.token}"


class AccountLocks(Protocol):
    store: str  # "redis", "memory": the lock store's label on hedgeops_lock_store_up

    async def acquire(self, key: str, owner: str, ttl_seconds: float) -> Lease | None: ...

    async def renew(self, lease: Lease, ttl_seconds: float) -> bool: ...

    async def still_held(self, lease: Lease) -> bool: ...

    async def release(self, lease: Lease) -> None: ...


def account_lock_key(account: str) -> str:
    """The lock of one account identity (see runtime/venues.py: paper per namespace, live per API key)."""
    return f"hedgeops:lock:{account}"


class InMemoryLocks:
    """Locks for one process (local mode, tests)."""

    store = "memory"

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, *, renews: bool = True) -> None:
        self._time = monotonic
        # False for a clock that never moves (a simulated run's): a lease then never lapses, and a cycle need not
        # keep renewing it (a task per cycle, a backtest's hot path).
        self.renews = renews
        self._held: dict[str, tuple[str, int, float]] = {}
        self._fence: dict[str, int] = {}

    async def acquire(self, key: str, owner: str, ttl_seconds: float) -> Lease | None:
        now = self._time()
        held = self._held.get(key)
        if held is not None and held[2] > now and held[0] != owner:
            return None
        token = self._fence.get(key, 0) + 1
        self._fence[key] = token
        self._held[key] = (owner, token, now + ttl_seconds)
        return Lease(key, owner, token)

    async def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        if not await self.still_held(lease):
            return False
        self._held[lease.key] = (lease.owner, lease.token, self._time() + ttl_seconds)
        return True

    async def still_held(self, lease: Lease) -> bool:
        held = self._held.get(lease.key)
        return held is not None and held[:2] == (lease.owner, lease.token) and held[2] > self._time()

    async def release(self, lease: Lease) -> None:
        if await self.still_held(lease):
            del self._held[lease.key]


# KEYS[1] lock, KEYS[2] fence counter; ARGV[1] owner, ARGV[2] ttl ms. Re-entrant for the same owner.
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. ':' then return nil end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLocks:
    """Locks shared by every operator process on one Redis (SET PX + a fencing counter, in Lua)."""

    store = "redis"

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self, key: str, owner: str, ttl_seconds: float) -> Lease | None:
        token = await self._acquire(keys=[key, key + ":fence"], args=[owner, int(ttl_seconds * 1000)])
        return None if token is None else Lease(key, owner, int(token))

    async def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        return bool(await self._renew(keys=[lease.key], args=[lease.value, int(ttl_seconds * 1000)]))

    async def still_held(self, lease: Lease) -> bool:
        current = await self.redis.get(lease.key)
        if isinstance(current, bytes):
            current = current.decode()
        return bool(current == lease.value)

    async def release(self, lease: Lease) -> None:
        await self._release(keys=[lease.key], args=[lease.value])

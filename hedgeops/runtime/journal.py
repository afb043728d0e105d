"""The journal: every plan, order, fill, cancel and failure, in order, with the fencing token."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Protocol

import redis.asyncio as aioredis

MAXLEN = 100_000  # per stream; Redis trims approximately
ONCE_TTL_SECONDS = 30 * 86_400  # how long a once-only entry's marker is kept: far beyond any retry of its plan

# The marker and the entry in one step: a process killed between the two can neither lose the entry nor leave a
# marker that hides it from the retry.
_APPEND_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1])
end
return false
"""


def journal_stream(kind: str, key: str) -> str:
    """Stream name for one object, `key` being namespace/name."""
    return f"hedgeops:journal:{kind.lower()}:{key}"


class Journal(Protocol):
    """Append-only entries per object, plus one write-ahead intent per object: what a cycle is about to send,
    written before the first order so that a process killed mid-plan leaves the plan for the next one."""

    async def append(self, stream: str, entry: dict[str, Any]) -> str: ...

    async def append_once(self, stream: str, once: str, entry: dict[str, Any]) -> str | None:
        """Append unless an entry under the same `once` key was appended to this stream before (None then): a
        cycle retried after a crash re-journals nothing it journalled already (a plan, a bypassed approval)."""
        ...

    async def read(self, stream: str, count: int = 1000) -> list[tuple[str, dict[str, Any]]]: ...

    async def write_intent(self, stream: str, intent: dict[str, Any]) -> None: ...

    async def read_intent(self, stream: str) -> dict[str, Any] | None: ...

    async def drop_intents(self, stream: str) -> int:
        """Delete the intent under `stream` and those under `stream:<part>` (a carry's per-pair ones): an object
        gone for good leaves none behind. Returns how many were deleted."""
        ...


def _under(stream: str, key: str) -> bool:
    return key == stream or key.startswith(stream + ":")


class InMemoryJournal:
    """A journal for one process (local mode, tests)."""

    def __init__(self) -> None:
        self.streams: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self.intents: dict[str, dict[str, Any]] = {}
        self.once: set[tuple[str, str]] = set()

    async def append(self, stream: str, entry: dict[str, Any]) -> str:
        entries = self.streams[stream]
        entry_id = f"{len(entries) + 1}-0"
        entries.append((entry_id, json.loads(json.dumps(entry, default=str))))
        return entry_id

    async def append_once(self, stream: str, once: str, entry: dict[str, Any]) -> str | None:
        if (stream, once) in self.once:
            return None
        self.once.add((stream, once))
        return await self.append(stream, entry)

    async def read(self, stream: str, count: int = 1000) -> list[tuple[str, dict[str, Any]]]:
        return self.streams.get(stream, [])[-count:]

    async def write_intent(self, stream: str, intent: dict[str, Any]) -> None:
        self.intents[stream] = json.loads(json.dumps(intent, default=str))

    async def read_intent(self, stream: str) -> dict[str, Any] | None:
        return self.intents.get(stream)

    async def drop_intents(self, stream: str) -> int:
        gone = [key for key in self.intents if _under(stream, key)]
        for key in gone:
            del self.intents[key]
        return len(gone)


class RedisJournal:
    """A Redis stream per object; each entry is one JSON document under the field `e`."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    async def append(self, stream: str, entry: dict[str, Any]) -> str:
        entry_id = await self.redis.xadd(stream, {"e": json.dumps(entry, default=str)}, maxlen=MAXLEN,
                                         approximate=True)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def append_once(self, stream: str, once: str, entry: dict[str, Any]) -> str | None:
        entry_id = await self.redis.eval(_APPEND_ONCE, 2, stream, f"{stream}:once:{once}",
                                         json.dumps(entry, default=str), ONCE_TTL_SECONDS, MAXLEN)
        if entry_id is None:
            return None
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def read(self, stream: str, count: int = 1000) -> list[tuple[str, dict[str, Any]]]:
        rows: list[Any] = list(await self.redis.xrevrange(stream, count=count) or [])
        out: list[tuple[str, dict[str, Any]]] = []
        for entry_id, fields in reversed(rows):
            raw = (fields or {}).get(b"e") or (fields or {}).get("e") or "{}"
            out.append((entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id), json.loads(raw)))
        return out

    async def write_intent(self, stream: str, intent: dict[str, Any]) -> None:
        await self.redis.set(stream + ":intent", json.dumps(intent, default=str))

    async def read_intent(self, stream: str) -> dict[str, Any] | None:
        raw = await self.redis.get(stream + ":intent")
        return None if raw is None else dict(json.loads(raw))

    async def drop_intents(self, stream: str) -> int:
        # SCAN, not KEYS: one deletion must not block a Redis shared with every other object's cycles. The pattern
        # is escaped (a name may hold no glob characters today, but the stream is not ours to assume).
        pattern = _glob_escaped(stream) + ":*intent"
        keys = [key async for key in self.redis.scan_iter(match=pattern, count=500)]
        mine = [key for key in keys
                if _text(key).endswith(":intent") and _under(stream, _text(key).removesuffix(":intent"))]
        return int(await self.redis.delete(*mine)) if mine else 0


def _glob_escaped(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _text(key: Any) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)

"""Token buckets by key (the webhook's rate limit per source and book, the desk's journal budget per book)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 10_000  # about a megabyte; past it the least recently seen key is forgotten


class TokenBuckets:
    """`per_minute` tokens a minute per key with bursts up to `burst`. A forgotten key starts again with a full
    bucket: a spray of keys can only make the limit looser for the evicted, never grow memory."""

    def __init__(self, per_minute: float, burst: int, max_keys: int = MAX_KEYS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("per_minute must be positive, burst and max_keys at least 1")
        self.rate, self.burst, self.max_keys = per_minute / 60, float(burst), max_keys
        self.monotonic = monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Take one token: 0 when the request may go on, else the seconds until the next token."""
        now = self.monotonic()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)  # most recently seen last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

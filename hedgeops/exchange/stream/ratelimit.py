"""Pacing of the socket's order operations to the exchange's published limits.

OKX documents its websocket order ops as N requests per 2-second window (`order` and `cancel-order`: 60 per 2 s per
instrument; `batch-orders`: 300 orders). ccxt's own limiter is a leaky bucket whose refill clock starts when its
queue does: the first request after an idle spell waits a whole interval (110 ms on OKX) however long the idle was,
so every emergency order paid it. This one is a sliding window: at most `limit` sends in any `window_s` seconds of
ours (so in any window of the exchange's), a send under the limit goes at once, one over it waits for the oldest to
leave the window. Kept account-wide (stricter than per instrument)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

OKX_ORDER_OPS = (60, 2.0)  # OKX v5 websocket `order`/`cancel-order`: 60 requests per 2 s


class WindowLimit:
    def __init__(self, limit: int, window_s: float, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a window limit needs limit >= 1 and window_s > 0")
        self.limit, self.window_s = limit, window_s
        self._time, self._sleep = monotonic, sleep
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.waited_s = 0.0  # total time sends waited (the limit actually biting)

    async def acquire(self) -> None:
        """Return when one more send stays within the limit, and count it as sent now."""
        async with self._lock:  # FIFO: sends leave in the order they asked
            while True:
                now = self._time()
                while self._sent and self._sent[0] <= now - self.window_s:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.window_s - now
                self.waited_s += wait
                await self._sleep(wait)

"""The socket's order pacing (exchange/stream/ratelimit.py): OKX's N-per-2-s windows kept, and no wait under them
(ccxt's leaky bucket made the first order after any idle spell wait 110 ms)."""

from __future__ import annotations

import pytest

from hedgeops.exchange.stream.ratelimit import OKX_ORDER_OPS, WindowLimit


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_sends_under_the_limit_never_wait_and_one_over_waits_for_the_oldest_to_leave() -> None:
    t = FakeTime()
    limit = WindowLimit(*OKX_ORDER_OPS, monotonic=t, sleep=t.sleep)
    for _ in range(60):
        await limit.acquire()
        t.now += 0.001  # 60 in 60 ms
    assert t.slept == []
    await limit.acquire()  # the 61st within the window waits until the first is 2 s old
    assert t.slept == [pytest.approx(2.0 - 0.060)]
    sends = [100.0 + i * 0.001 for i in range(60)] + [t.now]
    # In any 2 s window at most 60 sends.
    assert all(sum(1 for s in sends if w <= s < w + 2.0) <= 60 for w in sends)


async def test_after_an_idle_spell_a_send_goes_at_once() -> None:
    t = FakeTime()
    limit = WindowLimit(60, 2.0, monotonic=t, sleep=t.sleep)
    await limit.acquire()
    t.now += 0.3  # idle: ccxt's bucket would make this one wait its whole 110 ms interval
    await limit.acquire()
    t.now += 5
    await limit.acquire()
    assert t.slept == [] and limit.waited_s == 0


def test_a_limit_must_allow_something() -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        WindowLimit(0, 2.0)

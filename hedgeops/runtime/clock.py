"""Clocks. The engine never reads one; the runtime asks the clock it was given."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    """Real time, UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimClock:
    """Simulated time that only moves when told to (local mode, backtests, tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at


class ReplayClock:
    """Wall time mapped onto replayed history: `start` plus elapsed wall time × `speed`. Lets the
    operator trade Paper books on real history while running in real time (speed 1) or faster."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self.start = start
        self.speed = speed
        self._wall0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._wall0) * self.speed)

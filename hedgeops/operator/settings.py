"""Operator settings from the environment (the Helm chart sets them)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class OperatorSettings:
    """HEDGEOPS_* environment variables, with safe defaults."""

    redis_url: str | None  # unset: in-process locks and journal (one replica only)
    metrics_port: int
    metrics_addr: str
    tick_seconds: float  # how often each book's timer wakes to see whether its policy interval is due
    replay_start: datetime | None  # Paper books replay history from here (default: the data's start)
    replay_speed: float  # simulated seconds per wall second for Paper books
    identity: str

    @classmethod
    def from_env(cls) -> OperatorSettings:
        start = os.environ.get("HEDGEOPS_REPLAY_START")
        parsed = datetime.fromisoformat(start) if start else None
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return cls(
            redis_url=os.environ.get("HEDGEOPS_REDIS_URL") or None,
            metrics_port=int(os.environ.get("HEDGEOPS_METRICS_PORT", "9108")),
            metrics_addr=os.environ.get("HEDGEOPS_METRICS_ADDR", "0.0.0.0"),
            tick_seconds=float(os.environ.get("HEDGEOPS_TICK_SECONDS", "5")),
            replay_start=parsed,
            replay_speed=float(os.environ.get("HEDGEOPS_REPLAY_SPEED", "1")),
            identity=os.environ.get("HEDGEOPS_IDENTITY") or f"{socket.gethostname()}-{os.getpid()}",
        )

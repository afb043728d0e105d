"""Operator settings from the environment (the Helm chart sets them)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hedgeops.operator.ha import LeaseTiming, lease_path
from hedgeops.operator.ratelimit import parse_networks


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
    webhook_port: int | None = 8081  # TradingView webhook (8080 is the liveness probe); None: off
    webhook_addr: str = "0.0.0.0"
    lock_ttl_seconds: float = 30.0  # an account lock left by a dead process is free again after this
    prices: str = "replay"  # Paper books on replayed history ("replay") or on the exchanges' live prices ("live")
    live_trading: bool = False  # Live books may send real orders (needs prices "live": one clock, the wall's)
    exchange_urls: dict[str, str] = field(default_factory=dict)  # exchange id -> base URL (emulator, gateway)
    # Http holdings may fetch loopback, private, link-local (cloud metadata) addresses: off, as any book's author
    # could otherwise read what only the operator's pod can reach.
    http_holdings_allow_private: bool = False
    webhook_trusted_proxies: str = ""  # CIDRs of the Ingress: their X-Forwarded-For names the webhook's client
    namespace: str = "hedgeops"  # the operator's own: a halt ConfigMap here halts every namespace's objects
    # Market data older than this (on the cycle's clock, beyond a replay's bar) stops a cycle; None: unchecked.
    max_data_age_seconds: float | None = 30.0
    # Active/standby (operator/ha.py): only the holder of this Lease in `namespace` runs the cycles. Off: every
    # replica runs them (the account locks still serialise each account).
    leader_election: bool = True
    lease_name: str = "hedgeops-operator"
    lease_duration_seconds: float = 15.0  # a dead leader's Lease is taken over after this (client-go's default)
    lease_renew_deadline_seconds: float = 10.0  # a leader that could not renew for this long stops starting cycles
    lease_retry_seconds: float = 2.0  # how often the leader renews and the standby looks

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
            prices=os.environ.get("HEDGEOPS_PRICES", "replay"),
            live_trading=os.environ.get("HEDGEOPS_LIVE_TRADING", "false").lower() in ("1", "true", "yes"),
            exchange_urls=_urls(os.environ.get("HEDGEOPS_EXCHANGE_URLS", "")),
            webhook_port=_port(os.environ.get("HEDGEOPS_WEBHOOK_PORT", "8081")),
            webhook_addr=os.environ.get("HEDGEOPS_WEBHOOK_ADDR", "0.0.0.0"),
            lock_ttl_seconds=float(os.environ.get("HEDGEOPS_LOCK_TTL_SECONDS", "30")),
            http_holdings_allow_private=os.environ.get("HEDGEOPS_HTTP_HOLDINGS_ALLOW_PRIVATE", "false").lower()
            in ("1", "true", "yes"),
            max_data_age_seconds=_seconds_or_off("HEDGEOPS_MAX_DATA_AGE_SECONDS", "30"),
            namespace=os.environ.get("HEDGEOPS_NAMESPACE") or "hedgeops",
            webhook_trusted_proxies=os.environ.get("HEDGEOPS_WEBHOOK_TRUSTED_PROXIES", ""),
            leader_election=_switch("HEDGEOPS_LEADER_ELECTION", "true"),
            lease_name=os.environ.get("HEDGEOPS_LEASE_NAME") or "hedgeops-operator",
            lease_duration_seconds=_seconds("HEDGEOPS_LEASE_DURATION_SECONDS", "15"),
            lease_renew_deadline_seconds=_seconds("HEDGEOPS_LEASE_RENEW_DEADLINE_SECONDS", "10"),
            lease_retry_seconds=_seconds("HEDGEOPS_LEASE_RETRY_SECONDS", "2"),
        )

    @property
    def lease_timing(self) -> LeaseTiming:
        return LeaseTiming(self.lease_duration_seconds, self.lease_renew_deadline_seconds, self.lease_retry_seconds)

    def problems(self) -> list[str]:
        """Settings that cannot work together, in words for the start-up log."""
        out = []
        if self.prices not in ("replay", "live"):
            out.append(f"HEDGEOPS_PRICES must be replay or live, not {self.prices!r}")
        if self.live_trading and self.prices != "live":
            out.append("HEDGEOPS_LIVE_TRADING=true needs HEDGEOPS_PRICES=live (Live books run on the wall clock)")
        if not 1 <= self.lock_ttl_seconds <= 600:
            out.append(f"HEDGEOPS_LOCK_TTL_SECONDS must be within 1..600, not {self.lock_ttl_seconds}")
        if self.max_data_age_seconds is not None and not 1 <= self.max_data_age_seconds <= 3600:
            out.append(f"HEDGEOPS_MAX_DATA_AGE_SECONDS must be within 1..3600 or off, not {self.max_data_age_seconds}")
        if self.leader_election:
            out += self.lease_timing.problems()
            try:
                lease_path(self.namespace, self.lease_name)
            except ValueError as exc:
                out.append(f"HEDGEOPS_NAMESPACE / HEDGEOPS_LEASE_NAME: {exc}")
        try:
            parse_networks(self.webhook_trusted_proxies)
        except ValueError as exc:
            out.append(str(exc))
        return out


def _switch(name: str, default: str) -> bool:
    raw = os.environ.get(name, default).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: {raw!r} is not true or false")


def _seconds(name: str, default: str) -> float:
    raw = os.environ.get(name, default).strip()
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number of seconds") from None


def _seconds_or_off(name: str, default: str) -> float | None:
    raw = os.environ.get(name, default).strip().lower()
    if raw in ("off", "false", "none"):
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number of seconds (or off)") from None


def _urls(raw: str) -> dict[str, str]:
    """`okx=http://127.0.0.1:8443,binance=https://gateway` -> {"okx": ..., "binance": ...}."""
    out = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, url = part.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise ValueError(f"HEDGEOPS_EXCHANGE_URLS: expected name=url, got {part!r}")
        out[name.strip()] = url.strip()
    return out


def _port(raw: str) -> int | None:
    if raw.strip().lower() in ("", "off", "false", "none"):
        return None
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(f"HEDGEOPS_WEBHOOK_PORT: {raw!r} is not a port")
    return port

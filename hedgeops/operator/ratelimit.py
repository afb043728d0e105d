"""A token bucket per source address for the webhook: a scanner or a flood from one source is answered 429
before it costs an API-server read, and the map of sources stays bounded however many sources there are."""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PER_MINUTE = 30  # far above any real alert rate for one source (TradingView sends a few per bar)
BURST = 30  # one alert per book fired on the same bar arrives together
MAX_SOURCES = 10_000  # about a megabyte; past it the least recently seen source is forgotten


class SourceLimiter:
    """`PER_MINUTE` requests a minute per source with bursts up to `BURST`. A forgotten source starts again
    with a full bucket: a spray of sources can only make the limit looser for the evicted, never grow memory."""

    def __init__(self, per_minute: float = PER_MINUTE, burst: int = BURST, max_sources: int = MAX_SOURCES,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1 or max_sources < 1:
            raise ValueError("per_minute must be positive, burst and max_sources at least 1")
        self.rate, self.burst, self.max_sources = per_minute / 60, float(burst), max_sources
        self.monotonic = monotonic
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # source -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, source: str) -> float:
        """Take one token: 0 when the request may go on, else the seconds until the next token."""
        now = self.monotonic()
        tokens, at = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[source] = (tokens - 1 if wait == 0 else tokens, now)  # most recently seen last
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return wait


def parse_networks(raw: str) -> list[Network]:
    """`10.0.0.0/8, 192.168.1.7` -> networks (a bare address is a /32 or /128); ValueError naming the bad one."""
    out: list[Network] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"HEDGEOPS_WEBHOOK_TRUSTED_PROXIES: {part!r} is not an address or CIDR") from None
    return out


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(remote: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """Who sent the request, for the rate limit. Only a peer among `proxies` (the Ingress) is believed about
    X-Forwarded-For, and then only the rightmost address that is not itself a trusted proxy: everything left of
    it was written by the client and can be anything."""
    peer = remote or "unknown"
    if not proxies or not forwarded_for or not _trusted(peer, proxies):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        if not hop:
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a hop our proxy would never write: do not let it pick the bucket
        if not _trusted(hop, proxies):
            return hop
    return peer

"""The webhook's rate limit: a token bucket per (source address, book), so a scanner or a flood from one source is
answered 429 before it costs an API-server read, one book's flood never uses up another tenant's alerts (every
TradingView alert arrives from the same few addresses), and the map of buckets stays bounded."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence

from hedgeops.runtime.buckets import MAX_KEYS, TokenBuckets

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PER_MINUTE = 30  # far above any real alert rate for one book (TradingView sends a few per bar)
BURST = 30  # every alert of one book fired on the same bar arrives together


class SourceLimiter(TokenBuckets):
    """The webhook's buckets, keyed by source and book (webhook.py): 30 a minute in bursts of 30 by default."""

    def __init__(self, per_minute: float = PER_MINUTE, burst: int = BURST, max_sources: int = MAX_KEYS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(per_minute, burst, max_sources, monotonic)


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

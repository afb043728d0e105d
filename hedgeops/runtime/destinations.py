"""Which addresses an HTTP fetch the user configures (Http holdings) may reach: public ones only, unless the
operator allows private ones. Without this a book's URL reads the cloud metadata service (node credentials),
the Kubernetes API or Redis from inside the cluster and reports what it found in the book's status."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

ALLOW_SETTING = "HEDGEOPS_HTTP_HOLDINGS_ALLOW_PRIVATE"


class DestinationRefused(Exception):
    """An address the fetch may not reach; the message says which and why."""


def refusal(address: str) -> str | None:
    """Why `address` (an IP, as a socket sees it) is not public; None when it is."""
    try:  # numeric forms only (no DNS): "127.1" and "0x7f.1" are loopback to the kernel, so they are here too
        canonical = socket.getaddrinfo(address, None, flags=socket.AI_NUMERICHOST)[0][4][0]
        ip = ipaddress.ip_address(str(canonical))
    except (OSError, ValueError):
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL:
            return "a local-use NAT64 address (RFC 8215: it reaches whatever the network's translator maps it to)"
        embedded = embedded_ipv4(ip)
        if embedded is not None:  # the IPv4 address it reaches through a translator is what it is
            why = refusal(str(embedded))
            return None if why is None else f"{why} (as {ip}, which reaches {embedded})"
    for test, why in ((ip.is_unspecified, "unspecified"), (ip.is_loopback, "loopback"),
                      (ip.is_link_local, "link-local (the cloud metadata service lives there)"),
                      (ip.is_multicast, "multicast"), (ip.is_private, "private")):
        if test:
            return why
    return None if ip.is_global else "not a public address"


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix: the IPv4 address in its last 32 bits
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a network's own translators, to anywhere it likes


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d,
    which a cluster's NAT64 gateway forwards to a.b.c.d), 6to4 (2002:AABB:CCDD::) and Teredo."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _refuse(host: str, address: str, why: str) -> DestinationRefused:
    shown = address if host == address else f"{host} resolves to {address}, which"
    return DestinationRefused(f"{shown} is {why}: refused (set {ALLOW_SETTING}=true to allow private addresses)")


class PublicResolver(AbstractResolver):
    """Resolves a name and refuses it when any of its addresses is not public (a name pointing at 10.x or at
    127.0.0.1 is as dangerous as the address)."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            why = refusal(result["host"])
            if why is not None:
                raise _refuse(host, result["host"], why)
        return found

    async def close(self) -> None:
        await self._inner.close()


def _public_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """The socket for one connection attempt, made only for a public address. This is the address the connection
    is made to, so nothing (an IP literal aiohttp does not resolve, a second DNS answer) gets past it."""
    family, kind, proto, _, sockaddr = addr_info
    why = refusal(str(sockaddr[0]))
    if why is not None:
        raise _refuse(str(sockaddr[0]), str(sockaddr[0]), why)
    return socket.socket(family, kind, proto)


def connector(allow_private: bool) -> aiohttp.TCPConnector:
    """A connector that reaches public addresses only, or anything when private ones are allowed (socket_factory
    needs aiohttp 3.12)."""
    if allow_private:
        return aiohttp.TCPConnector()
    return aiohttp.TCPConnector(resolver=PublicResolver(), socket_factory=_public_socket, use_dns_cache=False)

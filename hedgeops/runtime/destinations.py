"""Which addresses an HTTP fetch the user configures (Http holdings) may reach: public ones only, unless the
operator allows private ones (RFC 1918 and unique-local IPv6, nothing else). Without this a book's URL reads the
cloud metadata service (node credentials), the Kubernetes API or Redis from inside the cluster and reports what
it found in the book's status. Loopback (the operator's own ports), link-local (the metadata service),
unspecified, multicast and the metadata addresses are refused whatever the operator allows; only local mode,
which runs the user's own files on the user's machine, may reach loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

ALLOW_SETTING = "HEDGEOPS_HTTP_HOLDINGS_ALLOW_PRIVATE"


class DestinationRefused(Exception):
    """An address the fetch may not reach; the message says which and why."""


def refusal(address: str, allow_private: bool = False, allow_loopback: bool = False) -> str | None:
    """Why `address` (an IP, as a socket sees it) may not be reached; None when it may. Public addresses may be;
    RFC 1918 and unique-local ones too when `allow_private`; loopback only when `allow_loopback` (local mode).
    Link-local, unspecified, multicast and the cloud metadata addresses never may."""
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
            why = refusal(str(embedded), allow_private, allow_loopback)
            return None if why is None else f"{why} (as {ip}, which reaches {embedded})"
        if ip in IPV4_COMPATIBLE and not (ip.is_unspecified or ip.is_loopback):
            return "an IPv4-compatible address (deprecated, RFC 4291: it may reach the IPv4 address it carries)"
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    for test, why in ((ip.is_unspecified, "unspecified"),
                      (ip.is_link_local, "link-local (the cloud metadata service lives there)"),
                      (ip.is_multicast, "multicast"),
                      (any(ip in net for net in METADATA), "a cloud instance-services address (metadata, DNS, time)")):
        if test:
            return why
    if any(ip in net for net in PRIVATE):
        return None if allow_private else PRIVATE_WHY
    return None if ip.is_global else "not a public address"


PRIVATE_WHY = "private"
# What the operator's setting allows, and nothing more: RFC 1918, the shared address space (RFC 6598, 100.64/10:
# pod networks such as EKS custom networking and overlay VPNs use it for in-cluster services) and unique-local IPv6
# (RFC 4193). Alibaba Cloud's metadata address inside 100.64/10 stays refused (METADATA is checked first).
PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                                  "fc00::/7"))
# Instance services outside link-local: AWS's IPv6 metadata, DNS and time (fd00:ec2::254, ::253, ::123: unique-local,
# so "private" would let them through) and Alibaba Cloud's metadata service (100.100.100.200).
METADATA = (ipaddress.ip_network("fd00:ec2::/48"), ipaddress.ip_network("100.100.100.200/32"))
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
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
    hint = (f"set {ALLOW_SETTING}=true to allow private addresses" if why.startswith(PRIVATE_WHY) else
            f"always, whatever {ALLOW_SETTING} says: it allows private addresses only")
    return DestinationRefused(f"{shown} is {why}: refused ({hint})")


class PublicResolver(AbstractResolver):
    """Resolves a name and refuses it when any of its addresses may not be reached (a name pointing at 10.x or
    at 127.0.0.1 is as dangerous as the address)."""

    def __init__(self, allow_private: bool = False, allow_loopback: bool = False) -> None:
        self._inner = ThreadedResolver()
        self.allow_private, self.allow_loopback = allow_private, allow_loopback

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            why = refusal(result["host"], self.allow_private, self.allow_loopback)
            if why is not None:
                raise _refuse(host, result["host"], why)
        return found

    async def close(self) -> None:
        await self._inner.close()


def _checked_socket(allow_private: bool, allow_loopback: bool) -> Callable[[tuple[Any, ...]], socket.socket]:
    """The socket factory: a socket for one connection attempt, made only for an address that may be reached.
    This is the address the connection is made to, so nothing (an IP literal aiohttp does not resolve, a second
    DNS answer) gets past it."""

    def make(addr_info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        why = refusal(str(sockaddr[0]), allow_private, allow_loopback)
        if why is not None:
            raise _refuse(str(sockaddr[0]), str(sockaddr[0]), why)
        return socket.socket(family, kind, proto)

    return make


def connector(allow_private: bool, allow_loopback: bool = False) -> aiohttp.TCPConnector:
    """A connector that reaches public addresses only, and private ones (RFC 1918, unique-local) when the operator
    allows them; loopback only for local mode. Every mode checks each resolved address and each connection's
    address (socket_factory needs aiohttp 3.12)."""
    return aiohttp.TCPConnector(resolver=PublicResolver(allow_private, allow_loopback),
                                socket_factory=_checked_socket(allow_private, allow_loopback), use_dns_cache=False)

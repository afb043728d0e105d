"""Holdings from a JSON endpoint (source Http): fetched at most every `refreshSeconds`, read by dotted paths.
A failed fetch fails the cycle (HoldingsUnavailable): a book never trades on holdings it could not read. Only
public addresses are fetched unless the operator allows private ones (RFC 1918, unique-local: never loopback,
link-local or the metadata service; loopback in local mode only), and redirects are not followed."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

import aiohttp

from hedgeops.api.hedgebook import HttpHoldings
from hedgeops.engine.hedge.held import HoldingsUnavailable
from hedgeops.engine.hedge.holdings import HoldingsDocumentError, units_from_document
from hedgeops.runtime.destinations import DestinationRefused, connector

MAX_BYTES = 1 << 20


UNPARSEABLE = "a URL that does not parse"


def _where(url: str) -> str:
    """The URL without its query or credentials: those may carry tokens, which never reach status or events. A
    URL that does not parse (`http://[::1`) is not shown at all: its parts cannot be told apart."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL", a netloc that NFKC-normalises into a separator...
        return UNPARSEABLE
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    try:
        port = parts.port
    except ValueError:  # out of range or not a number: said, never a traceback
        port = None
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"


class HttpHoldingsSource:
    """Fetches and caches each endpoint's units; the cache is keyed by URL and paths, aged on the cycle's clock."""

    def __init__(self, timeout_s: float = 5.0, allow_private: bool = False, allow_loopback: bool = False) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private  # RFC 1918 and unique-local: off unless the operator says so
        self.allow_loopback = allow_loopback  # local mode's own machine only: the operator never reaches loopback
        self._cache: dict[str, tuple[datetime, dict[str, Decimal]]] = {}
        self.fetches = 0

    async def units(self, source: HttpHoldings, now: datetime) -> dict[str, Decimal]:
        key = json.dumps([source.url, source.paths], sort_keys=True)
        hit = self._cache.get(key)
        if hit is not None and 0 <= (now - hit[0]).total_seconds() < source.refreshSeconds:
            return hit[1]
        doc = await self._get(source.url)
        try:
            units = units_from_document(doc, source.paths)
        except HoldingsDocumentError as exc:
            raise HoldingsUnavailable(f"holdings from {_where(source.url)}: {exc}") from None
        self._cache[key] = (now, units)
        return units

    async def _get(self, url: str) -> object:
        self.fetches += 1
        where = _where(url)
        if where == UNPARSEABLE:  # aiohttp would refuse it too; said here, never a traceback
            raise HoldingsUnavailable(f"holdings from {where}: check spec.holdings.http.url")
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                                             connector=connector(self.allow_private, self.allow_loopback)
                                             ) as session, \
                    session.get(url, headers={"Accept": "application/json"}, allow_redirects=False) as response:
                if 300 <= response.status < 400:  # the next hop could be anywhere: give the final URL instead
                    raise HoldingsUnavailable(f"holdings from {where}: HTTP {response.status}, a redirect "
                                              "(not followed: give the final URL)")
                if response.status != 200:
                    raise HoldingsUnavailable(f"holdings from {where}: HTTP {response.status}")
                body = await response.content.read(MAX_BYTES + 1)
        except DestinationRefused as exc:
            raise HoldingsUnavailable(f"holdings from {where}: {exc}") from None
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            # The class only: aiohttp's text repeats the whole URL, its query and credentials with it.
            raise HoldingsUnavailable(f"holdings from {where}: {type(exc).__name__}") from None
        if len(body) > MAX_BYTES:
            raise HoldingsUnavailable(f"holdings from {where}: the document is over {MAX_BYTES} bytes")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: `[[[[…` nested past Python's limit
            raise HoldingsUnavailable(f"holdings from {where}: the answer is not JSON") from None

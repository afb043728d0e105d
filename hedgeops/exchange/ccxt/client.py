"""Building one ccxt.async_support client for one exchange account: credentials, sandbox, and an optional
base URL that every endpoint is rewritten to (the emulator, or a user's own gateway)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt

from hedgeops.exchange.venue import FinalVenueError

DEFAULT_TIMEOUT_MS = 10_000


class UnknownExchange(FinalVenueError):
    """ccxt has no exchange with this id."""


@dataclass(frozen=True)
class ApiCredentials:
    """An account's API key, secret and passphrase. repr() shows only the key's first characters."""

    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"ApiCredentials(api_key={self.api_key[:4]}…)"

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str]) -> ApiCredentials:
        """From a Kubernetes Secret's (decoded) keys apiKey, secret and passphrase."""
        missing = [k for k in ("apiKey", "secret") if not data.get(k)]
        if missing:
            raise FinalVenueError(f"credentials Secret lacks {', '.join(missing)}")
        return cls(data["apiKey"], data["secret"], data.get("passphrase", ""))


# The market types ccxt's fetch_markets should ask each venue for (its own vocabulary): OKX's spot and swaps by
# default; Binance USDⓈ-M has only linear perps (ccxt.binance raises on 'swap').
RECV_WINDOW_MS = 5_000
MARKET_TYPES: dict[str, list[str]] = {"binanceusdm": ["linear"]}


def _rewrite(urls: Any, base: str) -> Any:
    """Every URL string in ccxt's nested `urls['api']` moved to `base`, keeping its own path (OKX's is the bare
    host, ccxt adding /api/v5/...; Binance's carry /fapi/v1, /sapi/v1...)."""
    if isinstance(urls, str):
        return base + urlsplit(urls).path.rstrip("/")
    if isinstance(urls, dict):
        return {k: _rewrite(v, base) for k, v in urls.items()}
    return urls


def client_config(exchange_id: str, credentials: ApiCredentials | None, timeout_ms: int,
                  rate_limit: bool) -> dict[str, Any]:
    """One account's ccxt configuration, the same for its REST client and its ccxt.pro one."""
    config: dict[str, Any] = {"enableRateLimit": rate_limit, "timeout": timeout_ms,
                              "options": {"defaultType": "swap",
                                          "fetchMarkets": {"types": MARKET_TYPES.get(exchange_id, ["spot", "swap"])},
                                          # the venue asks for every symbol's open orders in one call, on purpose
                                          "fetchOpenOrders": {"warnWithoutSymbol": False}}}
    if exchange_id in ("binance", "binanceusdm", "binancecoinm"):
        # Binance's advice, and the longest a lost order answer waits before its id may be sent again
        # (venue.CcxtVenue._lost_answer): ccxt's default is 10 s.
        config["options"]["recvWindow"] = RECV_WINDOW_MS
    if credentials is not None:
        config.update(apiKey=credentials.api_key, secret=credentials.secret, password=credentials.passphrase)
    return config


def make_client(exchange_id: str, credentials: ApiCredentials | None = None, *, sandbox: bool = False,
                base_url: str | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS,
                rate_limit: bool = True) -> Any:
    """A ccxt async client. Its rate limiter lives in it, so one account must have exactly one."""
    cls = getattr(ccxt, exchange_id, None)
    if exchange_id not in ccxt.exchanges or cls is None:
        raise UnknownExchange(f"ccxt has no exchange {exchange_id!r}")
    client = cls(client_config(exchange_id, credentials, timeout_ms, rate_limit))
    if sandbox:
        client.set_sandbox_mode(True)
    if base_url is not None:
        client.urls["api"] = _rewrite(client.urls["api"], base_url.rstrip("/"))
        # Currencies come from a private endpoint on most venues; the markets tell us all we need.
        client.has["fetchCurrencies"] = False
        # ccxt.binance picks its USDⓈ-M error table by the request's host (fapi.binance.com): through any other
        # URL a -2019 (margin insufficient) would be a bare ExchangeError, not the refusal the venue acts on.
        linear = client.exceptions.get("linear") if isinstance(client.exceptions, dict) else None
        if exchange_id == "binanceusdm" and linear:
            client.exceptions["exact"].update(linear.get("exact", {}))
    return client

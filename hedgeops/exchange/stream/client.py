"""Building one ccxt.pro client for one exchange account, configured exactly as make_client configures the REST
one (credentials, sandbox, options, the base URL every endpoint is rewritten to), plus its websocket URL: the base
URL's scheme http→ws (https→wss), and for OKX the `/ws/v5` prefix ccxt appends /public, /private to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import ccxt.pro as ccxtpro

from hedgeops.exchange.ccxt.client import (
    DEFAULT_TIMEOUT_MS,
    ApiCredentials,
    UnknownExchange,
    _rewrite,
    client_config,
)

# Where each exchange serves its websockets below a gateway's base URL (the emulator serves OKX's at /ws/v5).
WS_PATHS: dict[str, str] = {"okx": "/ws/v5"}

log = logging.getLogger(__name__)


def ws_url(base_url: str, exchange_id: str) -> str:
    """The websocket base for a REST base URL: http→ws, https→wss, plus the exchange's own prefix."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    return base + WS_PATHS.get(exchange_id, "")


def _rewrite_api(urls: Any, rest_base: str, ws_base: str) -> Any:
    """ccxt.pro's `urls['api']`: its `ws` entries moved to the websocket base, everything else to the REST one."""
    if not isinstance(urls, dict):
        return _rewrite(urls, rest_base)
    out: dict[str, Any] = {}
    for k, v in urls.items():
        if k == "ws":
            # OKX's ws entry is the bare host (ccxt appends /ws/v5/public itself): the base replaces it whole.
            out[k] = ws_base if isinstance(v, str) else _rewrite(v, ws_base)
        else:
            out[k] = _rewrite(v, rest_base)
    return out


def check_pro(exchange_id: str) -> Any:
    """ccxt.pro's class for the exchange; UnknownExchange when it has none."""
    cls = getattr(ccxtpro, exchange_id, None)
    if exchange_id not in getattr(ccxtpro, "exchanges", []) or cls is None:
        raise UnknownExchange(f"ccxt.pro has no exchange {exchange_id!r}")
    return cls


def make_pro_client(exchange_id: str, credentials: ApiCredentials | None = None, *, sandbox: bool = False,
                    base_url: str | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS,
                    rate_limit: bool = True) -> Any:
    """A ccxt.pro client configured as make_client's REST one. Raises UnknownExchange when ccxt.pro lacks it."""
    cls = check_pro(exchange_id)
    client = cls(client_config(exchange_id, credentials, timeout_ms, rate_limit))
    if sandbox:
        client.set_sandbox_mode(True)
    if base_url is not None:
        base = base_url.rstrip("/")
        if exchange_id == "okx":
            client.urls["api"] = {"rest": base, "ws": ws_url(base, exchange_id)}
        else:
            client.urls["api"] = _rewrite_api(client.urls["api"], base, ws_url(base, exchange_id))
        client.has["fetchCurrencies"] = False
    return client


def instrument(client: Any, on_message: Callable[[Any], None], on_subscribed: Callable[[str], None],
               before: Callable[[Any], None] | None = None) -> None:
    """Hook the client's message dispatch (before any connection exists: ccxt binds it per connection): each
    message is shown to `before` as the exchange sent it (ccxt merges an order's pushes into one cached entry, so
    a fill and the cancel after it would read as one update without the fill's stamp) and counted after ccxt has
    applied it, and each subscription acknowledgement names its channel (OKX sends no first push on `orders`, so
    the acknowledgement is what says the channel is live)."""
    original = client.handle_message
    original_ack = getattr(client, "handle_subscription_status", None)

    def handle_message(conn: Any, message: Any) -> Any:
        if before is not None:
            try:
                before(message)
            except Exception:  # a bug of ours must not keep ccxt from the message (its receive loop would stall)
                log.exception("stream message hook failed")
        result = original(conn, message)
        on_message(message)
        return result

    def handle_subscription_status(conn: Any, message: Any) -> Any:
        arg = message.get("arg") if isinstance(message, dict) else None
        if isinstance(arg, dict) and arg.get("channel"):
            on_subscribed(str(arg["channel"]))
        return original_ack(conn, message) if original_ack is not None else message

    client.handle_message = handle_message
    if original_ack is not None:
        client.handle_subscription_status = handle_subscription_status


# OKX v5's websocket trading ops, whose request deadline `expTime` is a field of the op message itself
OKX_TRADE_OPS = frozenset({"order", "batch-orders", "cancel-order", "batch-cancel-orders", "amend-order",
                           "batch-amend-orders"})


def hoist_exp_time(client: Any) -> None:
    """Let an OKX trading op carry `expTime` where OKX reads it, at the top of the op message. ccxt.pro builds the
    message itself and puts params into the op's argument: an `expTime` given in params (create_order_ws,
    cancel_order_ws) is moved from the arguments to the message when it is sent."""
    original = client.watch

    def watch(url: Any, message_hash: Any, message: Any = None, subscribe_hash: Any = None,
              subscription: Any = None) -> Any:
        if isinstance(message, dict) and message.get("op") in OKX_TRADE_OPS and isinstance(message.get("args"), list):
            args = [dict(a) if isinstance(a, dict) else a for a in message["args"]]
            exp = [a.pop("expTime") for a in args if isinstance(a, dict) and "expTime" in a]
            if exp:
                message = {**message, "expTime": str(min(int(e) for e in exp)), "args": args}
        return original(url, message_hash, message, subscribe_hash, subscription)

    client.watch = watch

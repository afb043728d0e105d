"""ccxt's exceptions translated once into the project's own: retryable (the same call may succeed later) or
final (it will not). Nothing ccxt-shaped leaves the exchange room."""

from __future__ import annotations

import re

import ccxt.async_support as ccxt

from hedgeops.exchange.venue import (
    DuplicateClientOrderId,
    FinalVenueError,
    OrderNotFound,
    OrderRejected,
    RetryableVenueError,
    UnknownSymbol,
    VenueAuthError,
    VenueError,
)

# Exchange codes that mean "this client order id exists already" (OKX 51016; Binance USDⓈ-M -4116, spot -2010
# "Duplicate order sent."). ccxt folds them into InvalidOrder, or a bare ExchangeError where a table overrides the
# code, so the code is read from the message ccxt keeps.
_DUPLICATE_MARKERS = ("51016", "Duplicated clOrdId", "Duplicate order sent", "duplicate clientOrderId", '"code":-4116',
                      "ClientOrderId is duplicated")
_MAX_MESSAGE = 300
# OKX answers every refused order with a 51xxx code per row; ccxt maps the common ones to InvalidOrder and leaves
# the rest (51169 reduce-only without a position, ...) as a bare ExchangeError. They are refusals all the same.
_ORDER_ROW_REFUSAL = re.compile(r'"sCode":\s*"51\d{3}"')
# Binance's price-limit refusals (PERCENT_PRICE: -4016 above the band, -4024 below it) reach ccxt as BadRequest:
# an order refused, not a request the venue could not read.
_PRICE_LIMIT = re.compile(r'"code":\s*-40(16|24)\b')


def _message(exc: BaseException) -> str:
    """ccxt's message (exchange id, URL, response body), trimmed. It never holds the key or signature."""
    text = " ".join(str(exc).split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def translate(exc: BaseException) -> VenueError:
    """The project's exception for one raised by ccxt (anything else is returned as a final error)."""
    msg = _message(exc)
    if isinstance(exc, ccxt.NetworkError):  # timeouts, 5xx, maintenance, rate limits, nonce
        err = RetryableVenueError(f"{type(exc).__name__}: {msg}")
        # An answer saying the request was not acted on (429 / OKX 50011, a stale timestamp / 50102 / -1021): an
        # order it carried never executes, so its lost-answer wait is not needed (exchange/ccxt/venue.py).
        err.refused = isinstance(exc, (ccxt.RateLimitExceeded, ccxt.InvalidNonce))
        return err
    if isinstance(exc, ccxt.ExchangeError) and any(m in msg for m in _DUPLICATE_MARKERS):
        return DuplicateClientOrderId(msg)
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(msg)
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbol(msg)
    if isinstance(exc, (ccxt.InvalidOrder, ccxt.InsufficientFunds)) or _ORDER_ROW_REFUSAL.search(str(exc)) \
            or _PRICE_LIMIT.search(str(exc)):
        return OrderRejected(f"{type(exc).__name__}: {msg}")
    if isinstance(exc, ccxt.AuthenticationError):
        return VenueAuthError(f"{type(exc).__name__}: {msg}")
    if isinstance(exc, ccxt.BadResponse):  # a garbled answer: the request may have worked
        return RetryableVenueError(f"{type(exc).__name__}: {msg}")
    return FinalVenueError(f"{type(exc).__name__}: {msg}")


def request_outcome(exc: BaseException) -> str:
    """A failed request in one word for a metric label: rate_limited, unavailable (network, 5xx, timeouts),
    rejected (the exchange said no to an order), auth, or error."""
    if isinstance(exc, ccxt.RateLimitExceeded):
        return "rate_limited"
    if isinstance(exc, ccxt.NetworkError):
        return "unavailable"
    if isinstance(exc, ccxt.AuthenticationError):
        return "auth"
    if isinstance(exc, (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.OrderNotFound)):
        return "rejected"
    return "error"

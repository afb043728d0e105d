"""Deterministic identifiers: the same plan always yields the same client order ids, so a retry or a
restart finds its orders instead of doubling them."""

from __future__ import annotations

import hashlib


def plan_id(book_uid: str, seq: int) -> str:
    """16 hex chars naming the `seq`-th plan of a book."""
    return hashlib.sha256(f"{book_uid}/{seq}".encode()).hexdigest()[:16]


def client_order_id(plan: str, leg: int, attempt: str) -> str:
    """OKX clOrdId rules: alphanumeric, ≤ 32 chars. `attempt` is m (maker) or t (taker fallback)."""
    if not (0 <= leg < 100) or attempt not in ("m", "t"):
        raise ValueError(f"bad leg {leg} or attempt {attempt!r}")
    return f"ho{plan}{leg:02d}{attempt}"

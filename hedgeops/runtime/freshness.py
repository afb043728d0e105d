"""Stale market data is refused: a cycle never decides or trades on prices older than a bound.

Every snapshot a cycle takes goes through `FreshVenue`: the oldest quote it holds must be at most
`max_age_s` older than the cycle's clock, plus the venue's own data interval (a replay of 5-minute bars is
legitimately up to one bar old; an exchange's ticker is stamped when it is generated). Older, and the cycle
stops before it decides anything: `Degraded StaleMarketData`, no order. A frozen feed, a replay run past
its data, an exchange serving yesterday's ticker all end here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from hedgeops.exchange.venue import CarryVenue
from hedgeops.model.orders import AccountSnapshot

DEFAULT_MAX_DATA_AGE_S = 30.0  # a few of the operator's 5 s ticks


class StaleMarketData(Exception):
    """The venue's market data is older than the cycle may trade on (the message says which and by how much)."""


def data_interval_s(venue: Any, symbol: str) -> float:
    """How old a venue's quote may legitimately be: its data step (replayed bars), else 0 (live tickers)."""
    interval = getattr(venue, "data_interval_s", None)  # only venues replaying bars have one
    return float(interval(symbol)) if callable(interval) else 0.0


def stale_quotes(snap: AccountSnapshot, now: datetime, max_age_s: float, venue: Any) -> list[str]:
    """The quotes of a snapshot older than allowed, in words ('SOL/USDT:USDT 412 s old'); empty when fresh."""
    out = []
    for symbol, quote in sorted(snap.quotes.items()):
        age = (now - quote.at).total_seconds()
        if age > max_age_s + data_interval_s(venue, symbol):
            out.append(f"{symbol} {age:.0f} s old")
    return out


class FreshVenue:
    """A venue whose snapshots are checked against the cycle's clock; everything else passes through."""

    def __init__(self, inner: CarryVenue, now: datetime, max_age_s: float) -> None:
        self._inner, self._now, self._max_age_s = inner, now, max_age_s

    async def snapshot(self, symbols: Sequence[str]) -> AccountSnapshot:
        snap = await self._inner.snapshot(symbols)
        stale = stale_quotes(snap, self._now, self._max_age_s, self._inner)
        if stale:
            raise StaleMarketData(f"market data older than {self._max_age_s:.0f} s at {self._now.isoformat()}: "
                                  + ", ".join(stale) + "; nothing is decided or sent on it")
        return snap

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def fresh(venue: CarryVenue, now: datetime, max_age_s: float | None) -> CarryVenue:
    """The venue as a cycle at `now` may use it (unchanged when the check is off)."""
    if max_age_s is None:
        return venue
    return cast(CarryVenue, FreshVenue(venue, now, max_age_s))

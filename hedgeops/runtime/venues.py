"""Which Venue serves an exchange account in a given mode: one instance per account, shared by books."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.engine.market import Fees
from hedgeops.exchange.paper import PaperVenue
from hedgeops.exchange.replay import MarketReplay
from hedgeops.exchange.venue import Venue


class VenueUnavailable(Exception):
    """No venue can serve this account in this mode (reason in the message)."""


class PaperVenues:
    """Paper venues replaying the bundled real market data on the given clock."""

    def __init__(self, clock: Callable[[], datetime], replay: MarketReplay | None = None,
                 fees: Fees | None = None) -> None:
        self.clock = clock
        self.replay = replay or MarketReplay()
        self.fees = fees or Fees()
        self.venues: dict[tuple[str, str], PaperVenue] = {}

    def venue_for(self, exchange: ExchangeRef, mode: Mode) -> Venue:
        if mode is Mode.LIVE:
            raise VenueUnavailable(
                "Live mode needs the ccxt venue, which this build does not have yet; use mode: Paper")
        key = (exchange.name, exchange.account)
        if key not in self.venues:
            self.venues[key] = PaperVenue(self.replay, self.clock, self.fees)
        return self.venues[key]

    def paper(self, exchange: str, account: str) -> PaperVenue | None:
        return self.venues.get((exchange, account))

    async def close(self) -> None:
        for venue in self.venues.values():
            await venue.close()

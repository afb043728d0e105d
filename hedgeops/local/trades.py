"""What an object's paper account did, read after every tick: its fills (turnover, slippage, when it traded) and
its funding bills. The status of an object says what it earned; this says how: a backtest's PnL split into
funding, fees, slippage and price needs the fills themselves.

Slippage is measured against the replayed price a fill is valued at (the close of the last bar that had closed
when it filled, what the venue's quote is built from): a taker pays the half spread and whatever depth it walked,
a maker that rests inside earns it (negative slippage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.model.orders import Side


@dataclass
class TradeLog:
    """One object's share of one paper account (the fills and bills on its own symbols)."""

    venue: PaperVenue
    symbols: frozenset[str]
    fills_seen: int = 0
    bills_seen: int = 0
    fills: int = 0
    turnover: Decimal = Decimal(0)
    slippage: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    # Per hour with trading: [buys, sells] (a chart marks the hours an object traded; a market maker's fills run
    # to the thousands, so they are counted, not listed).
    hours: dict[datetime, list[int]] = field(default_factory=dict)
    slippage_path: list[tuple[datetime, float]] = field(default_factory=list)
    funding_path: list[tuple[datetime, float]] = field(default_factory=list)

    def poll(self, now: datetime) -> None:
        """Book what the account did since the last poll (fills and bills are append-only lists)."""
        account = self.venue.account
        new_fills, new_bills = account.fills[self.fills_seen:], account.bills[self.bills_seen:]
        self.fills_seen, self.bills_seen = len(account.fills), len(account.bills)
        for f in new_fills:
            if f.symbol not in self.symbols:
                continue
            bar = self.venue.replay.series(f.symbol).last_closed(f.at)
            ref = bar.close if bar is not None else f.price
            sign = 1 if f.side is Side.BUY else -1
            self.slippage += sign * (f.price - ref) * f.qty
            self.turnover += f.price * f.qty
            self.fills += 1
            hour = f.at.replace(minute=0, second=0, microsecond=0)
            self.hours.setdefault(hour, [0, 0])[0 if f.side is Side.BUY else 1] += 1
        for b in new_bills:
            if b.symbol in self.symbols:
                self.funding += b.amount
        if new_fills or not self.slippage_path:  # paths record changes (a chart holds the last value between)
            self.slippage_path.append((now, float(self.slippage)))
        if new_bills or not self.funding_path:
            self.funding_path.append((now, float(self.funding)))

    def trade_marks(self) -> list[list[Any]]:
        """[ISO hour, buys, sells] for every hour the object traded."""
        return [[h.isoformat(), b, s] for h, (b, s) in sorted(self.hours.items())]

    def as_json(self) -> dict[str, Any]:
        return {"fills": self.fills, "turnoverQuote": round(float(self.turnover), 4),
                "slippageQuote": round(float(self.slippage), 4)}

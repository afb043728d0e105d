"""Fills the venue knows of before the account streams show them. Exchanges push their private channels from separate
services: OKX's `orders` push tells of a fill before the `positions` and `account` pushes show what it did. Between
the two, a snapshot would pair "filled" with the position from before the fill, and a book deciding on it would hedge
the same move twice. So each such fill is *pending* until a row of what it changed (the symbol's position for a
contract, the balance for spot) covers it, or a REST reconcile asked after it has run.

Pure: the venue feeds it parsed stamps and monotonic times; no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stamp:
    """When the exchange says a fill happened or a row was last updated: its time (exchange ms) and, where it
    numbers trades (OKX's tradeId, increasing per instrument), the trade's number (a position row's: its last)."""

    ms: int | None
    trade: int | None = None


def covers(row: Stamp, fill: Stamp | None) -> bool:
    """A row stamped `row` shows a fill stamped `fill`. With both trades numbered the numbers decide exactly (two
    fills in one millisecond, or a row built just before a fill in the same millisecond, share a time); otherwise
    the row's update time at or after the fill's. A fill with no stamp (learned from a REST answer) is covered by
    no row: its own orders push stamps it, or a reconcile settles it."""
    if fill is None:
        return False
    if row.trade is not None and fill.trade is not None:
        return row.trade >= fill.trade
    return row.ms is not None and fill.ms is not None and row.ms >= fill.ms


@dataclass(frozen=True)
class Pending:
    """One order's fills not yet shown: what they changed, the newest fill's stamp (trade numbers compare within
    one instrument, so each order is held on its own), and since when the oldest has waited."""

    key: str
    fill: Stamp | None
    since: float


@dataclass
class Settling:
    pending: dict[str, Pending] = field(default_factory=dict)  # by client order id
    _marked: dict[str, Pending] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return bool(self.pending)

    def keys(self) -> frozenset[str]:
        return frozenset(p.key for p in self.pending.values())

    def unstamped(self, cid: str) -> bool:
        """The order has a fill learned from REST that no orders push has stamped yet."""
        held = self.pending.get(cid)
        return held is not None and held.fill is None

    def filled(self, cid: str, key: str, fill: Stamp | None, shown: Stamp | None, at: float) -> bool:
        """Order `cid` filled (more) at `fill`, changing `key`, whose stream last showed it as of `shown`; `at` is
        now (monotonic). Unless that row covers the fill, the order waits for one. Whether it is pending now."""
        held = self.pending.get(cid)
        if fill is not None and shown is not None and covers(shown, fill):
            # Settled, unless the order waits for a newer fill than this one (a late push of an older trade after
            # a REST answer told of a later one), which the row must cover too.
            if held is None or held.fill is None or covers(shown, held.fill):
                self.pending.pop(cid, None)
                return False
            return True
        if held is not None and held.fill is not None and fill is not None and covers(held.fill, fill):
            return True  # an older fill of the order (a push after the REST answer that told of a later one)
        self.pending[cid] = Pending(key, fill, at if held is None else held.since)
        return True

    def shown(self, key: str, row: Stamp | None) -> bool:
        """The stream showed `key` as of `row`: every order it covers is settled. Whether any was."""
        if row is None:
            return False
        done = [c for c, p in self.pending.items() if p.key == key and covers(row, p.fill)]
        for c in done:
            del self.pending[c]
        return bool(done)

    def waited(self, now: float, floor: float) -> float:
        """How long the oldest pending fill has waited, counted from `floor` at the earliest (the session's trust:
        a fill pending across a gap waits for the reconcile, not for a push). 0 when none waits."""
        if not self.pending:
            return 0.0
        return max(0.0, now - max(floor, min(p.since for p in self.pending.values())))

    def mark(self) -> None:
        """A REST reconcile starts: what is pending now, REST's answers will show."""
        self._marked = dict(self.pending)

    def reconciled(self, positions: bool, balances: bool) -> None:
        """The reconcile has applied REST's positions and/or balances: each fill pending at mark() whose key they
        cover, and that no push has moved since, is settled. Where the stream spoke during the reconcile its rows
        were kept instead of REST's, and they must cover the fill themselves."""
        for cid, held in self._marked.items():
            applied = balances if held.key == "balance" else positions
            if applied and self.pending.get(cid) is held:
                del self.pending[cid]
        self._marked = {}

    def forget(self, cid: str) -> None:
        self.pending.pop(cid, None)

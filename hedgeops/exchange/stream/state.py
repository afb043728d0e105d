"""The live state of one account as the streams report it: quotes, positions, balances and orders by client id.
Pure: it is given domain types already parsed, decides what each update changes, and never does I/O, so its
merge rules are tested without sockets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from hedgeops.exchange.stream.settling import Settling
from hedgeops.model.market import Quote
from hedgeops.model.orders import AccountSnapshot, OrderState, Position

UpdateKind = Literal["quote", "balance", "position", "order", "trust"]


@dataclass(frozen=True)
class StreamUpdate:
    """What one applied update changed, for the runtime's event triggers: its kind, the symbols it touched (empty
    for balances and trust changes) and when it was applied (monotonic seconds)."""

    kind: UpdateKind
    symbols: frozenset[str]
    at: float


def progress(o: OrderState) -> tuple[bool, Decimal]:
    """How far an order has gone: a final state beats an open one, more filled beats less. Updates may arrive out
    of order (a REST answer racing a push); an order never goes back."""
    return o.done, o.filled


FINAL_KEPT = 1000  # final orders held for lookups (the newest); older ones are asked of REST


@dataclass
class LiveState:
    quotes: dict[str, Quote] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    balances: dict[str, Decimal] = field(default_factory=dict)
    # Every open order, and the newest `final_kept` final ones, by client id: a final order is let go as soon as
    # `final_kept` newer ones have ended (a lookup of an older one goes to REST), so a long session's memory is
    # bounded by what is open.
    orders: dict[str, OrderState] = field(default_factory=dict)
    # per kind, how many updates were applied: a reconcile compares them to know what the stream said meanwhile
    generation: dict[str, int] = field(default_factory=lambda: {"quote": 0, "balance": 0, "position": 0, "order": 0})
    # client ids the stream updated since mark(), recorded only while a reconcile runs (mark() to reconcile())
    touched_orders: set[str] = field(default_factory=set)
    final_kept: int = FINAL_KEPT
    # Fills known before the account streams show them (settling.py): nothing is decided on the account meanwhile.
    settling: Settling = field(default_factory=Settling)
    _open: dict[str, None] = field(default_factory=dict, repr=False)  # the open orders' ids, in arrival order
    _final: dict[str, None] = field(default_factory=dict, repr=False)  # the held final ones', oldest first
    _marked: bool = field(default=False, repr=False)

    def apply_quote(self, q: Quote) -> bool:
        """A pushed ticker; an older one than held (a reconcile's answer landing late) is ignored."""
        held = self.quotes.get(q.symbol)
        if held is not None and q.at < held.at:
            return False
        if held == q:
            return False
        self.quotes[q.symbol] = q
        self.generation["quote"] += 1
        return True

    def apply_balances(self, balances: Mapping[str, Decimal]) -> bool:
        """The account's totals by currency (every currency is pushed, so this replaces them)."""
        new = dict(balances)
        self.generation["balance"] += 1
        if new == self.balances:
            return False
        self.balances = new
        return True

    def apply_positions(self, positions: Iterable[Position]) -> frozenset[str]:
        """The account's positions, whole (the stream's latest row per symbol): a zero one is gone. The symbols
        whose position changed."""
        new = {p.symbol: p for p in positions if p.qty != 0}
        self.generation["position"] += 1
        changed = frozenset(s for s in new.keys() | self.positions.keys() if new.get(s) != self.positions.get(s))
        self.positions = new
        return changed

    def apply_order(self, o: OrderState) -> bool:
        """One order's new state, unless it would take the order back (see `progress`)."""
        cid = o.client_order_id
        held = self.orders.get(cid)
        if held is not None and (held == o or progress(o) < progress(held)):
            return False
        self.orders[cid] = o
        if o.done:
            self._open.pop(cid, None)
            self._final.pop(cid, None)  # newest last
            self._final[cid] = None
            while len(self._final) > self.final_kept:
                old = next(iter(self._final))
                del self._final[old]
                self.orders.pop(old, None)
        else:
            self._open[cid] = None
        self.generation["order"] += 1
        if self._marked:
            self.touched_orders.add(cid)
        return True

    def _drop(self, cid: str) -> None:
        self.orders.pop(cid, None)
        self._open.pop(cid, None)
        self._final.pop(cid, None)

    def mark(self) -> dict[str, int]:
        """Start of a reconcile: what the stream has said so far (and, until reconcile(), which orders it touches)."""
        self.touched_orders = set()
        self._marked = True
        self.settling.mark()
        return dict(self.generation)

    def reconcile(self, since: Mapping[str, int], quotes: Mapping[str, Quote], positions: Iterable[Position],
                  balances: Mapping[str, Decimal], open_orders: Sequence[OrderState],
                  looked_up: Sequence[OrderState]) -> None:
        """Seed or overwrite the state from REST answers asked for after the (re)subscription. Where the stream
        spoke during the reconcile (`since`, from mark()), its word is at least as new and is kept; quotes keep
        the newer timestamp; orders never go back. An open order REST no longer lists, and no push or lookup
        mentioned, is no longer open: it is forgotten (a lookup by client id finds its final state)."""
        for q in quotes.values():
            self.apply_quote(q)
        positions_applied = self.generation["position"] == since.get("position")
        if positions_applied:
            self.apply_positions(positions)
        balances_applied = self.generation["balance"] == since.get("balance")
        if balances_applied:
            self.apply_balances(balances)
        listed = {o.client_order_id for o in open_orders} | {o.client_order_id for o in looked_up}
        for cid in [c for c in self._open if c not in listed and c not in self.touched_orders]:
            self._drop(cid)
        self._marked = False
        self.touched_orders = set()
        self.settling.reconciled(positions_applied, balances_applied)
        for o in (*open_orders, *looked_up):
            self.apply_order(o)

    def open_orders(self) -> tuple[OrderState, ...]:
        """The open orders, from their index (never a scan of the final ones held)."""
        return tuple(self.orders[c] for c in self._open)

    def snapshot(self, symbols: Iterable[str]) -> AccountSnapshot:
        """The account as the streams last told it, quoting `symbols` (every one must have a quote)."""
        quotes = {s: self.quotes[s] for s in symbols}
        at = max((q.at for q in quotes.values()), default=datetime.now(UTC))
        return AccountSnapshot(at=at, quotes=quotes, positions=dict(self.positions), balances=dict(self.balances),
                               open_orders=self.open_orders())

    def forget_final(self, keep: int | None = None) -> None:
        """Let go of all but the newest `keep` final orders (default: final_kept; open ones are always kept)."""
        keep = self.final_kept if keep is None else keep
        while len(self._final) > max(0, keep):
            self._drop(next(iter(self._final)))

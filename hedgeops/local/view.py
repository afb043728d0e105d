"""The live table and progress of a local run (rich on a terminal, plain lines otherwise)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hedgeops.local.summary import BookTally, CarryTally, MakerTally


def _pct(x: object) -> str:
    return "-" if x is None else f"{float(x) * 100:.2f}%"  # type: ignore[arg-type]


def book_table(tallies: Iterable[BookTally], title: str) -> Table:
    table = Table(title=title, expand=False)
    for col in ("Book", "State", "Exposure", "Deviation", "Mean dev", "Max dev", "Rebalances", "Emergency", "Cost"):
        table.add_column(col, justify="left" if col in ("Book", "State") else "right")
    for t in tallies:
        table.add_row(t.key, t.state, "-" if t.last_exposure is None else f"{float(t.last_exposure):,.2f}",
                      _pct(t.last_deviation), _pct(t.mean_deviation), _pct(t.dev_max), str(t.rebalances),
                      str(t.emergency), f"{float(t.cost):,.2f}")
    return table


def carry_table(tallies: Iterable[CarryTally]) -> Table:
    table = Table(title="FundingArbitrage", expand=False)
    for col in ("Object", "State", "Phase", "Pairs", "Funding", "Fees", "PnL", "Margin", "Breaker", "Layer"):
        table.add_column(col, justify="left" if col in ("Object", "State", "Phase", "Layer") else "right")
    for t in tallies:
        table.add_row(t.key, t.state, t.phase, str(t.pairs), f"{float(t.funding):,.2f}", f"{float(t.fees):,.2f}",
                      f"{float(t.pnl):,.2f}", "-" if t.margin_ratio is None else f"{float(t.margin_ratio):.2f}",
                      "tripped" if t.breaker_tripped else "armed", _layer(t))
    return table


def _layer(t: CarryTally) -> str:
    """Seed 004's second layer in one cell: each part's phase and PnL (both are in the object's PnL already)."""
    parts = [f"{name} {p['phase']} {p['pnlQuote']:,.2f}" for name, p in (("grid", t.grid), ("contrarian", t.contrarian))
             if p is not None]
    return " · ".join(parts) or "-"


def maker_table(tallies: Iterable[MakerTally]) -> Table:
    table = Table(title="MarketMaker", expand=False)
    for col in ("Object", "State", "Reason", "Position", "Bought", "Sold", "Realised", "Unrealised", "Fees",
                "Funding", "Fill ratio", "Quotes"):
        table.add_column(col, justify="left" if col in ("Object", "State", "Reason") else "right")
    for t in tallies:
        table.add_row(t.key, t.state, t.reason, f"{float(t.position):g}", f"{float(t.bought):g}",
                      f"{float(t.sold):g}", f"{float(t.realized):,.2f}", f"{float(t.unrealized):,.2f}",
                      f"{float(t.fees):,.2f}", f"{float(t.funding):,.2f}",
                      f"{t.filled / t.placed:.0%} of {t.placed}" if t.placed else "-", str(t.quotes))
    return table


def pricing_table(pricing: Iterable[Mapping[str, Any]]) -> Table:
    """Which prices each period replayed, symbol by symbol (the run's `pricing`)."""
    table = Table(title="Prices replayed", expand=False)
    for col in ("Symbol", "From", "To", "Step", "Source"):
        table.add_column(col)
    for p in pricing:
        table.add_row(p["symbol"], p["from"][:16].replace("T", " "), p["to"][:16].replace("T", " "),
                      f"{p['stepSeconds'] // 60} min" if p["stepSeconds"] < 3600 else f"{p['stepSeconds'] // 3600} h",
                      p["source"] + (f" ({p['note']})" if p.get("note") else ""))
    return table


@dataclass
class Tallies:
    """Every object's running figures, by kind."""

    books: list[BookTally] = field(default_factory=list)
    carries: list[CarryTally] = field(default_factory=list)
    makers: list[MakerTally] = field(default_factory=list)

    def tables(self, title: str) -> list[Table]:
        out = [book_table(self.books, title)] if self.books else []
        out += [carry_table(self.carries)] if self.carries else []
        return out + ([maker_table(self.makers)] if self.makers else [])

    def line(self) -> str:
        parts = [f"{t.key}: dev {_pct(t.last_deviation)} rebalances {t.rebalances}" for t in self.books]
        parts += [f"{t.key}: {t.phase} pnl {float(t.pnl):,.2f}" for t in self.carries]
        parts += [f"{t.key}: pos {float(t.position):g} pnl {float(t.realized + t.unrealized):,.2f}"
                  for t in self.makers]
        return " ".join(parts)


class RunView:
    """Shows progress through simulated time and the book table; quiet in --json mode."""

    def __init__(self, start: datetime, end: datetime, *, quiet: bool) -> None:
        self.start, self.end, self.quiet = start, end, quiet
        self.console = Console(stderr=quiet)
        if not self.console.is_terminal:
            self.console = Console(stderr=quiet, width=140)
        self.live_mode = self.console.is_terminal and not quiet
        self.progress = Progress(TextColumn("[bold]simulated {task.fields[now]}"), BarColumn(),
                                 TextColumn("{task.percentage:>5.1f}%"), TimeRemainingColumn(), console=self.console)
        self.task = self.progress.add_task("run", total=(end - start).total_seconds(), now=start.isoformat())
        self.live: Live | None = None
        self._last_pct = -10
        self._warned: set[tuple[str, ...]] = set()

    def __enter__(self) -> RunView:
        if self.live_mode:
            self.live = Live(self.progress, console=self.console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.__exit__(et, ev, tb)

    def update(self, now: datetime, tallies: Tallies) -> None:
        total = (self.end - self.start).total_seconds()
        done = min(max((now - self.start).total_seconds(), 0.0), total)  # a last step past the end is still 100%
        self.progress.update(self.task, completed=done, now=now.strftime("%Y-%m-%d %H:%M"))
        if self.live is not None:
            self.live.update(Group(self.progress, *tallies.tables("HedgeOps local")))
            return
        pct = min(100, int(100 * done / max(total, 1)))
        if pct >= self._last_pct + 10:
            self._last_pct = pct - pct % 10
            line = f"[{pct:3d}%] simulated {now:%Y-%m-%d %H:%M} " + tallies.line()
            print(line, file=sys.stderr if self.quiet else sys.stdout, flush=True)

    def event(self, message: str, *, warning: bool = False, once: tuple[str, ...] | None = None) -> None:
        """An event of the run: every one above the live table on a terminal; otherwise (piped, -o json) only the
        warnings, each as one `warning:` line on stderr, once per `once` (object and reason), not at every cycle."""
        if self.live is not None:
            self.live.console.print(message)
            return
        if not warning:
            return  # plain output keeps to progress lines, warnings and the summary
        if once is not None:
            if once in self._warned:
                return
            self._warned.add(once)
        print(f"warning: {' '.join(message.split())}", file=sys.stderr, flush=True)

"""The live table and progress of a local run (rich on a terminal, plain lines otherwise)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hedgeops.local.summary import BookTally


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

    def __enter__(self) -> RunView:
        if self.live_mode:
            self.live = Live(self.progress, console=self.console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.__exit__(et, ev, tb)

    def update(self, now: datetime, tallies: list[BookTally]) -> None:
        done = (now - self.start).total_seconds()
        self.progress.update(self.task, completed=done, now=now.strftime("%Y-%m-%d %H:%M"))
        if self.live is not None:
            self.live.update(Group(self.progress, book_table(tallies, "HedgeOps local")))
            return
        pct = int(100 * done / max((self.end - self.start).total_seconds(), 1))
        if pct >= self._last_pct + 10:
            self._last_pct = pct - pct % 10
            line = f"[{pct:3d}%] simulated {now:%Y-%m-%d %H:%M} " + " ".join(
                f"{t.key}: dev {_pct(t.last_deviation)} rebalances {t.rebalances}" for t in tallies)
            print(line, file=sys.stderr if self.quiet else sys.stdout, flush=True)

    def event(self, message: str) -> None:
        if not self.quiet and not self.live_mode:
            return  # plain output keeps to progress lines and the summary
        if self.live is not None:
            self.live.console.print(message)

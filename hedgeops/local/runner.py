"""Run every HedgeBook of a manifest folder through the real reconciler on a simulated clock."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hedgeops.api import FundingArbitrage, HedgeBook, MarketMaker, RebalancePolicy
from hedgeops.api.common import Resource
from hedgeops.engine.common.claims import Claim, Holder, book_claims, ownership, refusal
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.local.summary import BookTally
from hedgeops.local.view import RunView, book_table
from hedgeops.manifests import load_resources
from hedgeops.runtime.clock import SimClock
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.holdings_http import HttpHoldingsSource
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.kinds.allocation import traded_symbols
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import PaperVenues


class LocalRunError(Exception):
    """The run cannot start (the message says why)."""


@dataclass(frozen=True)
class LocalOptions:
    paths: list[Path]
    duration: timedelta | None
    start: datetime | None = None
    json: bool = False
    metrics_port: int | None = None


def _interrupt_flag() -> asyncio.Event:
    """Set on Ctrl+C, so a long replay stops where it is and still prints what it simulated."""
    flag = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not on Unix / main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, flag.set)
    return flag


def _release_interrupt_flag() -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)


def _refused(books: list[HedgeBook]) -> dict[str, str]:
    """One position, one owner, by the operator's rule (runtime/claims.py): the book given first owns what it
    shares (local manifests carry no creation time, so the order of the files stands for it); a later book
    sharing a position with it is refused and never runs. Returns book key -> why."""
    holders = {b.key: Holder(f"{i:08d}", b.metadata.uid or "", f"HedgeBook/{b.key}") for i, b in enumerate(books)}
    claims = {b.key: book_claims(b) for b in books}
    index: dict[Claim, list[Holder]] = {}
    for b in books:
        for claim in claims[b.key]:
            index.setdefault(claim, []).append(holders[b.key])
    out = {}
    for b in books:
        own = ownership(holders[b.key], claims[b.key], index)
        if own.refused:
            out[b.key] = refusal(own, b.spec.exchange.name, b.spec.exchange.account)
    return out


async def run_local(opts: LocalOptions) -> dict[str, Any]:
    """Run the books; returns the summary (also printed unless --json, which prints it as JSON)."""
    resources: list[Resource] = load_resources(opts.paths)  # type: ignore[type-arg]
    books = [r for r in resources if isinstance(r, HedgeBook)]
    policies = {r.key: r for r in resources if isinstance(r, RebalancePolicy)}
    others = [r for r in resources if isinstance(r, FundingArbitrage | MarketMaker)]
    if not books:
        raise LocalRunError("no HedgeBook in the manifests given; nothing to run")
    refused = _refused(books)
    replay = MarketReplay()
    symbols = sorted({s for b in books for s in traded_symbols(b)})
    try:
        first, last = replay.common_window(symbols)
    except Exception as exc:
        raise LocalRunError(str(exc)) from None
    start = opts.start or first
    if not first <= start < last:
        raise LocalRunError(f"--from {start:%Y-%m-%d %H:%M} is outside the data ({first:%Y-%m-%d %H:%M} .. "
                            f"{last:%Y-%m-%d %H:%M})")
    end = min(last, start + opts.duration) if opts.duration else last
    step = max(int(replay.series(s).step_ms / 1000) for s in symbols)

    clock = SimClock(start)
    metrics = Metrics()
    # Local mode runs the user's own files on the user's machine: their Http holdings may be a localhost service.
    reconciler = HedgeBookReconciler(Services(PaperVenues(clock.now, replay), InMemoryLocks(lambda: 0.0),
                                              InMemoryJournal(), metrics, owner="local",
                                              http_holdings=HttpHoldingsSource(allow_private=True)))
    port = metrics.serve(opts.metrics_port) if opts.metrics_port is not None else None
    tallies = {b.key: BookTally(b.key) for b in books}
    for key, why in refused.items():
        tallies[key].state = "SharedPositions"
        tallies[key].events.append(why)
    state = {b.key: b for b in books if b.key not in refused}
    due = {b.key: start for b in books}
    notes = [f"{r.kind} {r.key}: validated; local mode does not reconcile this kind yet" for r in others]
    with RunView(start, end, quiet=opts.json) as view:
        for note in notes:
            view.event(note)
        for key, why in refused.items():
            view.event(f"{key} SharedPositions: {why}")
        if port is not None:
            view.event(f"serving metrics on http://127.0.0.1:{port}/metrics")
        ticks = 0
        interrupted = False
        stop = _interrupt_flag()
        while clock.now() < end:
            if ticks % 64 == 0:
                await asyncio.sleep(0)  # lets the loop deliver Ctrl+C (and anything else waiting) mid-run
                if stop.is_set():
                    interrupted = True
                    view.event("interrupted: stopping here; the summary covers the time simulated so far")
                    break
            now = clock.now()
            for key, book in list(state.items()):
                if now < due[key]:
                    continue
                policy = policies.get(f"{book.metadata.namespace}/{book.spec.policyRef.name}")
                result = await reconciler.reconcile(book, policy, now)
                state[key] = book.model_copy(update={"status": result.status})
                tallies[key].add(result)
                for ev in result.events:
                    view.event(f"{now:%Y-%m-%d %H:%M} {key} {ev.reason}: {ev.message}")
                interval = policy.spec.checkIntervalSeconds if policy else 60
                # Prices change once per bar, so a finer interval than the data's would only repeat itself.
                due[key] = now + timedelta(seconds=max(interval, step))
            ticks += 1
            if ticks % 200 == 0:
                view.update(now, list(tallies.values()))
            clock.advance(step)
        view.update(clock.now(), list(tallies.values()))
        _release_interrupt_flag()
    if interrupted:
        end = clock.now()
    summary = {
        "from": start.isoformat(), "to": end.isoformat(), "stepSeconds": step,
        "books": [t.as_json() for t in tallies.values()], "notReconciled": notes, "interrupted": interrupted,
        "refused": refused,
    }
    if not opts.json:
        title = f"HedgeOps local: {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}"
        view.console.print(book_table(tallies.values(), title))
        for note in notes:
            view.console.print(f"note: {note}")
    return summary

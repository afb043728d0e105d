"""Run every object of a manifest folder (HedgeBook, FundingArbitrage, MarketMaker) through the operator's own
reconcilers, built by the same composition root, on replayed real prices and a simulated clock."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hedgeops.api import FundingArbitrage, HedgeBook, MarketMaker, RebalancePolicy
from hedgeops.api.common import Resource
from hedgeops.engine.common.claims import (
    Claim,
    Holder,
    book_claims,
    carry_claims,
    maker_claims,
    ownership,
    refusal,
)
from hedgeops.engine.common.controls import (
    APPROVE,
    RESET_BREAKER,
    Controls,
    controls_from,
    halt_annotation,
    mistyped_controls,
)
from hedgeops.exchange.marketdata.replay import CandleSeries, MarketReplay
from hedgeops.local.summary import BookTally, CarryTally, MakerTally
from hedgeops.local.trades import TradeLog
from hedgeops.local.view import RunView, Tallies, pricing_table
from hedgeops.manifests import load_resources
from hedgeops.runtime.app import App, AppConfig, build_app
from hedgeops.runtime.clock import SimClock
from hedgeops.runtime.kinds.allocation import traded_symbols
from hedgeops.runtime.reconcile import Outcome
from hedgeops.runtime.venues import PaperVenues


class LocalRunError(Exception):
    """The run cannot start (the message says why)."""


ONE_SHOT = (APPROVE, RESET_BREAKER)  # annotations the operator removes once a step has seen them


def manifest_controls(key: str, annotations: Mapping[str, str], consumed: set[tuple[str, str]], *,
                      reset: bool = False) -> Controls:
    """The controls a manifest's annotations ask for, as the operator reads them, less the one-shot ones a step has
    already acted on; `reset`: --reset-breaker-after's person resets the breaker now."""
    left = {k: v for k, v in annotations.items() if (key, k) not in consumed}
    controls = controls_from(left, halt_annotation(left))
    return replace(controls, reset_breaker=True) if reset else controls


def consume(key: str, annotations: Mapping[str, str], consumed: set[tuple[str, str]]) -> None:
    """A step saw the object's one-shot annotations: as the operator removes them then, they act once a run (a
    manifest's reset-breaker resets once, not at every cycle)."""
    consumed.update((key, k) for k in ONE_SHOT if k in annotations)


@dataclass(frozen=True)
class LocalOptions:
    paths: list[Path]
    duration: timedelta | None
    start: datetime | None = None
    json: bool = False
    metrics_port: int | None = None
    series: bool = False  # put each object's hourly series in the summary (the backtest's report draws them)
    history: bool = False  # reach back before the candles through hourly mark prices (backtests; replay.py)
    # A person resets a tripped carry breaker (the hedgeops.io/reset-breaker annotation) this long after it tripped;
    # None: nobody does, and a tripped carry stays out of the market for the rest of the run.
    reset_breaker_after: timedelta | None = None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl+C, and what `kill`, systemd, Docker and Kubernetes send


class _Stop:
    """Set by Ctrl+C or SIGTERM, so a long replay stops where it is and still prints what it simulated; `signum`:
    which one (the exit code is 128 + it, as a shell reports a signal)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def is_set(self) -> bool:
        return self.signum is not None

    def set(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum


def _interrupt_flag() -> _Stop:
    stop = _Stop()
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not on Unix / main thread
            asyncio.get_running_loop().add_signal_handler(signum, stop.set, signum)
    return stop


def _release_interrupt_flag() -> None:
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signum)


def _refused(objects: Sequence[Resource]) -> dict[str, str]:  # type: ignore[type-arg]
    """One position, one owner, by the operator's rule (engine/common/claims.py), over every kind: the object
    given first owns what it shares (local manifests carry no creation time, so the order of the files stands for
    it); a later object sharing a position with it is refused and never runs. Returns object key -> why."""
    holders = {o.key: Holder(f"{i:08d}", o.metadata.uid or "", f"{o.kind}/{o.key}") for i, o in enumerate(objects)}
    claims = {o.key: _claims(o) for o in objects}
    index: dict[Claim, list[Holder]] = {}
    for o in objects:
        for claim in claims[o.key]:
            index.setdefault(claim, []).append(holders[o.key])
    out = {}
    for o in objects:
        own = ownership(holders[o.key], claims[o.key], index)
        if own.refused:
            out[o.key] = refusal(own, o.spec.exchange.name, o.spec.exchange.account)
    return out


def _claims(obj: Resource) -> set[Claim]:  # type: ignore[type-arg]
    if isinstance(obj, HedgeBook):
        return book_claims(obj)
    if isinstance(obj, FundingArbitrage):
        return carry_claims(obj)
    assert isinstance(obj, MarketMaker)
    return maker_claims(obj)


def _symbols(obj: Resource) -> set[str]:  # type: ignore[type-arg]
    """The markets an object trades, for the replay window (autoSelect picks among what the data holds)."""
    if isinstance(obj, HedgeBook):
        return set(traded_symbols(obj))
    if isinstance(obj, FundingArbitrage):
        enh = obj.spec.enhancement
        layers = {x.symbol for x in (enh.grid, enh.contrarian) if x is not None} if enh is not None else set()
        return {s for p in obj.spec.pairs for s in (p.spot, p.perp)} | layers
    assert isinstance(obj, MarketMaker)
    return {obj.spec.symbol}


async def run_local(opts: LocalOptions) -> dict[str, Any]:
    """Run every object; returns the summary (also printed unless --json, which prints it as JSON)."""
    skipped: list[str] = []  # a Secret or ConfigMap beside the books: skipped as `validate` skips it, and said
    notes: list[str] = []  # files and folders `validate` does not read either (hidden, not a manifest, read twice)
    resources: list[Resource] = load_resources(opts.paths, skipped, notes=notes)  # type: ignore[type-arg]
    for note in notes:
        print(f"note: {note}", file=sys.stderr, flush=True)
    for note in skipped:
        print(note, file=sys.stderr, flush=True)
    for r in resources:  # an annotation that looks like a control but is none does nothing: say so before the run
        for key, meant in sorted(mistyped_controls(r.metadata.annotations).items()):
            print(f"warning: {r.KIND} {r.key}: {key} is not a control and does nothing: did you mean {meant}?",
                  file=sys.stderr, flush=True)
    runnable = [r for r in resources if isinstance(r, HedgeBook | FundingArbitrage | MarketMaker)]
    policies = {r.key: r for r in resources if isinstance(r, RebalancePolicy)}
    if not runnable:
        raise LocalRunError("no HedgeBook, FundingArbitrage or MarketMaker in the manifests given; nothing to run")
    orphans = [f"HedgeBook {r.key} needs RebalancePolicy {r.metadata.namespace}/{r.spec.policyRef.name}"
               for r in runnable if isinstance(r, HedgeBook)
               and f"{r.metadata.namespace}/{r.spec.policyRef.name}" not in policies]
    if orphans:  # it would sit the whole window as PolicyNotFound and trade nothing: said before the run instead
        raise LocalRunError(f"{'; '.join(orphans)} (spec.policyRef), which is not in the manifests given: add its "
                            "file or folder")
    refused = _refused(runnable)
    replay = MarketReplay(history=opts.history)
    symbols = sorted({s for r in runnable for s in _symbols(r)})
    try:
        if symbols:
            first, last = replay.common_window(symbols)
        else:  # only autoSelect carries listing no pairs: they pick among whatever has data at the time
            every = [replay.series(s) for s in MarketReplay.symbols()]
            first, last = min(s.first for s in every), min(s.last_known for s in every)
    except Exception as exc:
        raise LocalRunError(str(exc)) from None
    start = opts.start or first
    if not first <= start < last:
        raise LocalRunError(f"--from {start:%Y-%m-%d %H:%M} is outside the data ({first:%Y-%m-%d %H:%M} .. "
                            f"{last:%Y-%m-%d %H:%M})")
    end = min(last, start + opts.duration) if opts.duration else last
    if opts.duration and start + opts.duration > last:  # said, not silently run short
        print(f"note: the window asked for ends {start + opts.duration:%Y-%m-%d %H:%M}, after the data: clipped to "
              f"the data's end, {last:%Y-%m-%d %H:%M}", file=sys.stderr, flush=True)
    # Prices change once per bar: a tick finer than the data's would only repeat itself. A stitched series changes
    # its bar length with its periods (hourly marks, 5-minute bars, 1-minute bars where a backtest has them), and
    # the tick follows the finest bar in play, so no object misses a price its market showed.
    replayed = [replay.series(s) for s in symbols or MarketReplay.symbols()]
    # Whose bars set the tick: every object's markets, until a market maker finishes (its 1-minute bars would
    # otherwise keep every other object ticking by the minute for nothing).
    markets = {r.key: [replay.series(s) for s in sorted(_symbols(r))] or replayed for r in runnable}
    boundaries = sorted({p.start for s in replayed for p in s.periods})
    # The paper exchange prices from closed bars only (never a bar's close before it closes): until each market's
    # first bar closes, a cycle has no price. A window over before then could only report ExchangeUnavailable.
    priced_from = max((s.first + timedelta(seconds=s.step_at(s.first)) for s in replayed if s.first <= start),
                      default=start)
    if end <= priced_from:
        raise LocalRunError(f"the window {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} ends before the data's first "
                            f"bars close ({priced_from:%Y-%m-%d %H:%M}): the paper exchange prices from closed bars "
                            "only, so nothing could trade in it; run longer or start later")

    def step_at(t: datetime) -> int:
        """The finest bar in play, never stepping over the start of a finer period (a --from off the hour)."""
        live = [s for key, series in markets.items() if key in state and by_key[key].state != "Finished"
                for s in series] or replayed
        step = min(s.step_at(t) for s in live)
        nxt = next((b for b in boundaries if b > t), None)
        return min(step, int((nxt - t).total_seconds())) if nxt is not None else step

    # A market maker quotes only where its market's own trades are replayed: a mark price never traded, and a fill
    # on it would be invented. Before then it waits (and says so once).
    traded_from = {r.key: next(p.start for p in replay.series(r.spec.symbol).periods if not p.note)
                   for r in runnable if isinstance(r, MarketMaker)}

    # Local mode runs the user's own files on the user's machine: their Http holdings may be a localhost service.
    app = build_app(AppConfig(owner="local", clock="sim", replay_start=start, http_holdings_allow_private=True,
                              http_holdings_allow_loopback=True),
                    replay=replay, locks_clock=lambda: 0.0)
    clock = app.clock
    assert isinstance(clock, SimClock)
    try:
        port = app.metrics.serve(opts.metrics_port) if opts.metrics_port is not None else None
    except OSError as exc:  # busy or not ours to bind: bad input (exit 2), as the --help exit table says
        await app.close()
        raise LocalRunError(f"--metrics-port: cannot listen on 127.0.0.1:{opts.metrics_port}: "
                            f"{exc.strerror or exc}") from None
    if port is not None:  # on stderr whatever the output (with --json too): 0 picks the port, say which
        print(f"serving metrics on http://127.0.0.1:{port}/metrics", file=sys.stderr, flush=True)
    tallies = Tallies([BookTally(r.key) for r in runnable if isinstance(r, HedgeBook)],
                      [CarryTally(r.key, capital=float(r.spec.capital.amountQuote))
                       for r in runnable if isinstance(r, FundingArbitrage)],
                      [MakerTally(r.key, lines={"targetPosition": float(r.spec.targetPosition),
                                                "positionThreshold": float(r.spec.positionThreshold),
                                                "maxPosition": float(r.spec.maxPosition)})
                       for r in runnable if isinstance(r, MarketMaker)])
    by_key: dict[str, BookTally | CarryTally | MakerTally] = {t.key: t for t in tallies.books}
    by_key.update({t.key: t for t in tallies.carries})
    by_key.update({t.key: t for t in tallies.makers})
    for key, why in refused.items():
        by_key[key].state = "SharedPositions"
        by_key[key].events.append(why)
    state = {r.key: r for r in runnable if r.key not in refused}
    with RunView(start, end, quiet=opts.json) as view:
        for key, why in refused.items():
            view.event(f"{key} SharedPositions: {why}", warning=True, once=(key, "SharedPositions"))
        ticks, interrupted, stop = 0, False, _interrupt_flag()
        consumed: set[tuple[str, str]] = set()  # (object, annotation) one-shot controls already acted on
        while clock.now() < end:
            if ticks % 64 == 0:
                await asyncio.sleep(0)  # lets the loop deliver Ctrl+C (and anything else waiting) mid-run
                if stop.is_set():
                    interrupted = True
                    view.event(f"interrupted ({signal.Signals(stop.signum or signal.SIGINT).name}): stopping here; "
                               "the summary covers the time simulated so far", warning=True)
                    break
            now = clock.now()
            for key, obj in list(state.items()):
                tally = by_key[key]
                if key in traded_from and now < traded_from[key]:
                    if tally.cycles == 0 and not tally.events:
                        tally.events.append("waits for traded prices")
                        view.event(f"{key} waits for traded prices: its market's own candles begin "
                                   f"{traded_from[key]:%Y-%m-%d %H:%M} (before that only its mark price is replayed)")
                    continue
                reset = (opts.reset_breaker_after is not None and isinstance(tally, CarryTally)
                         and tally.tripped_at is not None and now - tally.tripped_at >= opts.reset_breaker_after)
                # The manifest's own annotations act as on a cluster (halt, close-all, approve, rebalance-now);
                # --reset-breaker-after stands for the person who would reset a tripped breaker.
                controls = manifest_controls(key, obj.metadata.annotations, consumed, reset=reset)
                outcome = await _reconcile(app, obj, policies, now, controls)
                if outcome is not None and outcome.changed and outcome.acted:
                    consume(key, obj.metadata.annotations, consumed)
                if reset:
                    view.event(f"{now:%Y-%m-%d %H:%M} {key} breaker reset (--reset-breaker-after)")
                if tally.trades is None:
                    tally.trades = _trade_log(app, obj)
                if tally.trades is not None:
                    tally.trades.poll(now)
                if outcome is None:
                    continue
                state[key] = obj.model_copy(update={"status": outcome.status})
                if isinstance(tally, BookTally):
                    tally.add(outcome, now)
                else:
                    tally.add(outcome.status, now)
                for ev in outcome.events:
                    # No price before the first bars close is expected (above), not worth a warning line.
                    expected = ev.reason == "ExchangeUnavailable" and now < priced_from
                    view.event(f"{now:%Y-%m-%d %H:%M} {key} {ev.reason}: {ev.message}",
                               warning=ev.type == "Warning" and not expected, once=(key, ev.reason))
            ticks += 1
            if ticks % 200 == 0:
                view.update(now, tallies)
            clock.advance(step_at(now))
        view.update(clock.now(), tallies)
        _release_interrupt_flag()
    await app.close()
    asked = end
    if interrupted:
        end = clock.now()
    pricing = _pricing(replayed, start, end)
    summary = {
        "from": start.isoformat(), "to": end.isoformat(), "stepSeconds": step_at(start),
        "pricing": pricing,
        "resetBreakerAfterHours": None if opts.reset_breaker_after is None else
        round(opts.reset_breaker_after.total_seconds() / 3600, 4),
        "books": [_with_series(t, opts.series) for t in tallies.books],
        "fundingArbitrages": [_with_series(t, opts.series) for t in tallies.carries],
        "marketMakers": [_with_series(t, opts.series) for t in tallies.makers],
        "interrupted": interrupted, "refused": refused,
        # What was asked for; `to` is what ran (earlier when interrupted): a partial run says so, and by what.
        "requestedTo": asked.isoformat(),
        "interruptedBy": signal.Signals(stop.signum).name if interrupted and stop.signum else None,
    }
    if not opts.json:
        title = f"HedgeOps local: {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}"
        if interrupted:
            title += (f" (PARTIAL: {summary['interruptedBy'] or 'interrupted'} stopped it; asked for "
                      f"{start:%Y-%m-%d %H:%M} → {asked:%Y-%m-%d %H:%M})")
        for table in [*tallies.tables(title), pricing_table(pricing)]:
            view.console.print(table)
    return summary


def _trade_log(app: App, obj: Resource) -> TradeLog | None:  # type: ignore[type-arg]
    """The object's share of its paper account, once the account exists (venues are made on first use)."""
    source = getattr(app.venues, "paper", None)
    if not isinstance(source, PaperVenues):
        return None
    venue = source.paper(obj.spec.exchange.name, obj.spec.exchange.account, obj.metadata.namespace or "default")
    return None if venue is None else TradeLog(venue, frozenset(_symbols(obj)))


def _pricing(replayed: list[CandleSeries], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """What prices the run replayed, period by period and symbol by symbol (a report says it per period)."""
    return [{"symbol": s.symbol, "from": max(p.start, start).isoformat(), "to": min(p.end, end).isoformat(),
             "stepSeconds": p.step_s, "source": p.source, "note": p.note}
            for s in replayed for p in s.periods if p.start < end and p.end > start]


def _with_series(tally: BookTally | CarryTally | MakerTally, series: bool) -> dict[str, Any]:
    return {**tally.as_json(), **({"series": tally.series()} if series else {})}


async def _reconcile(app: App, obj: Resource, policies: dict[str, RebalancePolicy],  # type: ignore[type-arg]
                     now: datetime, controls: Controls) -> Outcome[Any] | None:
    """One object through its kind's reconciler (which decides whether it is due); None: nothing ran."""
    outcome: Outcome[Any]
    if isinstance(obj, HedgeBook):
        policy = policies.get(f"{obj.metadata.namespace}/{obj.spec.policyRef.name}")
        outcome = await app.hedgebooks.reconcile(obj, now, controls, policy)
    elif isinstance(obj, FundingArbitrage):
        outcome = await app.fundingarbitrages.reconcile(obj, now, controls)
    else:
        assert isinstance(obj, MarketMaker)
        outcome = await app.marketmakers.reconcile(obj, now, controls)
    # A cycle that ran always has something to say (a HedgeBook's lastCheck at least); a quiet carry watch or an
    # object not due has not.
    return outcome if outcome.changed else None

"""Prometheus metrics: base units, `hedgeops_` prefix, `_total` counters, bounded labels (no order ids)."""

from __future__ import annotations

import functools
import platform
import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from hedgeops import __version__
from hedgeops.api.funding import CarryLegStatus
from hedgeops.engine.hedge.exposure import BookExposure

HEDGEBOOK, CARRY = "HedgeBook", "FundingArbitrage"


def _remember_children(metric: Any) -> None:
    """`metric.labels(...)` answered from a dict after the first call for a label set: prometheus_client checks
    and converts the labels on every call, a cost a backtest pays ten times a tick. A child removed from the
    metric must be forgotten here too (`metric.labels.cache_clear()`)."""
    metric.labels = functools.lru_cache(maxsize=None)(metric.labels)


def _add_mode(metric: Any, kind: str | None, modes: dict[tuple[str, str, str], str]) -> None:
    """Callers name an object's series as before (`[kind,] namespace, name, ...`); its `mode` label is put in
    from what `Metrics.track` last saw, so no series can carry another mode than its object's. `kind` is the
    metric's one kind when its series have no kind label (book-only, carry-only)."""
    cached = metric.labels  # _remember_children's cache, so the mode lookup is the only added cost
    at = 3 if kind is None else 2

    def labels(*values: str) -> Any:
        k, ns, name = (values[0], values[1], values[2]) if kind is None else (kind, values[0], values[1])
        return cached(*values[:at], modes.get((k, ns, name), ""), *values[at:])

    labels.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    metric.labels = labels


class Metrics:
    """Every metric HedgeOps exports, on one registry (tests make their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # Every object's series: `namespace`, `name` and the object's `mode` (Paper|Live: the alerts' routing
        # pages only for Live), with `kind` where more than one kind writes the metric.
        book = ["namespace", "name", "mode"]
        self.exposure = Gauge("hedgeops_exposure_quote", "Net exposure relative to target, in quote currency",
                              [*book, "asset"], registry=r)
        self.deviation = Gauge("hedgeops_deviation_ratio", "Net exposure ÷ target hedge notional (signed)",
                               [*book, "asset"], registry=r)
        self.total_deviation = Gauge("hedgeops_total_deviation_ratio",
                                     "Σ|net exposure| ÷ Σ target hedge notional", book, registry=r)
        self.weight_drift = Gauge("hedgeops_weight_drift_ratio", "Allocation books: asset weight − target weight",
                                  [*book, "asset"], registry=r)
        self.band = Gauge("hedgeops_band_ratio", "The band in force for the asset (hedge: |deviation| that triggers a "
                          "rebalance; allocation: |weight drift|): the alert rules compare against it",
                          [*book, "asset"], registry=r)
        self.book_value = Gauge("hedgeops_book_value_quote", "Allocation books: value in the quote currency", book,
                                registry=r)
        self.next_rebalance = Gauge("hedgeops_next_rebalance_timestamp_seconds", "Allocation books with a schedule: "
                                    "when it fires next (Unix time; its notice is the event RebalanceScheduled)",
                                    book, registry=r)
        self.rebalances = Counter("hedgeops_rebalances_total", "Completed rebalances",
                                  [*book, "urgency", "reason"], registry=r)
        self.cost = Counter("hedgeops_rebalance_cost_quote_total", "Fees paid by rebalances, quote currency",
                            book, registry=r)
        self.orders = Counter("hedgeops_orders_total", "Orders by outcome", ["kind", *book, "type", "outcome"],
                              registry=r)
        self.refusals = Counter("hedgeops_plan_refusals_total", "Plans the risk gate refused", [*book, "reason"],
                                registry=r)
        self.alerts = Counter("hedgeops_alerts_total", "Seed 000's alerts as the engine raised them: "
                              "EmergencyRebalance (an emergency plan started), HighDeviationPersists", [*book, "alert"],
                              registry=r)
        # Seed 000's event alerts read these (wall-clock seconds): a counter's first appearance or a gap in
        # scraping cannot fake or hide an increase.
        self.last_event = Gauge("hedgeops_last_event_timestamp_seconds", "When the book last had the event "
                                "(EmergencyRebalance, RebalanceFailed), Unix seconds", [*book, "event"], registry=r)
        self.rebalance_failures = Counter("hedgeops_rebalance_failures_total", "Rebalances that traded nothing: "
                                          "every order refused or unfilled, or the exchange failed mid-plan",
                                          book, registry=r)
        self.ready = Gauge("hedgeops_ready", "1 when the object is Ready", ["kind", *book], registry=r)
        obj = book
        self.funding_earned = Gauge("hedgeops_funding_earned_quote", "Funding received minus paid since the position "
                                    "opened", [*obj, "symbol"], registry=r)
        self.margin_ratio = Gauge("hedgeops_margin_ratio", "Perp collateral ÷ initial margin (1 at entry)",
                                  [*obj, "symbol"], registry=r)
        self.pnl = Gauge("hedgeops_pnl_quote", "PnL in quote currency (carry: funding − fees + basis; market maker: "
                         "realised + unrealised + funding)", ["kind", *obj, "symbol"], registry=r)
        self.position = Gauge("hedgeops_position_base", "Market maker: its inventory in base units (negative: short)",
                              ["kind", *obj, "symbol"], registry=r)
        # Seed 003's monitoring list: fill rate, fee share and the funding a held position costs.
        self.maker_quotes = Counter("hedgeops_maker_quotes_total", "Market maker: quotes placed, and quotes that "
                                    "filled in part or whole (outcome placed|filled; filled ÷ placed is the fill "
                                    "rate)", ["kind", *obj, "symbol", "outcome"], registry=r)
        self.maker_fill_ratio = Gauge("hedgeops_maker_fill_ratio", "Market maker: quotes filled ÷ quotes placed "
                                      "since the start", ["kind", *obj, "symbol"], registry=r)
        self.maker_fees = Gauge("hedgeops_maker_fees_quote", "Market maker: fees paid since the start, quote "
                                "currency", ["kind", *obj, "symbol"], registry=r)
        self.maker_funding = Gauge("hedgeops_maker_funding_quote", "Market maker: funding received (+) or paid (−) "
                                   "on its position since the start, quote currency", ["kind", *obj, "symbol"],
                                   registry=r)
        self.breaker = Gauge("hedgeops_breaker_tripped", "1 while the loss circuit breaker refuses new positions",
                             [*obj, "symbol"], registry=r)
        self.reconcile_seconds = Histogram("hedgeops_reconcile_duration_seconds", "Reconcile cycle duration",
                                           ["kind"], registry=r)
        self.decision_seconds = Histogram("hedgeops_decision_duration_seconds", "Engine time for one object's "
                                          "decision (exposure and trigger; no I/O)", ["kind"], registry=r,
                                          buckets=(5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 7.5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.05))
        self.cycle_lag = Histogram("hedgeops_cycle_lag_seconds", "How late a due cycle started (its tick after the "
                                   "due time, plus queueing): above the check interval means books are missed",
                                   ["kind"], registry=r,
                                   buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300))
        self.stream_cycles = Counter("hedgeops_stream_triggered_cycles_total", "Cycles a stream trigger started "
                                     "before the object's schedule, by the trigger's reason (EmergencyAssetDeviation, "
                                     "QuoteFilled, TouchMoved, MarginLine, ...)", ["kind", "reason"], registry=r)
        self.recoveries = Counter("hedgeops_recovered_plans_total",
                                  "Plans a previous process left half-sent, adopted from their intent", ["kind"],
                                  registry=r)
        self.degraded = Gauge("hedgeops_degraded", "1 while the object cannot do its job safely (lock store, "
                              "exchange or credentials failing); its Degraded condition says why",
                              ["kind", *obj], registry=r)
        self.shared = Gauge("hedgeops_shared_positions", "How many of the object's perp positions and spot balances "
                            "another object on the same account also owns (0 is the only safe value)",
                            ["kind", *obj], registry=r)
        self.signals = Counter("hedgeops_signals_total", "TradingView webhook requests by outcome (labels empty for "
                               "requests naming no book that takes signals)", [*book, "outcome"], registry=r)
        account = ["exchange", "account"]
        self.exchange_requests = Counter("hedgeops_exchange_requests_total", "Requests sent to exchanges through "
                                         "ccxt, by outcome", ["exchange", "outcome"], registry=r)
        # By namespace too: account labels are the tenant's own names, so two tenants' "main" are two accounts,
        # and without it their attempts merged into one series.
        tenant_account = ["namespace", *account]
        self.locks = Counter("hedgeops_lock_acquisitions_total", "Account lock attempts by outcome (acquired, "
                             "busy: another actor holds it, unavailable: the lock store failed)",
                             [*tenant_account, "outcome"], registry=r)
        self.lock_wait = Histogram("hedgeops_lock_wait_seconds", "Time to get the account lock's answer: queued behind "
                                   "this process's other cycles on the account, then the lock store",
                                   tenant_account, registry=r,
                                   buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        # Labelled by the store so that it has no series until a lock request has been answered: a standby replica
        # or an operator with no object yet knows nothing of Redis and must not say 0 (that pages).
        self.lock_store_up = Gauge("hedgeops_lock_store_up", "1 when the last lock request reached the lock store; "
                                   "0 means no new orders anywhere (no series until this process has asked)",
                                   ["store"], registry=r)
        self.reconcile_errors = Counter("hedgeops_reconcile_errors_total", "Reconcile cycles that failed",
                                        ["kind", "reason"], registry=r)
        self.build_info = Gauge("hedgeops_build_info", "Always 1: the HedgeOps version and Python it runs on (join "
                                "on it to tell which build raised an alert)", ["version", "python"], registry=r)
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self._modes: dict[tuple[str, str, str], str] = {}
        self._kind_of: dict[str, str | None] = {}  # metric name -> its one kind (None: a kind label says)
        for metric in list(vars(self).values()):
            names = getattr(metric, "_labelnames", None)
            if not names:
                continue
            _remember_children(metric)
            if "mode" in names:
                one = None if "kind" in names else CARRY if metric in (self.funding_earned, self.margin_ratio,
                                                                       self.breaker) else HEDGEBOOK
                self._kind_of[metric._name] = one
                _add_mode(metric, one, self._modes)
        # process_* (CPU, resident memory, open files, start time) and python_info, as every exporter has them.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

    def track(self, kind: str, namespace: str, name: str, mode: str) -> None:
        """The object's mode, read from its spec at every cycle. A changed mode (Paper to Live) first removes the
        object's series under the old one: an alert must not keep routing a Live book as Paper."""
        key = (kind, namespace, name)
        was = self._modes.get(key)
        if was == mode:
            return
        if was is not None or self._has_series(kind, namespace, name):
            self.forget(kind, namespace, name)
        self._modes[key] = mode

    def _objects(self, kind: str) -> list[Any]:
        return [m for m in vars(self).values() if getattr(m, "_name", None) in self._kind_of
                and self._kind_of[m._name] in (None, kind)]

    def _has_series(self, kind: str, namespace: str, name: str) -> bool:
        return any(self._match(m, kind, namespace, name) for m in self._objects(kind))

    def _match(self, metric: Any, kind: str, namespace: str, name: str) -> bool:
        i = list(metric._labelnames).index("namespace")
        return any(k[i] == namespace and k[i + 1] == name and (self._kind_of[metric._name] or k[0]) == kind
                   for k in list(metric._metrics))

    def event(self, namespace: str, name: str, event: str) -> None:
        """A seed 000 event of a book: counted, and its time kept for the alert rules."""
        if event == "RebalanceFailed":
            self.rebalance_failures.labels(namespace, name).inc()
        else:
            self.alerts.labels(namespace, name, event).inc()
        self.last_event.labels(namespace, name, event).set(time.time())

    def forget_objects(self) -> None:
        """Every object's series and the lock store's state: a replica that lost the Lease no longer observes
        them, and frozen copies next to the new leader's would page (a stale Degraded) and double every sum."""
        for metric in vars(self).values():
            if getattr(metric, "_name", None) in self._kind_of or metric is self.lock_store_up:
                metric.clear()
                metric.labels.cache_clear()
        self._modes.clear()

    def forget(self, kind: str, namespace: str, name: str) -> int:
        """Remove every series of a deleted object (its gauges would otherwise keep alerting until a restart):
        those labelled with its kind, and those of metrics only its kind writes. Returns the series removed."""
        removed = 0
        for metric in self._objects(kind):
            match = {"namespace": namespace, "name": name, **({"kind": kind} if "kind" in metric._labelnames else {})}
            before = len(metric._metrics)
            metric.remove_by_labels(match)
            metric.labels.cache_clear()  # the remembered children are gone from the registry
            removed += before - len(metric._metrics)
        self._modes.pop((kind, namespace, name), None)
        return removed

    def no_next_rebalance(self, namespace: str, name: str) -> None:
        """A book whose schedule was removed: its next-rebalance series goes (a stale time would read as a plan)."""
        self.next_rebalance.remove_by_labels({"namespace": namespace, "name": name})
        self.next_rebalance.labels.cache_clear()  # type: ignore[attr-defined]  # _remember_children's cache

    def healthy(self, kind: str, namespace: str, name: str, *, ready: bool = True) -> None:
        """The object completed a cycle: not Degraded, and Ready unless the cycle says otherwise."""
        self.ready.labels(kind, namespace, name).set(1 if ready else 0)
        self.degraded.labels(kind, namespace, name).set(0)

    def observe_exposure(self, namespace: str, book: str, exposure: BookExposure) -> None:
        for a in exposure.assets:
            self.exposure.labels(namespace, book, a.asset).set(float(a.net_quote))
            self.deviation.labels(namespace, book, a.asset).set(float(a.deviation))
        self.total_deviation.labels(namespace, book).set(float(exposure.total_deviation))

    def observe_carry(self, namespace: str, name: str, leg: CarryLegStatus) -> None:
        self.funding_earned.labels(namespace, name, leg.perp).set(float(leg.fundingEarnedQuote))
        if leg.marginRatio is not None:
            self.margin_ratio.labels(namespace, name, leg.perp).set(float(leg.marginRatio))
        self.pnl.labels("FundingArbitrage", namespace, name, leg.perp).set(float(leg.pnlQuote))
        self.breaker.labels(namespace, name, leg.perp).set(1 if (leg.machine.get("breaker") or {}).get("tripped")
                                                           else 0)

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve /metrics on a background thread; returns the bound port (0 picks a free one)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(server.server_port)

"""Every object's series carry the same labels (`namespace`, `name`, the object's `mode`, `kind` where more than one
kind writes the metric): the alert routing pages only for Live objects, and joins need no label_replace."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from hedgeops.runtime.metrics import Metrics


def _series(m: Metrics, metric: str) -> list[dict[str, str]]:
    return [dict(s.labels) for f in m.registry.collect() for s in f.samples if s.name == metric]


def test_object_series_share_one_label_set_with_the_objects_mode() -> None:
    m = Metrics(CollectorRegistry())
    m.track("HedgeBook", "ns", "jlp", "Live")
    m.track("FundingArbitrage", "ns", "carry", "Paper")
    m.healthy("HedgeBook", "ns", "jlp")
    m.deviation.labels("ns", "jlp", "SOL").set(0.03)
    m.orders.labels("HedgeBook", "ns", "jlp", "market", "filled").inc()
    m.breaker.labels("ns", "carry", "BTC/USDT:USDT").set(1)
    assert _series(m, "hedgeops_ready") == [{"kind": "HedgeBook", "namespace": "ns", "name": "jlp", "mode": "Live"}]
    assert _series(m, "hedgeops_deviation_ratio") == [{"namespace": "ns", "name": "jlp", "mode": "Live",
                                                        "asset": "SOL"}]
    assert _series(m, "hedgeops_orders_total")[0]["mode"] == "Live"
    assert _series(m, "hedgeops_breaker_tripped") == [{"namespace": "ns", "name": "carry", "mode": "Paper",
                                                        "symbol": "BTC/USDT:USDT"}]
    # No metric of an object is labelled `book` any more: one object label name everywhere.
    names = {k for f in m.registry.collect() for s in f.samples for k in s.labels}
    assert "book" not in names


def test_a_mode_change_drops_the_series_labelled_with_the_old_mode() -> None:
    m = Metrics(CollectorRegistry())
    m.track("HedgeBook", "ns", "jlp", "Paper")
    m.degraded.labels("HedgeBook", "ns", "jlp").set(1)
    m.deviation.labels("ns", "jlp", "SOL").set(0.03)
    m.track("HedgeBook", "ns", "jlp", "Paper")  # unchanged: nothing goes
    assert len(_series(m, "hedgeops_degraded")) == 1
    m.track("HedgeBook", "ns", "jlp", "Live")  # promoted: a Paper-labelled Degraded would never page
    assert _series(m, "hedgeops_degraded") == [] and _series(m, "hedgeops_deviation_ratio") == []
    m.degraded.labels("HedgeBook", "ns", "jlp").set(1)
    assert _series(m, "hedgeops_degraded") == [{"kind": "HedgeBook", "namespace": "ns", "name": "jlp",
                                                 "mode": "Live"}]


def test_forgetting_one_kind_keeps_another_kinds_object_of_the_same_name() -> None:
    m = Metrics(CollectorRegistry())
    for kind in ("HedgeBook", "FundingArbitrage"):
        m.track(kind, "ns", "same", "Live")
        m.healthy(kind, "ns", "same")
    m.deviation.labels("ns", "same", "SOL").set(0.01)
    m.margin_ratio.labels("ns", "same", "BTC/USDT:USDT").set(0.9)
    m.forget("HedgeBook", "ns", "same")
    assert [s["kind"] for s in _series(m, "hedgeops_ready")] == ["FundingArbitrage"]
    assert _series(m, "hedgeops_deviation_ratio") == []  # a book-only metric
    assert len(_series(m, "hedgeops_margin_ratio")) == 1  # the carry's, untouched


def test_an_invalid_spec_leaves_ready_0_and_nothing_stale() -> None:
    from hedgeops.operator.objects import invalid_series

    m = Metrics(CollectorRegistry())
    m.track("HedgeBook", "ns", "b", "Live")
    m.degraded.labels("HedgeBook", "ns", "b").set(1)  # it was Degraded, then its spec was edited into nonsense
    m.deviation.labels("ns", "b", "SOL").set(0.1)
    invalid_series(m, {"kind": "HedgeBook", "metadata": {"namespace": "ns", "name": "b"}, "spec": {"mode": "Live"}})
    assert _series(m, "hedgeops_degraded") == [] and _series(m, "hedgeops_deviation_ratio") == []
    ready = [(dict(s.labels), s.value) for f in m.registry.collect() for s in f.samples if s.name == "hedgeops_ready"]
    assert ready == [({"kind": "HedgeBook", "namespace": "ns", "name": "b", "mode": "Live"}, 0.0)]


def test_a_replica_that_loses_the_lease_exports_no_object_and_no_lock_store_state() -> None:
    m = Metrics(CollectorRegistry())
    assert _series(m, "hedgeops_lock_store_up") == []  # nothing known of Redis yet: no 0 to page on
    m.track("HedgeBook", "ns", "b", "Live")
    m.degraded.labels("HedgeBook", "ns", "b").set(1)
    m.lock_store_up.labels("redis").set(1)
    m.event("ns", "b", "EmergencyRebalance")
    m.forget_objects()
    kept = {s.name for f in m.registry.collect() for s in f.samples if s.name.startswith("hedgeops_")}
    assert kept == {"hedgeops_build_info"}
    m.track("HedgeBook", "ns", "b", "Live")  # leading again: a cycle tracks the object before it measures
    m.degraded.labels("HedgeBook", "ns", "b").set(0)
    assert _series(m, "hedgeops_degraded") == [{"kind": "HedgeBook", "namespace": "ns", "name": "b", "mode": "Live"}]


async def test_two_tenants_with_the_same_account_label_have_their_own_lock_series() -> None:
    """Account labels are each tenant's own names: namespaces a and b both call theirs "main". Their lock attempts
    and waits are two series, not one that mixes both tenants (a real cycle through the Guard, per namespace)."""
    from .runtime_fixtures import rig
    from .test_runtime_marketmaker import MM

    r = rig()
    for namespace in ("a", "b"):
        m = MM(r)
        m.mm = m.mm.model_copy(update={"metadata": m.mm.metadata.model_copy(update={"namespace": namespace})})
        await m.tick()
    acquired = [s for s in _series(r.metrics, "hedgeops_lock_acquisitions_total") if s.get("outcome") == "acquired"]
    assert sorted((s["namespace"], s["account"]) for s in acquired) == [("a", "mm"), ("b", "mm")]
    waits = {(s["namespace"], s["account"]) for s in _series(r.metrics, "hedgeops_lock_wait_seconds_count")}
    assert waits == {("a", "mm"), ("b", "mm")}

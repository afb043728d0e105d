"""Who a halt reaches (tenants are namespaces): the object's own annotation, a halt ConfigMap in its own
namespace, or one in the operator's namespace (cluster-wide); never one in another tenant's namespace."""

from __future__ import annotations

from hedgeops.operator.halts import halt_in_force

HALTS = {"team-a": ["namespace team-a halt by ConfigMap team-a/stop"]}


def test_a_tenant_halts_itself_and_not_the_others() -> None:
    assert halt_in_force({"namespace": "team-a"}, HALTS, "hedgeops") == HALTS["team-a"][0]
    assert halt_in_force({"namespace": "team-b"}, HALTS, "hedgeops") is None


def test_the_operators_namespace_halts_everyone_and_the_annotation_its_object() -> None:
    halts = {**HALTS, "hedgeops": ["cluster-wide halt by ConfigMap hedgeops/stop: exchange incident"]}
    assert "cluster-wide" in (halt_in_force({"namespace": "team-b"}, halts, "hedgeops") or "")
    annotated = {"namespace": "team-b", "annotations": {"hedgeops.io/halt": "true"}}
    assert halt_in_force(annotated, {}, "hedgeops") == "hedgeops.io/halt=true is set on the object"
    assert halt_in_force({"namespace": "team-b", "annotations": {"hedgeops.io/halt": "false"}}, {}, "hedgeops") is None


def test_the_halt_annotation_fails_safe_whatever_its_value() -> None:
    """`hedgeops.io/halt=yes` was read as no halt and the book kept trading (26 rebalances in a local day): any
    value halts except an explicit false."""
    for value in ("yes", "1", "", "TRUE", "ture", "on"):
        meta = {"namespace": "team-b", "annotations": {"hedgeops.io/halt": value}}
        assert (halt_in_force(meta, {}, "hedgeops") or "").startswith("hedgeops.io/halt="), value
    for value in ("false", "False", " false "):
        assert halt_in_force({"namespace": "team-b", "annotations": {"hedgeops.io/halt": value}}, {}, "hedgeops") \
            is None


def test_an_annotation_that_looks_like_a_control_is_named_with_the_control_meant() -> None:
    """`hedgeops.io/hallt=true` halts nothing, and whoever set it believes it did: such keys are told (a Warning
    event in the operator, a warning line in local mode); kopf's own bookkeeping under hedgeops.io/ is not."""
    from hedgeops.engine.common.controls import mistyped_controls

    assert mistyped_controls({
        "hedgeops.io/hallt": "true", "hedgeops.io/close_all": "true", "hedgeop.io/halt": "1",
        "hedgeops.io/aprove": "3f2a", "hedgeops.io/resetbreaker": "true", "hedgeops.io/rebalance-now": "1",
        "hedgeops.io/halt": "true", "hedgeops.io/finalize": "{}", "hedgeops.io/last-handled-configuration": "{}",
        "hedgeops.io/validate_policy": "{}", "app.kubernetes.io/name": "x"}) == {
        "hedgeops.io/hallt": "hedgeops.io/halt", "hedgeops.io/close_all": "hedgeops.io/close-all",
        "hedgeop.io/halt": "hedgeops.io/halt", "hedgeops.io/aprove": "hedgeops.io/approve",
        "hedgeops.io/resetbreaker": "hedgeops.io/reset-breaker"}

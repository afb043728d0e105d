"""The chart's kubeVersion is the first Kubernetes release that has every API-server feature the CRDs and the
chart's templates use: derived here from what the generated CRDs contain, each feature with its source."""

from __future__ import annotations

import re
from typing import Any

import yaml

from hedgeops.api import KINDS
from hedgeops.api.crd import crd_for
from hedgeops.api.validate import is_transition_rule

from .conftest import ROOT

# feature -> (first minor where it is on by default, source)
FEATURES: dict[str, tuple[int, str]] = {
    "apiextensions.k8s.io/v1 (structural schemas, defaults, pruning, list-type)": (
        16, "KEP-2332 / KEP-575, apiextensions.k8s.io/v1 GA in 1.16"),
    "x-kubernetes-validations (CEL rules)": (
        25, "KEP-2876: CustomResourceValidationExpressions beta, on by default, in 1.25; GA in 1.29"),
    "transition rules (oldSelf)": (25, "KEP-2876: transition rules ship with the CEL rules (1.25 beta)"),
    "messageExpression": (27, "KEP-2876: messageExpression added in 1.27"),
    "fieldPath / reason": (28, "kubernetes/kubernetes#118041 (KEP-2876): reason and fieldPath added in 1.28"),
    "validation ratcheting": (30, "KEP-4008: CRDValidationRatcheting beta, on by default, in 1.30. Without it every "
                              "write to an object stored before a rule was added (a status patch, kopf removing "
                              "its finalizer) re-runs that rule on the unchanged spec and is refused: such an "
                              "object could neither report InvalidSpec nor be deleted"),
    "policy/v1": (21, "PodDisruptionBudget policy/v1 GA in 1.21"),
    "apps/v1": (9, "apps/v1 GA in 1.9"),
    "v1": (0, "core v1"),
    "rbac.authorization.k8s.io/v1": (8, "RBAC v1 GA in 1.8"),
    "networking.k8s.io/v1": (19, "networking.k8s.io/v1 (NetworkPolicy since 1.7, Ingress since 1.19)"),
    "coordination.k8s.io/v1": (14, "Lease coordination.k8s.io/v1 GA in 1.14"),
    "autoscaling/v2": (23, "autoscaling/v2 GA in 1.23"),
}
# Not Kubernetes' own API groups: their CRDs come with their operators (Prometheus Operator).
THIRD_PARTY = ("monitoring.coreos.com/",)


def _rules(node: dict[str, Any]) -> list[dict[str, str]]:
    out = list(node.get("x-kubernetes-validations", []))
    for sub in node.get("properties", {}).values():
        out += _rules(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out += _rules(node[key])
    return out


def crd_features() -> set[str]:
    """The features the generated CRDs use."""
    used = {"apiextensions.k8s.io/v1 (structural schemas, defaults, pruning, list-type)"}
    for cls in KINDS.values():
        crd = crd_for(cls)
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        for r in _rules(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]):
            used.add("x-kubernetes-validations (CEL rules)")
            if is_transition_rule(r["rule"]):
                used.add("transition rules (oldSelf)")
            if "messageExpression" in r:
                used.add("messageExpression")
            if "fieldPath" in r or "reason" in r:
                used.add("fieldPath / reason")
            used.add("validation ratcheting")  # rules change between releases: objects predate them
    return used


def chart_features() -> set[str]:
    """The API versions the chart's templates create (third-party groups aside)."""
    versions = set()
    for path in (ROOT / "charts" / "hedgeops" / "templates").glob("*.yaml"):
        versions |= set(re.findall(r"^apiVersion:\s*(\S+)", path.read_text(), re.M))
    return {v for v in versions if not v.startswith(THIRD_PARTY)}


def test_the_chart_kube_version_is_the_newest_feature_used() -> None:
    used = crd_features() | chart_features()
    unknown = sorted(used - set(FEATURES))
    assert unknown == [], f"add these to FEATURES with the release that has them: {unknown}"
    minor = max(FEATURES[f][0] for f in used)
    assert minor == 30  # validation ratcheting, today
    chart = yaml.safe_load((ROOT / "charts" / "hedgeops" / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">=1.{minor}.0-0"

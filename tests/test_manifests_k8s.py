"""Everything we ask a cluster to accept is valid for a real API server (issue 14, item 7): every object the chart
renders (defaults and the main value combinations) and every file in manifests/ passes kubernetes-validate's strict
schemas (the API's own OpenAPI with `additionalProperties: false`: a misspelt or misplaced field is an error, as
kubectl's server-side field validation makes it) for each Kubernetes minor the chart's `kubeVersion` admits, up to
the newest one kubernetes-validate ships. Our own kinds are checked by the project's CRD validator
(hedgeops.api.validate: schema, CEL, models; tests/test_crds.py keeps crds/ equal to it). Third-party custom
resources have no schema here: they are named in THIRD_PARTY, and only their metadata is checked."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from hedgeops.api import KINDS
from hedgeops.api.validate import ManifestError, parse_resource
from hedgeops.manifests import read_documents

from .conftest import ROOT

CHART = ROOT / "charts" / "hedgeops"
MANIFESTS = ROOT / "manifests"
OURS = "hedgeops.io/"
# Custom resources of other projects: no schema ships with kubernetes-validate and their CRDs are not ours to load.
# Their content is checked elsewhere (the rules by promtool in tests/test_alert_rules.py, the routing by amtool in
# tests/test_alertmanager_config.py, the health script by
# tests/test_argocd_health.py); here only their metadata. An entry no file uses any more is an error (below).
THIRD_PARTY = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "Prometheus Operator",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "Prometheus Operator",
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): "Prometheus Operator",
    ("argoproj.io/v1alpha1", "Application"): "Argo CD",
}
# Files in manifests/ that hold no Kubernetes object at all.
NOT_OBJECTS = {
    "monitoring/hedgeops-rules.yaml": "a plain Prometheus rule file (promtool checks it in tests/test_alert_rules.py)",
    "monitoring/alertmanager.yaml": "Alertmanager routing (amtool checks it in tests/test_alertmanager_config.py)",
}

# The main value combinations: every toggle of values.yaml on and off, and every user-supplied block the templates
# paste in (tolerations, affinity, extraEnv, ...), so an indentation slip in a template shows up as a wrong field.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "monitoring-and-namespaces": {
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus"}},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}},
        "grafanaDashboard": {"enabled": True, "folder": "Trading"},
        "alertmanagerConfig": {"enabled": True, "chat": {"telegramConfigs": [
            {"botToken": {"name": "telegram", "key": "token"}, "chatID": -100123}]},
            "pager": {"pagerdutyConfigs": [{"routingKey": {"name": "pagerduty", "key": "routingKey"}}]}},
        "watchNamespaces": ["trading", "research"],
        "operator": {"exchangeUrls": {"okx": "https://gw.internal"}, "replayStart": "2025-06-01T00:00:00Z"},
        "webhook": {"trustedProxies": ["10.0.0.0/8", "fd00::/8"]},
    },
    "live": {"operator": {"liveTrading": True, "prices": "live", "maxDataAgeSeconds": "off",
                          "httpHoldingsAllowPrivate": True}},
    "own-redis-url": {"redis": {"enabled": False, "url": "rediss://redis.example:6380/0"}},
    "own-redis-secret": {"redis": {"enabled": False, "existingSecret": {"name": "redis-url", "key": "url"}}},
    "redis-password-secret": {"redis": {"auth": {"existingSecret": {"name": "my-redis", "key": "password"}},
                                        "persistence": {"storageClass": "fast-ssd", "size": "5Gi"}}},
    "redis-ephemeral": {"redis": {"persistence": {"enabled": False}}},
    "webhook-and-netpol-off": {"webhook": {"enabled": False}, "networkPolicy": {"enabled": False}},
    "ports-closed": {"networkPolicy": {"webhookFrom": [], "metricsFrom": []}},
    "ipblock-peers": {"networkPolicy": {"webhookFrom": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                                        "metricsFrom": [{"podSelector": {"matchExpressions": [
                                            {"key": "app", "operator": "In", "values": ["prometheus"]}]}}]}},
    "no-crds-no-service-account": {"crds": {"install": False}, "serviceAccount": {"create": False, "name": "ops"}},
    "crds-not-kept": {"crds": {"keep": False}},
    "one-replica-no-election": {"operator": {"replicas": 1, "leaderElection": {"enabled": False}}},
    "three-replicas-no-pdb": {"operator": {"replicas": 3}, "podDisruptionBudget": {"enabled": False}},
    "scheduling-and-extras": {
        "imagePullSecrets": [{"name": "registry"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "trading", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}]}}},
        "podAnnotations": {"example.com/team": "desk"}, "podLabels": {"team": "desk"},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/hedgeops"}},
        "operator": {"extraEnv": [{"name": "TZ", "value": "UTC"}, {"name": "FROM_SECRET", "valueFrom": {
            "secretKeyRef": {"name": "extra", "key": "value", "optional": True}}}]},
        "resources": {"requests": {"cpu": "200m", "memory": "300Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "nameOverride": "ho", "fullnameOverride": "desk-hedgeops",
    },
}


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def supported_minors() -> list[str]:
    """From the chart's kubeVersion floor to the newest minor kubernetes-validate has schemas for."""
    kube_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    floor = re.fullmatch(r"\s*>=\s*v?(\d+)\.(\d+)(?:\.\d+)?(?:-0)?\s*", kube_version)
    assert floor, f"Chart.yaml kubeVersion {kube_version!r}: expected '>=1.N.0-0'"
    shipped = sorted({_minor(v) for v in kubernetes_validate.utils.all_versions()})
    low = (int(floor[1]), int(floor[2]))
    assert low >= shipped[0], f"kubernetes-validate has no schemas for {low}: the floor cannot be checked"
    return [f"{major}.{minor}" for major, minor in shipped if (major, minor) >= low]


MINORS = supported_minors()


@pytest.fixture(scope="module", autouse=True)
def cached_schemas() -> Iterator[None]:
    """kubernetes-validate reads its 1 MB definitions file on every call; cache the reads (unchanged otherwise) so
    a few hundred validations take a second, not a minute."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kubernetes_validate.utils, "schema_contents",
                   functools.cache(kubernetes_validate.utils.schema_contents))
        yield


@functools.cache
def _chart() -> Any:
    return helm.Chart.load(CHART)


@functools.cache
def rendered(values_id: str) -> list[dict[str, Any]]:
    out = _chart().render(VALUE_SETS[values_id], name="hedgeops", namespace="hedgeops", is_install=True)
    # libyaml: the pure-Python parser takes seconds per render on the CRDs.
    return [d for path, text in sorted(out.items()) if not path.endswith(".txt")
            for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d]


def manifest_files(folder: str | None = None) -> list[Path]:
    """The YAML files of one folder of manifests/, or of all but invalid/ (and NOT_OBJECTS)."""
    files = sorted(p for p in MANIFESTS.rglob("*") if p.suffix in (".yaml", ".yml"))
    if folder:
        return [p for p in files if p.parent.name == folder]
    return [p for p in files if p.parent.name != "invalid" and str(p.relative_to(MANIFESTS)) not in NOT_OBJECTS]


@functools.cache
def documents(path: Path) -> list[dict[str, Any]]:
    return read_documents(path)  # as kubectl reads: timestamps stay strings, aliases and duplicate keys refused


def _name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name', '?')}"


def _schema_problem(doc: dict[str, Any], minor: str) -> str | None:
    """kubernetes-validate's strict verdict on one object, None when valid."""
    try:
        kubernetes_validate.validate(doc, minor, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(map(str, exc.path)) or '(root)'}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError:
        return f"no built-in schema for {doc.get('apiVersion')} {doc.get('kind')}: not ours, not in THIRD_PARTY"
    return None


def _metadata_problem(doc: dict[str, Any], minor: str) -> str | None:
    """A custom resource's metadata is an ObjectMeta like any object's; validate it as a ConfigMap's, the built-in
    kind whose only required part is its metadata."""
    problem = _schema_problem({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata")}, minor)
    return problem and f"metadata as ObjectMeta: {problem}"


def problems(doc: dict[str, Any], minor: str) -> list[str]:
    """What a real API server at this minor would refuse in one object (empty: it accepts it)."""
    return list(_problems(json.dumps(doc, sort_keys=True), minor))


@functools.cache  # the chart and the install manifest hold the same CRDs: validate each object once per minor
def _problems(text: str, minor: str) -> tuple[str, ...]:
    doc = json.loads(text)
    api_version, kind = str(doc.get("apiVersion")), str(doc.get("kind"))
    if api_version.startswith(OURS):
        found = [p for p in [_metadata_problem(doc, minor)] if p]
        try:
            parse_resource(doc, _name(doc))
        except ManifestError as exc:
            found += [str(p) for p in exc.problems]
        return tuple(found)
    if (api_version, kind) in THIRD_PARTY:
        return tuple(p for p in [_metadata_problem(doc, minor)] if p)
    return tuple(p for p in [_schema_problem(doc, minor)] if p)


def _report(sources: dict[str, list[dict[str, Any]]], minor: str) -> list[str]:
    """Every problem, each object validated once however many value sets render it identically (the CRDs ...)."""
    where: dict[str, list[str]] = {}
    objects: dict[str, dict[str, Any]] = {}
    for source, docs in sources.items():
        for doc in docs:
            key = json.dumps(doc, sort_keys=True)
            objects.setdefault(key, doc)
            where.setdefault(key, []).append(source)
    return [f"{', '.join(where[key])}: {_name(doc)}: {p}" for key, doc in objects.items()
            for p in problems(doc, minor)]


@pytest.mark.parametrize("minor", MINORS)
def test_every_object_the_chart_renders_is_valid(minor: str) -> None:
    sources = {f"chart[{values_id}]": rendered(values_id) for values_id in VALUE_SETS}
    assert _report(sources, minor) == []


@pytest.mark.parametrize("minor", MINORS)
def test_every_manifest_file_is_valid(minor: str) -> None:
    sources = {str(path.relative_to(ROOT)): documents(path) for path in manifest_files()}
    assert {"install", "examples", "monitoring", "argocd"} <= {Path(s).parent.name for s in sources}
    assert _report(sources, minor) == []


def test_invalid_examples_are_invalid_only_for_their_own_kind() -> None:
    """manifests/invalid holds only our kinds, whose envelope is sound: what is refused is the spec, by our CRD."""
    for path in manifest_files("invalid"):
        for doc in documents(path):
            assert doc["apiVersion"].startswith(OURS) and doc["kind"] in KINDS, path
            for minor in (MINORS[0], MINORS[-1]):
                assert _metadata_problem(doc, minor) is None, path
            with pytest.raises(ManifestError):
                parse_resource(doc, str(path))


def test_exclusions_are_exactly_what_is_used() -> None:
    for name in NOT_OBJECTS:
        assert all("apiVersion" not in d for d in documents(MANIFESTS / name)), f"{name} holds objects: validate it"
    used = {(d["apiVersion"], d["kind"]) for v in VALUE_SETS for d in rendered(v)}
    used |= {(d["apiVersion"], d["kind"]) for p in manifest_files() for d in documents(p)}
    assert set(THIRD_PARTY) <= used, f"stale THIRD_PARTY entries: {set(THIRD_PARTY) - used}"


def test_the_readmes_kubectl_apply_of_monitoring_names_exactly_the_files_that_hold_objects() -> None:
    """`kubectl apply -f manifests/monitoring/` would fail on the files that are not Kubernetes objects (and skip the
    dashboard's JSON): the README names the object files one by one, and every one of them."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    named = re.findall(r"-f (manifests/monitoring/\S+?)[` ]", readme)
    objects = {str(p.relative_to(ROOT)) for p in manifest_files("monitoring")
               if str(p.relative_to(MANIFESTS)) not in NOT_OBJECTS}
    assert named and set(named) == objects and "kubectl apply -f manifests/monitoring/`" not in readme


def test_strict_validation_refuses_what_the_api_server_refuses() -> None:
    """Not vacuous: a misspelt field, a wrong type and a feature newer than the version are each refused."""
    newest = MINORS[-1]
    deployment = next(d for d in rendered("defaults") if _name(d) == "Deployment/hedgeops")
    typo = yaml.safe_load(yaml.safe_dump(deployment))
    typo["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
    assert any("imagePulPolicy" in p for p in problems(typo, newest))
    wrong_type = yaml.safe_load(yaml.safe_dump(deployment))
    wrong_type["spec"]["replicas"] = "one"
    assert any("replicas" in p for p in problems(wrong_type, newest))
    book = yaml.safe_load(yaml.safe_dump(documents(MANIFESTS / "examples" / "hedgebook-spot.yaml")[0]))
    book["metadata"]["labels"] = {"team": 7}  # label values are strings: kubectl refuses the number
    assert any("metadata as ObjectMeta" in p for p in problems(book, newest))
    # x-kubernetes-validations[].fieldPath and reason came in 1.28: a 1.27 API server's CRD schema has neither.
    crds = [d for d in rendered("defaults") if d["kind"] == "CustomResourceDefinition"]
    assert any("'fieldPath' was unexpected" in p for crd in crds for p in problems(crd, "1.27"))


def test_the_readme_counts_the_value_combinations_and_minors_checked_here() -> None:
    text = " ".join((ROOT / "README.md").read_text().split())
    floor = MINORS[0]
    assert f"Every object the chart renders ({len(VALUE_SETS)} value combinations)" in text
    assert f"from the chart's `kubeVersion` ({floor}) to {MINORS[-1]} with `kubernetes-validate --strict`" in text

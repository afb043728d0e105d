"""The Helm chart, rendered and strictly linted by real Helm (helm-python-sdk bundles Helm's Go library): what it
installs, that the operator can read the settings it gives, that its RBAC covers every resource kopf is told to
watch, and that the plain manifests rendered from it are current."""

from __future__ import annotations

import sys
from typing import Any

import helm_python as helm
import pytest
import yaml

from hedgeops.api.crd import render_all
from hedgeops.operator.settings import OperatorSettings

from .conftest import ROOT
from .kube_env import container_env, secrets_of
from .operator_fixtures import handlers_registry

CHART = ROOT / "charts" / "hedgeops"
ALL_ON = {"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": True},
          "grafanaDashboard": {"enabled": True},
          "alertmanagerConfig": {"enabled": True, "pager": {"webhookConfigs": [{"url": "http://gw:9095/pager"}]},
                                 "chat": {"webhookConfigs": [{"url": "http://gw:9095/chat"}]}},
          "watchNamespaces": ["trading", "research"], "operator": {"exchangeUrls": {"okx": "https://gw.internal"}}}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out = helm.Chart.load(CHART).render(values or {}, name="hedgeops", namespace="hedgeops", is_install=True)
    return [d for path, text in sorted(out.items()) if not path.endswith(".txt") for d in yaml.safe_load_all(text) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


@pytest.mark.parametrize("values", [{}, ALL_ON], ids=["defaults", "everything-on"])
def test_chart_lints_strictly(values: dict[str, Any]) -> None:
    report = helm.lint(str(CHART), values, strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


def test_defaults_install_a_safe_operator_with_redis() -> None:
    docs = render()
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] != "CustomResourceDefinition")
    assert kinds == [("ClusterRole", "hedgeops"), ("ClusterRoleBinding", "hedgeops"), ("Deployment", "hedgeops"),
                     ("Deployment", "hedgeops-redis"), ("NetworkPolicy", "hedgeops"),
                     ("NetworkPolicy", "hedgeops-redis"), ("PersistentVolumeClaim", "hedgeops-redis"),
                     ("Pod", "hedgeops-test"), ("Role", "hedgeops-leader-election"),
                     ("RoleBinding", "hedgeops-leader-election"), ("Secret", "hedgeops-redis-auth"),
                     ("Service", "hedgeops-metrics"), ("Service", "hedgeops-redis"), ("Service", "hedgeops-webhook"),
                     ("ServiceAccount", "hedgeops")]  # the Pod is `helm test`'s (tests/test_chart_hygiene.py)
    op = one(docs, "Deployment", "hedgeops")
    # Active and standby (issue 14 item 10): the standby waits on the Lease, so a rolling update is safe.
    assert op["spec"]["replicas"] == 2 and op["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = op["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probe"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "probe"}
    assert container["args"] == ["operator"]  # cluster-wide
    env = env_of(op)
    assert env["HEDGEOPS_LIVE_TRADING"] == "false" and env["HEDGEOPS_PRICES"] == "replay"  # Paper unless told
    # The password is the kubelet's to fill in from the Secret (tests/test_chart_security.py runs it).
    assert env["HEDGEOPS_REDIS_URL"] == "redis://:$(REDIS_PASSWORD)@hedgeops-redis:6379/0"
    assert one(docs, "Service", "hedgeops-redis")["spec"]["ports"][0]["port"] == 6379
    redis_args = one(docs, "Deployment", "hedgeops-redis")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert redis_args[:2] == ["--appendonly", "yes"]  # the journal survives a Redis restart


def test_the_operator_reads_the_settings_the_chart_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(ALL_ON)
    secrets = secrets_of(docs)
    env = container_env(one(docs, "Deployment", "hedgeops")["spec"]["template"]["spec"]["containers"][0], secrets)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = OperatorSettings.from_env()
    assert settings.problems() == []
    password = secrets[("hedgeops-redis-auth", "password")]
    assert settings.redis_url == f"redis://:{password}@hedgeops-redis:6379/0" and settings.webhook_port == 8081
    assert settings.exchange_urls == {"okx": "https://gw.internal"} and settings.metrics_port == 9108
    assert settings.leader_election and settings.lease_name == "hedgeops" and settings.namespace == "hedgeops"
    assert (settings.lease_duration_seconds, settings.lease_renew_deadline_seconds, settings.lease_retry_seconds) == (
        15, 10, 2)
    off = env_of(one(render({"webhook": {"enabled": False}, "redis": {"enabled": False}, "operator": {"replicas": 1}}),
                     "Deployment", "hedgeops"))
    assert off["HEDGEOPS_WEBHOOK_PORT"] == "off" and "HEDGEOPS_REDIS_URL" not in off


def test_one_replica_has_no_disruption_budget_and_more_than_one_needs_redis() -> None:
    single = render({"operator": {"replicas": 1}, "podDisruptionBudget": {"enabled": True}})
    assert one(single, "Deployment", "hedgeops")["spec"]["replicas"] == 1
    assert not [d for d in single if d["kind"] == "PodDisruptionBudget"]  # minAvailable 1 of 1 blocks every drain
    with pytest.raises(helm.HelmError, match="needs Redis"):
        render({"redis": {"enabled": False}})  # two replicas, each with its own in-memory locks
    assert render({"redis": {"enabled": False, "url": "redis://mine:6379/0"}})
    with pytest.raises(helm.HelmError, match="renewDeadlineSeconds must be below leaseDurationSeconds"):
        render({"operator": {"leaderElection": {"leaseDurationSeconds": 10, "renewDeadlineSeconds": 10}}})
    off = render({"operator": {"leaderElection": {"enabled": False}}})
    assert env_of(one(off, "Deployment", "hedgeops"))["HEDGEOPS_LEADER_ELECTION"] == "false"
    assert not [d for d in off if d["kind"] == "Role"]


def test_live_trading_without_live_prices_is_refused_at_render() -> None:
    with pytest.raises(helm.HelmError, match=r"needs operator\.prices: live"):
        render({"operator": {"liveTrading": True}})
    env = env_of(one(render({"operator": {"liveTrading": True, "prices": "live"}}), "Deployment", "hedgeops"))
    assert env["HEDGEOPS_LIVE_TRADING"] == "true"
    assert env["HEDGEOPS_STREAMING"] == "false"  # polling unless told


def test_streaming_needs_live_trading_and_reaches_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(helm.HelmError, match=r"streams Live accounts only"):
        render({"operator": {"streaming": True}})
    values = {"operator": {"liveTrading": True, "prices": "live", "streaming": True, "streamMinSpacingSeconds": 0.5}}
    env = env_of(one(render(values), "Deployment", "hedgeops"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = OperatorSettings.from_env()
    assert settings.streaming and settings.stream_min_spacing_seconds == 0.5 and settings.problems() == []
    with pytest.raises(helm.HelmError) as caught:
        helm.Chart.load(CHART).validate_schema({"operator": {"streamMinSpacingSeconds": 0.001}})
    assert "streamMinSpacingSeconds" in str(caught.value)


@pytest.mark.parametrize("values, words", [
    ({"operator": {"tickSeconds": 0}}, "tickSeconds"),
    ({"operator": {"prices": "yesterday"}}, "prices"),
    ({"webhook": {"port": 8080}}, "port"),  # the liveness probe's port
    ({"redis": {"url": "http://redis"}}, "url"),
    ({"replicas": 2}, "replicas"),  # unknown keys are typos, not silently ignored
    ({"operator": {"replicas": 0}}, "replicas"),
    ({"operator": {"leaderElection": {"leaseDuration": 15}}}, "leaseDuration"),
])
def test_bad_values_are_refused_naming_the_key(values: dict[str, Any], words: str) -> None:
    with pytest.raises(helm.HelmError) as caught:
        helm.Chart.load(CHART).validate_schema(values)
    assert words in str(caught.value)


def test_rbac_covers_what_kopf_watches_and_patches() -> None:
    registry = handlers_registry()
    selectors = [h.selector for reg in (registry._indexing, registry._spawning, registry._changing,
                                        registry._watching) for h in reg.get_all_handlers()]
    watched = {(s.group or "", s.any_name) for s in selectors if s is not None}
    assert ("hedgeops.io", "hedgebooks") in watched and ("", "configmaps") in watched
    for values in ({}, {"watchNamespaces": ["trading"]}):
        docs = render(values)
        election = one(docs, "Role", "hedgeops-leader-election")
        roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role") and d is not election]
        assert roles
        # The Lease: only in the operator's own namespace, only the release's one by name (create cannot be named).
        assert election["metadata"]["namespace"] == "hedgeops"
        assert election["rules"] == [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["hedgeops"],
             "verbs": ["get", "patch"]}]
        binding = one(docs, "RoleBinding", "hedgeops-leader-election")
        assert binding["roleRef"]["name"] == "hedgeops-leader-election"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hedgeops", "namespace": "hedgeops"}]
        assert not any("coordination.k8s.io" in r["apiGroups"] for role in roles for r in role["rules"])

        def allowed(group: str, resource: str, verb: str, rules: list[dict[str, Any]]) -> bool:
            return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)

        for role in roles:
            rules = role["rules"]
            for group, resource in watched:
                for verb in ("list", "watch"):  # kopf's watches (a get is asked for where it is used)
                    assert allowed(group, resource, verb, rules), (group, resource, verb)
                if group == "hedgeops.io":  # kopf's annotations and finalizers, and our status
                    assert allowed(group, resource, "patch", rules)
                    assert allowed(group, f"{resource}/status", "patch", rules)
            assert allowed("", "events", "create", rules)
            assert allowed("", "secrets", "get", rules)  # credentials and the webhook passphrase, by name
            assert not allowed("", "secrets", "list", rules)  # never every secret in the namespace
            # Least privilege: exactly what the operator uses. The tests' API server grants the operator only
            # these rules (tests/kube_emulator.py), so a verb missing here fails the operator tests, and one
            # added here that nothing uses fails this line.
            assert rules == LEAST_PRIVILEGE, rules
    namespaced = render({"watchNamespaces": ["trading", "research"]})
    assert {d["metadata"]["namespace"] for d in namespaced if d["kind"] == "Role"} == {"trading", "research",
                                                                                          "hedgeops"}
    assert one(namespaced, "Deployment", "hedgeops")["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "operator", "--namespace=trading", "--namespace=research"]


LEAST_PRIVILEGE = [
    {"apiGroups": ["hedgeops.io"], "resources": ["hedgebooks", "rebalancepolicies", "fundingarbitrages",
                                                 "marketmakers"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["hedgeops.io"], "resources": ["hedgebooks/status", "rebalancepolicies/status",
                                                 "fundingarbitrages/status", "marketmakers/status"],
     "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}]


def test_crds_are_the_generated_ones_and_kept_on_uninstall() -> None:
    generated = {yaml.safe_load(t)["metadata"]["name"]: yaml.safe_load(t) for t in render_all().values()}
    rendered = [d for d in render() if d["kind"] == "CustomResourceDefinition"]
    assert {d["metadata"]["name"] for d in rendered} == set(generated)
    for crd in rendered:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert crd["spec"] == generated[crd["metadata"]["name"]]["spec"]
    assert not [d for d in render({"crds": {"install": False}}) if d["kind"] == "CustomResourceDefinition"]
    loose = [d for d in render({"crds": {"keep": False}}) if d["kind"] == "CustomResourceDefinition"]
    assert all("helm.sh/resource-policy" not in (d["metadata"].get("annotations") or {}) for d in loose)


def test_monitoring_toggles_select_the_operator_metrics_service() -> None:
    docs = render(ALL_ON)
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service", "hedgeops-metrics")
    labels = service["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    rule = one(docs, "PrometheusRule")
    assert 'up{job="hedgeops-metrics"}' in rule["spec"]["groups"][0]["rules"][0]["expr"]  # the Service's name
    assert not [d for d in render() if d["kind"] in ("ServiceMonitor", "PrometheusRule")]


def test_existing_redis_secret_is_referenced_not_copied() -> None:
    docs = render({"redis": {"enabled": False, "existingSecret": {"name": "redis-auth", "key": "url"}}})
    container = one(docs, "Deployment", "hedgeops")["spec"]["template"]["spec"]["containers"][0]
    ref = next(e for e in container["env"] if e["name"] == "HEDGEOPS_REDIS_URL")
    assert ref == {"name": "HEDGEOPS_REDIS_URL", "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "url"}}}
    assert not [d for d in docs if d["metadata"]["name"].endswith("-redis")]


def test_plain_manifests_are_rendered_from_the_chart() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import render_manifests
    finally:
        sys.path.pop(0)
    assert render_manifests.main(["--check"]) == 0, "run `python scripts/render_manifests.py`"


@pytest.mark.parametrize("job, expected", [("", "hedgeops-metrics"), ("kubernetes-pods", "kubernetes-pods")])
def test_the_operator_down_rule_reads_the_job_prometheus_gives_it(job: str, expected: str) -> None:
    # Another scrape config names the job otherwise: with the default name, absent() would page for ever.
    rule = one(render({"prometheusRule": {"enabled": True, "job": job}}), "PrometheusRule")
    down = next(r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "HedgeOpsOperatorDown")
    assert down["expr"] == f'max by (job) (up{{job="{expected}"}}) == 0 or absent(up{{job="{expected}"}})'

"""Chart hygiene (issue 18, item 8), rendered by real Helm: the operator's readiness probe, the opt-in
PodDisruptionBudget, the `helm test` Pod (its script run here against stand-in endpoints), Redis's password from a
Secret and its NetworkPolicy, `global` accepted for use as a subchart, the six app.kubernetes.io labels on every
object and pod, and the operator's log format."""

from __future__ import annotations

import base64
import functools
import json
import re
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import helm_python as helm
import pytest
import yaml

from hedgeops.cli import build_parser

from .test_chart import ALL_ON, CHART, env_of, one
from .test_chart import render as render_chart
from .test_chart_security import INGRESS, NEIGHBOUR, PROMETHEUS, TENANT, Pod, pod_of, reaches, selects

SIX = ("name", "instance", "version", "component", "part-of", "managed-by")
EVERYTHING = {**ALL_ON, "podDisruptionBudget": {"enabled": True}}


@functools.cache
def _render(values: str) -> list[dict[str, Any]]:
    return render_chart(json.loads(values))


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart rendered once per set of values (a render takes a good part of a second; no test changes it)."""
    return _render(json.dumps(values or {}, sort_keys=True))


def container(docs: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    return one(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_the_operator_is_ready_once_kopf_serves_its_health_endpoint() -> None:
    spec = container(render(), "hedgeops")
    probe_port = next(p["containerPort"] for p in spec["ports"] if p["name"] == "probe")
    assert spec["readinessProbe"]["httpGet"] == spec["livenessProbe"]["httpGet"] == {"path": "/healthz",
                                                                                     "port": "probe"}
    # ... which is where `hedgeops operator` puts kopf's health server (the chart passes no --liveness).
    default = urllib.parse.urlsplit(build_parser().parse_args(["operator"]).liveness)
    assert (default.port, default.path) == (probe_port, "/healthz") and spec["args"] == ["operator"]
    # Ready sooner than a hung process is restarted.
    ready, live = spec["readinessProbe"], spec["livenessProbe"]
    assert ready["periodSeconds"] * ready["failureThreshold"] < live["periodSeconds"] * live["failureThreshold"]


def test_the_disruption_budget_is_opt_in() -> None:
    assert not [d for d in render() if d["kind"] == "PodDisruptionBudget"]
    docs = render({"podDisruptionBudget": {"enabled": True}})
    pdb = one(docs, "PodDisruptionBudget", "hedgeops")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == one(docs, "Deployment", "hedgeops")["spec"]["selector"][
        "matchLabels"]
    # One replica: none (it would block every drain); minAvailable not below the replicas: refused for that reason.
    assert not [d for d in render({"podDisruptionBudget": {"enabled": True}, "operator": {"replicas": 1}})
                if d["kind"] == "PodDisruptionBudget"]
    with pytest.raises(helm.HelmError, match=r"minAvailable must be below operator\.replicas"):
        render({"podDisruptionBudget": {"enabled": True, "minAvailable": 2}})
    three = render({"podDisruptionBudget": {"enabled": True, "minAvailable": 2}, "operator": {"replicas": 3}})
    assert one(three, "PodDisruptionBudget", "hedgeops")["spec"]["minAvailable"] == 2


# --- helm test ---------------------------------------------------------------------------------------------------


def test_pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    hooks = [d for d in docs if (d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    assert len(hooks) == 1 and hooks[0]["kind"] == "Pod", hooks
    return hooks[0]


test_pod.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def urls_of(script: str) -> list[urllib.parse.SplitResult]:
    return [urllib.parse.urlsplit(u) for u in re.findall(r'"(http://[^"]+)"', script)]


def test_helm_test_pod_checks_health_and_metrics_through_the_service() -> None:
    docs = render()
    pod = test_pod(docs)
    assert pod["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    check = spec["containers"][0]
    operator = container(docs, "hedgeops")
    assert check["image"] == operator["image"] and check["command"] == ["python", "-c"]  # the operator's own image
    assert check["securityContext"]["readOnlyRootFilesystem"] is True
    # Each URL names the metrics Service and a port it exposes, whose target is the operator's port of that use.
    service = one(docs, "Service", "hedgeops-metrics")
    exposed = {p["port"]: p["targetPort"] for p in service["spec"]["ports"]}
    container_ports = {p["name"]: p["containerPort"] for p in operator["ports"]}
    urls = urls_of(check["args"][0])
    assert [(u.hostname, u.path) for u in urls] == [("hedgeops-metrics", "/healthz"), ("hedgeops-metrics", "/metrics")]
    assert [exposed[u.port] for u in urls] == ["probe", "metrics"]
    assert [container_ports[exposed[u.port]] for u in urls] == [8080, 9108]
    assert all(selects({"matchLabels": service["spec"]["selector"]}, pod_of(docs, "hedgeops").labels) for _ in urls)
    # The ServiceMonitor still scrapes the metrics port only.
    monitor = one(render(ALL_ON), "ServiceMonitor")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert not [d for d in render({"tests": {"enabled": False}}) if d["kind"] == "Pod"]


def test_the_network_policy_lets_only_the_test_pod_reach_health_and_metrics() -> None:
    docs = render()
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    operator, store = pod_of(docs, "hedgeops"), pod_of(docs, "hedgeops-redis")
    tester = Pod("hedgeops", test_pod(docs)["metadata"]["labels"])
    for port in (operator.ports["probe"], operator.ports["metrics"]):
        assert reaches(policies, tester, operator, port)
        for src in (NEIGHBOUR, TENANT, INGRESS, store):
            assert not reaches(policies, src, operator, port), (src, port)
    assert not reaches(policies, tester, operator, operator.ports["webhook"])
    assert not reaches(policies, tester, store, 6379)
    off = render({"tests": {"enabled": False}})
    policies = [d for d in off if d["kind"] == "NetworkPolicy"]
    assert not reaches(policies, tester, operator, operator.ports["probe"])
    assert reaches(policies, PROMETHEUS, operator, operator.ports["metrics"])


class _Stub(BaseHTTPRequestHandler):
    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def stub_operator() -> Iterator[dict[str, int]]:
    """Stand-ins for kopf's health server and the metrics server, on free ports: use name -> port."""
    health = type("Health", (_Stub,), {"bodies": {"/healthz": b"{}"}})
    metrics = type("Metrics", (_Stub,), {"bodies": {"/metrics": b'hedgeops_build_info{version="0.1.0"} 1.0\n'}})
    servers = {name: ThreadingHTTPServer(("127.0.0.1", 0), handler)
               for name, handler in (("probe", health), ("metrics", metrics))}
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers.values()]
    for t in threads:
        t.start()
    try:
        yield {name: s.server_address[1] for name, s in servers.items()}
    finally:
        for s in servers.values():
            s.shutdown()
            s.server_close()


def run_test_script(script: str, ports: dict[str, int], deadline: int) -> subprocess.CompletedProcess[str]:
    """The Pod's script with the Service's address replaced by the stand-ins' (and a shorter deadline)."""
    assert "DEADLINE_SECONDS = 60" in script
    script = script.replace("DEADLINE_SECONDS = 60", f"DEADLINE_SECONDS = {deadline}")
    script = script.replace("http://hedgeops-metrics:8080/", f"http://127.0.0.1:{ports['probe']}/")
    script = script.replace("http://hedgeops-metrics:9108/", f"http://127.0.0.1:{ports['metrics']}/")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_the_helm_test_script_passes_on_a_serving_operator_and_fails_otherwise(stub_operator: dict[str, int]) -> None:
    script = test_pod(render())["spec"]["containers"][0]["args"][0]
    ok = run_test_script(script, stub_operator, 10)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines() == [f"health: ok (http://127.0.0.1:{stub_operator['probe']}/healthz)",
                                      f"metrics: ok (http://127.0.0.1:{stub_operator['metrics']}/metrics)"]
    # Metrics without HedgeOps' series (another process on that port) and a health endpoint that is not there.
    wrong = run_test_script(script, {"probe": stub_operator["probe"], "metrics": stub_operator["probe"]}, 0)
    assert wrong.returncode == 1 and "metrics: FAILED" in wrong.stdout
    missing = run_test_script(script, {"probe": stub_operator["metrics"], "metrics": stub_operator["metrics"]}, 0)
    assert missing.returncode == 1 and "health: FAILED" in missing.stdout and "HTTP Error 404" in missing.stdout


# --- Redis -----------------------------------------------------------------------------------------------------------


def secret_ref(spec: dict[str, Any], name: str) -> dict[str, str]:
    var = next(e for e in spec["env"] if e["name"] == name)
    assert "value" not in var, var  # from the Secret, never a literal
    return var["valueFrom"]["secretKeyRef"]  # type: ignore[no-any-return]


def test_redis_requires_the_password_the_operator_reads_from_the_same_secret() -> None:
    docs = render()
    secret = one(docs, "Secret", "hedgeops-redis-auth")
    password = base64.b64decode(secret["data"]["password"]).decode()
    store, operator = container(docs, "hedgeops-redis"), container(docs, "hedgeops")
    ref = {"name": "hedgeops-redis-auth", "key": "password"}
    assert secret_ref(store, "REDIS_PASSWORD") == secret_ref(operator, "REDIS_PASSWORD") == ref
    assert store["args"][store["args"].index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    names = [e["name"] for e in operator["env"]]
    # The kubelet expands $(REDIS_PASSWORD) only from a variable defined before the one using it.
    assert names.index("REDIS_PASSWORD") < names.index("HEDGEOPS_REDIS_URL")
    assert env_of(one(docs, "Deployment", "hedgeops"))["HEDGEOPS_REDIS_URL"] == (
        "redis://:$(REDIS_PASSWORD)@hedgeops-redis:6379/0")
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        assert password not in yaml.safe_dump(deployment), deployment["metadata"]["name"]
    # Your own Secret (redis.auth.existingSecret): referenced by both, none generated.
    own = render({"redis": {"auth": {"existingSecret": {"name": "my-redis", "key": "pass"}}}})
    assert not [d for d in own if d["kind"] == "Secret"]
    for name in ("hedgeops", "hedgeops-redis"):
        assert secret_ref(container(own, name), "REDIS_PASSWORD") == {"name": "my-redis", "key": "pass"}


def test_the_redis_network_policy_admits_only_the_operator_on_the_redis_port() -> None:
    docs = render()
    redis_pods = one(docs, "Deployment", "hedgeops-redis")["spec"]["template"]["metadata"]["labels"]
    operator = one(docs, "Deployment", "hedgeops")
    operator_pods = operator["spec"]["template"]["metadata"]["labels"]
    policy = one(docs, "NetworkPolicy", "hedgeops-redis")
    assert selects(policy["spec"]["podSelector"], redis_pods)
    assert not selects(policy["spec"]["podSelector"], operator_pods)
    assert policy["spec"]["ingress"] == [{
        "ports": [{"port": 6379, "protocol": "TCP"}],
        "from": [{"podSelector": {"matchLabels": operator["spec"]["selector"]["matchLabels"]}}]}]
    assert selects(policy["spec"]["ingress"][0]["from"][0]["podSelector"], operator_pods)
    assert not selects(policy["spec"]["ingress"][0]["from"][0]["podSelector"], redis_pods)
    redis_port = container(docs, "hedgeops-redis")["ports"][0]
    assert redis_port == {"name": "redis", "containerPort": 6379, "protocol": "TCP"}


# --- subchart, labels, log format ----------------------------------------------------------------------------------


def test_global_values_from_a_parent_chart_are_accepted() -> None:
    values = {"global": {"foo": "bar", "imageRegistry": "registry.internal"}}
    helm.Chart.load(CHART).validate_schema(values)  # --set global.foo=bar
    assert one(render(values), "Deployment", "hedgeops")
    report = helm.lint(str(CHART), values, strict=True)
    assert not [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]


def labelled(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, str]]]:
    """Every object's labels, and every pod template's."""
    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        yield name, d["metadata"].get("labels") or {}
        template = (d.get("spec") or {}).get("template")
        if template:
            yield f"{name} pods", template["metadata"].get("labels") or {}


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything-on"])
def test_every_object_and_pod_carries_the_six_app_kubernetes_io_labels(values: dict[str, Any]) -> None:
    docs = render(values)
    seen = 0
    for name, labels in labelled(docs):
        seen += 1
        missing = [k for k in SIX if not labels.get(f"app.kubernetes.io/{k}")]
        assert not missing, f"{name} lacks app.kubernetes.io/{', '.join(missing)}"
        assert labels["app.kubernetes.io/instance"] == "hedgeops" and labels["app.kubernetes.io/part-of"] == "hedgeops"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    assert seen >= 20


def test_redis_pods_are_their_own_component_and_selectors_do_not_overlap() -> None:
    docs = render()
    store, operator = one(docs, "Deployment", "hedgeops-redis"), one(docs, "Deployment", "hedgeops")
    assert store["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "redis"
    assert operator["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    for a, b in ((store, operator), (operator, store)):
        assert selects(a["spec"]["selector"], a["spec"]["template"]["metadata"]["labels"])
        assert not selects(a["spec"]["selector"], b["spec"]["template"]["metadata"]["labels"])
    assert not selects({"matchLabels": one(docs, "Service", "hedgeops-redis")["spec"]["selector"]},
                       operator["spec"]["template"]["metadata"]["labels"])
    tester = test_pod(docs)["metadata"]["labels"]
    assert not selects(operator["spec"]["selector"], tester) and not selects(store["spec"]["selector"], tester)


def test_log_format_is_a_value_passed_to_the_operator() -> None:
    assert env_of(one(render(), "Deployment", "hedgeops"))["HEDGEOPS_LOG_FORMAT"] == "json"
    text = render({"operator": {"logFormat": "text"}})
    assert env_of(one(text, "Deployment", "hedgeops"))["HEDGEOPS_LOG_FORMAT"] == "text"
    with pytest.raises(helm.HelmError, match="logFormat"):
        helm.Chart.load(CHART).validate_schema({"operator": {"logFormat": "yaml"}})


def test_every_chart_value_the_readme_names_is_in_values_yaml() -> None:
    """`operator.prices=live`, `redis.enabled=false`, `operator.logFormat`...: a renamed value would leave the README
    telling users to set something the chart ignores."""
    from .conftest import ROOT

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    named = set(re.findall(r"`([a-zA-Z]+(?:\.[a-zA-Z]+)+)(?:=[^`\s]*)?`", (ROOT / "README.md").read_text()))
    chart_values = {n for n in named if n.split(".")[0] in values}
    assert {"operator.liveTrading", "operator.prices", "operator.logFormat", "redis.enabled"} <= chart_values
    missing, objects = [], []
    for name in chart_values:
        node: Any = values
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(name)
                break
            node = node[part]
        else:
            if isinstance(node, dict) and node:
                objects.append(name)  # `--set redis.auth.existingSecret=x` fails: "got string, want object"
    assert missing == [] and objects == []

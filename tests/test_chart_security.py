"""The chart's network security (issue 13, finding 6), rendered by real Helm: the bundled Redis requires a password
that only a Secret holds (proved against a real redis-server started with the rendered command line), NetworkPolicies
judged by Kubernetes' own rules for who reaches Redis, the webhook and the metrics, and `watchNamespaces` as the secure
mode that keeps Secrets out of the operator's reach outside the namespaces it serves."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry

from hedgeops.operator.settings import OperatorSettings

from .conftest import ROOT, free_port
from .kube_env import command_line, container_env, secrets_of

CHART = ROOT / "charts" / "hedgeops"


def render_text(values: dict[str, Any] | None = None) -> dict[str, str]:
    out = helm.Chart.load(CHART).render(values or {}, name="hedgeops", namespace="hedgeops", is_install=True)
    return {path.split("/", 1)[1]: text for path, text in out.items()}


def docs_of(texts: dict[str, str]) -> list[dict[str, Any]]:
    return [d for path, text in sorted(texts.items()) if not path.endswith(".txt")
            for d in yaml.safe_load_all(text) if d]


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return docs_of(render_text(values))


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} {name}"
    return found[0]


def container(docs: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    return one(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def client(port: int, password: str | None = None) -> redis.Redis:
    """No retries: redis-py retries an authentication error with backoff (seconds per refused attempt)."""
    return redis.Redis(port=port, password=password, socket_timeout=2, retry=Retry(NoBackoff(), 0))


def secret_refs(spec: dict[str, Any]) -> list[dict[str, str]]:
    return [e["valueFrom"]["secretKeyRef"] for e in spec.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]


# --- 1. Redis requires a password, from a Secret -------------------------------------------------------------------


@pytest.fixture
def chart_redis(tmp_path: Path) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """The default render, and a real redis-server started with the rendered container's command line and env."""
    docs = render()
    spec = container(docs, "hedgeops-redis")
    env = container_env(spec, secrets_of(docs))
    args = command_line(spec, env)
    assert args[args.index("--dir") + 1] == "/data"
    args[args.index("--dir") + 1] = str(tmp_path)  # the volume; the port: another test may hold 6379
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; `make test` installs it with apt-get")
    proc = subprocess.Popen([binary, *args, "--port", str(port), "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                client(port).ping()
                break
            except redis.AuthenticationError:
                break  # up, and asking for a password
            except redis.ConnectionError:
                time.sleep(0.05)
        yield docs, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bundled_redis_refuses_clients_without_the_password(chart_redis: tuple[list[dict[str, Any]], int]) -> None:
    _, port = chart_redis
    with pytest.raises(redis.AuthenticationError):
        client(port).ping()  # any pod in the cluster, before this: PONG
    with pytest.raises(redis.AuthenticationError):
        client(port, "guess").ping()


def test_the_operator_reaches_redis_with_the_url_kubernetes_builds(chart_redis: tuple[list[dict[str, Any]], int],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    docs, port = chart_redis
    spec = container(docs, "hedgeops")
    url_var = next(e for e in spec["env"] if e["name"] == "HEDGEOPS_REDIS_URL")
    assert "valueFrom" not in url_var and "$(REDIS_PASSWORD)" in url_var["value"]  # expanded by the kubelet
    env = container_env(spec, secrets_of(docs))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = OperatorSettings.from_env()  # reads HEDGEOPS_REDIS_URL as before: no code change needed
    assert settings.redis_url is not None and "hedgeops-redis:6379" in settings.redis_url
    operator = redis.Redis.from_url(settings.redis_url.replace("hedgeops-redis:6379", f"127.0.0.1:{port}"),
                                    socket_timeout=2)
    assert operator.ping() is True
    operator.close()


def run_probe(spec: dict[str, Any], env: dict[str, str], port: int) -> int:
    command = [part.replace("-p 6379", f"-p {port}") for part in spec["readinessProbe"]["exec"]["command"]]
    return subprocess.run(command, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, timeout=10).returncode


def test_redis_readiness_probe_authenticates_and_fails_when_it_cannot(
        chart_redis: tuple[list[dict[str, Any]], int]) -> None:
    docs, port = chart_redis
    spec = container(docs, "hedgeops-redis")
    env = container_env(spec, secrets_of(docs))
    assert run_probe(spec, env, port) == 0
    # redis-cli exits 0 on an error reply ("NOAUTH"), so a bare `redis-cli ping` would call a locked Redis ready.
    assert run_probe(spec, {k: v for k, v in env.items() if k != "REDISCLI_AUTH"}, port) != 0
    assert run_probe(spec, {**env, "REDISCLI_AUTH": "wrong"}, port) != 0
    assert spec["livenessProbe"] == {"tcpSocket": {"port": "redis"}, "periodSeconds": 20}


def test_the_password_is_generated_once_and_appears_only_in_its_secret() -> None:
    texts = render_text()
    docs = docs_of(texts)
    secret = one(docs, "Secret", "hedgeops-redis-auth")
    password = base64.b64decode(secret["data"]["password"]).decode()
    assert len(password) == 32 and password.isalnum()
    for path, text in texts.items():
        if path != "templates/redis-secret.yaml":
            assert password not in text and secret["data"]["password"] not in text, path
    for name in ("hedgeops", "hedgeops-redis"):
        assert {"name": "hedgeops-redis-auth", "key": "password"} in secret_refs(container(docs, name)), name
    assert render_text()["templates/redis-secret.yaml"] != texts["templates/redis-secret.yaml"]  # random per render
    # ... and kept across `helm upgrade`: the template reads the live Secret first (lookup is empty offline).
    template = (CHART / "templates" / "redis-secret.yaml").read_text(encoding="utf-8")
    assert 'lookup "v1" "Secret" .Release.Namespace' in template


def test_an_existing_password_secret_is_referenced_not_generated() -> None:
    docs = render({"redis": {"auth": {"existingSecret": {"name": "my-redis", "key": "pass"}}}})
    assert not [d for d in docs if d["kind"] == "Secret"]
    for name in ("hedgeops", "hedgeops-redis"):
        assert {"name": "my-redis", "key": "pass"} in secret_refs(container(docs, name)), name
    env = container_env(container(docs, "hedgeops"), {("my-redis", "pass"): "s3cret"})
    assert env["HEDGEOPS_REDIS_URL"] == "redis://:s3cret@hedgeops-redis:6379/0"
    # Your own Redis (redis.enabled=false): no bundled Redis, no generated Secret, the URL as given.
    own = render({"redis": {"enabled": False, "url": "redis://redis.shared:6379/1"}})
    assert not [d for d in own if d["kind"] == "Secret" or d["metadata"]["name"].endswith("-redis")]
    assert container_env(container(own, "hedgeops"), {})["HEDGEOPS_REDIS_URL"] == "redis://redis.shared:6379/1"


def test_plain_manifests_hold_no_password() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import render_manifests
    finally:
        sys.path.pop(0)
    first, second = render_manifests.expected(), render_manifests.expected()
    assert first == second  # deterministic: a password generated at render time would be committed to git
    install = [d for d in yaml.safe_load_all(first[ROOT / "manifests/install/hedgeops.yaml"]) if d]
    assert not [d for d in install if d["kind"] == "Secret"]
    assert {"name": "hedgeops-redis-auth", "key": "password"} in secret_refs(container(install, "hedgeops-redis"))
    assert "kubectl -n hedgeops create secret generic hedgeops-redis-auth" in first[
        ROOT / "manifests/install/hedgeops.yaml"]  # the file says how to create it


# --- 2. NetworkPolicies, judged by Kubernetes' rules -----------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # named container ports


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector; `{}` selects everything."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def ns_labels(namespace: str, extra: dict[str, dict[str, str]]) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace, **extra.get(namespace, {})}


def peer_admits(peer: dict[str, Any], src: Pod, policy_ns: str, namespaces: dict[str, dict[str, str]]) -> bool:
    if "ipBlock" in peer:  # pod IPs are not modelled: fail loudly rather than judge kindly
        raise NotImplementedError("ipBlock peers")
    if "namespaceSelector" in peer:
        in_ns = selects(peer["namespaceSelector"], ns_labels(src.namespace, namespaces))
    else:
        in_ns = src.namespace == policy_ns  # a bare podSelector means the policy's own namespace
    return in_ns and selects(peer.get("podSelector") or {}, src.labels)


def reaches(policies: list[dict[str, Any]], src: Pod, dst: Pod, port: int,
            namespaces: dict[str, dict[str, str]] | None = None) -> bool:
    """May `src` open a TCP connection to `dst:port`? (Ingress side: the union of every policy selecting `dst`.)"""
    namespaces = namespaces or {}
    selecting = [p for p in policies if p["metadata"]["namespace"] == dst.namespace
                 and selects(p["spec"]["podSelector"], dst.labels)
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True  # no policy selects the pod: everything is allowed
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("protocol", "TCP") == "TCP" and (
                    "port" not in p or p["port"] == port or dst.ports.get(str(p["port"])) == port) for p in ports):
                continue
            peers = rule.get("from")
            if not peers:  # a missing or empty `from` admits every source
                return True
            if any(peer_admits(peer, src, policy["metadata"]["namespace"], namespaces) for peer in peers):
                return True
    return False


def pod_of(docs: list[dict[str, Any]], deployment: str) -> Pod:
    template = one(docs, "Deployment", deployment)["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0].get("ports", [])}
    return Pod("hedgeops", template["metadata"]["labels"], ports)


INGRESS = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"})
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"})
NEIGHBOUR = Pod("hedgeops", {"app": "debug"})  # any other pod in the operator's namespace
TENANT = Pod("attacker", {"app.kubernetes.io/name": "hedgeops", "app.kubernetes.io/component": "operator"})


def test_only_the_operator_reaches_redis() -> None:
    docs = render()
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    operator, store = pod_of(docs, "hedgeops"), pod_of(docs, "hedgeops-redis")
    assert reaches(policies, operator, store, 6379)
    for src in (NEIGHBOUR, TENANT, INGRESS, PROMETHEUS):  # before this, every one of them did
        assert not reaches(policies, src, store, 6379), src
    redis_policy = next(p for p in policies if selects(p["spec"]["podSelector"], store.labels))
    assert redis_policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and not redis_policy["spec"].get("egress")


def test_only_the_ingress_reaches_the_webhook_and_only_prometheus_the_metrics() -> None:
    docs = render()
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    operator, store = pod_of(docs, "hedgeops"), pod_of(docs, "hedgeops-redis")
    webhook, metrics, probe = operator.ports["webhook"], operator.ports["metrics"], operator.ports["probe"]
    assert reaches(policies, INGRESS, operator, webhook)
    assert reaches(policies, PROMETHEUS, operator, metrics)
    for src in (NEIGHBOUR, TENANT, store, PROMETHEUS):
        assert not reaches(policies, src, operator, webhook), src
    for src in (NEIGHBOUR, TENANT, store, INGRESS):
        assert not reaches(policies, src, operator, metrics), src
    for src in (NEIGHBOUR, TENANT, store, INGRESS, PROMETHEUS):  # kubelet probes come from the node: always allowed
        assert not reaches(policies, src, operator, probe), src
    # The operator's egress is not restricted: it must reach the API server and the exchanges.
    assert not [p for p in policies if selects(p["spec"]["podSelector"], operator.labels)
                and "Egress" in p["spec"]["policyTypes"]]


def test_network_policy_peers_are_configurable_and_an_empty_list_closes() -> None:
    edge = Pod("edge", {"app": "gateway"})
    docs = render({"networkPolicy": {"webhookFrom": [{"namespaceSelector": {"matchLabels": {"team": "edge"}}}],
                                     "metricsFrom": []}})
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    operator = pod_of(docs, "hedgeops")
    assert reaches(policies, edge, operator, operator.ports["webhook"], {"edge": {"team": "edge"}})
    assert not reaches(policies, edge, operator, operator.ports["webhook"])  # namespace without the label
    assert not reaches(policies, INGRESS, operator, operator.ports["webhook"])
    # An empty list closes the port: a rule with an empty `from` would have opened it to every pod.
    assert not reaches(policies, PROMETHEUS, operator, operator.ports["metrics"])
    closed = render({"networkPolicy": {"webhookFrom": [], "metricsFrom": []}})
    policies = [d for d in closed if d["kind"] == "NetworkPolicy"]
    for src in (INGRESS, PROMETHEUS, NEIGHBOUR):
        for port in operator.ports.values():
            assert not reaches(policies, src, operator, port), (src, port)
    assert not [d for d in render({"networkPolicy": {"enabled": False}}) if d["kind"] == "NetworkPolicy"]
    own = render({"redis": {"enabled": False}, "operator": {"replicas": 1}})  # one replica: in-memory locks
    assert [d["metadata"]["name"] for d in own if d["kind"] == "NetworkPolicy"] == ["hedgeops"]


@pytest.mark.parametrize("values, words", [
    ({"networkPolicy": {"webhookFrom": [{"podSelecter": {}}]}}, "podSelecter"),
    ({"networkPolicy": {"metricsFrom": {"podSelector": {}}}}, "metricsFrom"),
    ({"networkPolicy": {"open": True}}, "open"),
    ({"redis": {"auth": {"password": "x"}}}, "password"),  # a password in values would sit in the release history
])
def test_bad_network_and_auth_values_are_refused(values: dict[str, Any], words: str) -> None:
    with pytest.raises(helm.HelmError) as caught:
        helm.Chart.load(CHART).validate_schema(values)
    assert words in str(caught.value)


# --- 3. watchNamespaces: the secure mode ------------------------------------------------------------------------------


def secret_readers(docs: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """(kind, namespace or '*', verbs) of every role that grants anything on Secrets."""
    out = []
    for d in docs:
        if d["kind"] in ("ClusterRole", "Role"):
            for rule in d["rules"]:
                if "" in rule["apiGroups"] and ("secrets" in rule["resources"] or "*" in rule["resources"]):
                    out.append((d["kind"], d["metadata"].get("namespace", "*"), sorted(rule["verbs"])))
    return out


def test_cluster_wide_mode_says_it_can_read_every_secret() -> None:
    texts = render_text()
    assert secret_readers(docs_of(texts)) == [("ClusterRole", "*", ["get"])]  # by name, in every namespace
    notes = texts["templates/NOTES.txt"]
    assert "can get any Secret in any namespace" in notes and "watchNamespaces" in notes


def test_watch_namespaces_reads_secrets_only_there() -> None:
    texts = render_text({"watchNamespaces": ["trading", "research"]})
    docs = docs_of(texts)
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert sorted(secret_readers(docs)) == [("Role", "research", ["get"]), ("Role", "trading", ["get"])]
    notes = texts["templates/NOTES.txt"]
    assert "Secrets are read (get, by name) only in: trading, research" in notes
    assert "can get any Secret in any namespace" not in notes

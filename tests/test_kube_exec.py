"""`hedgeops approve` as a user of a managed cluster runs it: the kubeconfig's user is an exec credential plugin
(what EKS, GKE and AKS write: `users[].user.exec`, https://kubernetes.io/docs/reference/access-authn-authz/
authentication/#client-go-credential-plugins), against the test API server answering 401 to any request without
the token that plugin prints. Also `--context` and the namespace taken from the chosen context."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import pytest
import yaml
from kmock._internal import rendering

from .conftest import ROOT
from .kube_emulator import ClusterEmulator
from .operator_fixtures import example

pytestmark = pytest.mark.slow

TOKEN = "exec-" + secrets.token_hex(16)
NAMESPACE = "tenant-a"
BOOKS = f"/apis/hedgeops.io/v1alpha1/namespaces/{NAMESPACE}/hedgebooks"
PLAN = "3f2a9c1e-7b0d44aa"
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}


class TokenCluster(ClusterEmulator):
    """The test API server behind bearer-token authentication: kube-apiserver answers a request whose token it
    cannot authenticate with 401 and a Status, before anything is read or written (so the check wraps the whole
    handler: a kmock reaction would still let the emulator store a refused write)."""

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        auth = next((v for k, v in request.headers.items() if k.lower() == "authorization"), None)
        if auth != f"Bearer {TOKEN}":
            return aiohttp.web.json_response(UNAUTHORIZED, status=401)
        return await super()._handle(request)


def _plugin(folder: Path, name: str, body: str) -> Path:
    """An exec credential plugin: a script printing an ExecCredential (or failing as an expired login does)."""
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[TokenCluster, Path]]:
    """The API server with a Manual book awaiting approval in tenant-a, and a kubeconfig with three contexts."""
    calls = tmp_path / "plugin-calls"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": TOKEN, "expirationTimestamp": "2099-01-01T00:00:00Z"}}
    good = _plugin(tmp_path, "get-token", f"echo called >> {calls}\ncat <<'EOF'\n{json.dumps(credential)}\nEOF\n")
    bad = _plugin(tmp_path, "expired", "echo 'the SSO session has expired: run `aws sso login`' >&2\nexit 1\n")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with TokenCluster() as emulator, kmock.Server(emulator) as server:
        emulator.declare_crds(ROOT / "crds")
        book = example("hedgebook-spot.yaml")
        book["metadata"]["namespace"] = NAMESPACE
        assert (await emulator.post(BOOKS, json=book, headers=auth)).status == 201
        name = book["metadata"]["name"]
        pending = {"id": PLAN, "state": "Proposed", "proposedAt": "2025-03-01T00:00:00Z",
                   "expiresAt": "2099-01-01T00:00:00Z",
                   "orders": [{"symbol": "SOL/USDT:USDT", "side": "sell", "amount": "28", "type": "maker"}]}
        resp = await emulator.patch(f"{BOOKS}/{name}/status", json={"status": {"pendingPlan": pending}},
                                    headers={**auth, "Content-Type": "application/merge-patch+json"})
        assert resp.status == 200, await resp.text()
        server_url = str(server.url).rstrip("/")
        exec_user = {"apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Never"}
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "stale",
            "clusters": [{"name": "emu", "cluster": {"server": server_url}}],
            "users": [{"name": "sso", "user": {"exec": {**exec_user, "command": str(good)}}},
                      {"name": "expired", "user": {"exec": {**exec_user, "command": str(bad)}}},
                      {"name": "static", "user": {"token": "not-the-token"}}],
            "contexts": [{"name": "eks", "context": {"cluster": "emu", "user": "sso", "namespace": NAMESPACE}},
                         {"name": "expired", "context": {"cluster": "emu", "user": "expired",
                                                         "namespace": NAMESPACE}},
                         {"name": "stale", "context": {"cluster": "emu", "user": "static"}}]}))
        yield emulator, kubeconfig


async def hedgeops(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "hedgeops.cli", *args], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60, env=env)


def annotations(emulator: ClusterEmulator) -> dict[str, Any]:
    for (res, ns, _n), obj in emulator.objects.items():
        if res.plural == "hedgebooks" and ns == NAMESPACE:
            return dict(obj.raw.get("metadata", {}).get("annotations") or {})
    return {}


async def test_approve_through_an_exec_plugin_in_the_contexts_namespace(cluster: tuple[TokenCluster, Path],
                                                                        tmp_path: Path) -> None:
    emulator, kubeconfig = cluster
    ok = await hedgeops("approve", "hedgebook/spot-bag", PLAN, "--kubeconfig", str(kubeconfig), "--context", "eks")
    assert ok.returncode == 0, ok.stderr
    assert f"approved plan {PLAN} of hedgebook {NAMESPACE}/spot-bag" in ok.stdout  # no -n: the context's namespace
    assert annotations(emulator)["hedgeops.io/approve"] == PLAN
    assert (tmp_path / "plugin-calls").read_text().count("called") >= 1  # the token came from the plugin
    assert TOKEN not in ok.stdout + ok.stderr


async def test_a_failing_plugin_or_a_refused_token_is_a_clear_message(cluster: tuple[TokenCluster, Path]) -> None:
    emulator, kubeconfig = cluster
    failed = await hedgeops("approve", "hedgebook/spot-bag", PLAN, "--kubeconfig", str(kubeconfig),
                            "--context", "expired")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
    assert "credential plugin of context 'expired'" in failed.stderr and "SSO session has expired" in failed.stderr
    # The current context (no --context) holds a token the server refuses, and names no namespace: "default".
    refused = await hedgeops("close-all", "hedgebook/spot-bag", "--yes", "--kubeconfig", str(kubeconfig))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "refused the credentials of context 'stale'" in refused.stderr and "401" in refused.stderr
    unknown = await hedgeops("approve", "hedgebook/spot-bag", PLAN, "--kubeconfig", str(kubeconfig),
                             "--context", "gke")
    assert unknown.returncode == 2 and "no context 'gke'" in unknown.stderr and "eks" in unknown.stderr
    assert annotations(emulator) == {}  # nothing was written by any of them
    # -n wins over the context's namespace.
    wrong_ns = await hedgeops("approve", "hedgebook/spot-bag", PLAN, "--kubeconfig", str(kubeconfig),
                              "--context", "eks", "-n", "default")
    assert wrong_ns.returncode == 2 and "not found: hedgebooks default/spot-bag" in wrong_ns.stderr


def test_the_operator_logs_in_through_an_exec_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's login handler is kopf's client login: the token is the exec plugin's (kopf's rudimentary
    kubeconfig login, used before, found no token in an exec user and was answered 401)."""
    import logging

    import kopf

    from .operator_fixtures import handlers_registry

    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": TOKEN}}
    plugin = _plugin(tmp_path, "get-token", f"cat <<'EOF'\n{json.dumps(credential)}\nEOF\n")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "eks",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                   "command": str(plugin), "interactiveMode": "Never"}}}],
        "contexts": [{"name": "eks", "context": {"cluster": "c", "user": "u"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    handlers_registry()  # a fresh import of the handlers, as the operator tests make
    login = sys.modules["hedgeops.operator.handlers"].login
    info = login(logger=logging.getLogger("test"), settings=kopf.OperatorSettings())
    assert info is not None and info.server == "http://127.0.0.1:1" and info.token == TOKEN

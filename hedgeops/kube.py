"""The few Kubernetes calls the CLI makes (read an object, set annotations), through the user's kubeconfig or
the pod's service account, with the standard library only: the operator itself talks through kopf."""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hedgeops import GROUP, VERSION

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeError(Exception):
    """A Kubernetes call failed; the message says why in words."""


@dataclass(frozen=True)
class Connection:
    server: str
    token: str | None
    context: ssl.SSLContext | None


def _materialise(data: str | None, path: str | None) -> str | None:
    if data:
        fh = tempfile.NamedTemporaryFile("wb", delete=False, suffix=".pem")  # noqa: SIM115  (kept for ssl)
        fh.write(base64.b64decode(data))
        fh.close()
        return fh.name
    return path


def connect(kubeconfig: str | None = None) -> Connection:
    """The current context of $KUBECONFIG (or ~/.kube/config), else the in-cluster service account."""
    path = Path(kubeconfig or os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")
    if not path.exists():
        if (SERVICE_ACCOUNT / "token").exists():
            ctx = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
            host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
            return Connection(f"https://{host}:{port}", (SERVICE_ACCOUNT / "token").read_text().strip(), ctx)
        raise KubeError(f"no kubeconfig at {path} and not running in a pod")
    cfg = yaml.safe_load(path.read_text()) or {}
    current = cfg.get("current-context")
    context = next((c["context"] for c in cfg.get("contexts", []) if c["name"] == current), None)
    if context is None:
        raise KubeError(f"{path}: current-context {current!r} is not defined")
    cluster: dict[str, Any] = next((c["cluster"] for c in cfg.get("clusters", []) if c["name"] == context["cluster"]),
                                   {})
    user: dict[str, Any] = next((u["user"] for u in cfg.get("users", []) if u["name"] == context.get("user")),
                                {}) or {}
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise KubeError(f"{path}: cluster {context['cluster']!r} has no server")
    ssl_ctx = None
    if server.startswith("https"):
        ca = _materialise(cluster.get("certificate-authority-data"), cluster.get("certificate-authority"))
        ssl_ctx = ssl.create_default_context(cafile=ca)
        if cluster.get("insecure-skip-tls-verify"):
            ssl_ctx.check_hostname, ssl_ctx.verify_mode = False, ssl.CERT_NONE
        cert = _materialise(user.get("client-certificate-data"), user.get("client-certificate"))
        key = _materialise(user.get("client-key-data"), user.get("client-key"))
        if cert and key:
            ssl_ctx.load_cert_chain(cert, key)
    return Connection(server, user.get("token"), ssl_ctx)


def object_path(plural: str, namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}"


def _call(conn: Connection, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if conn.token:
        headers["Authorization"] = f"Bearer {conn.token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/merge-patch+json"
    req = urllib.request.Request(conn.server + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15, context=conn.context) as resp:
            return dict(json.loads(resp.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise KubeError(f"not found: {path.rsplit('/', 3)[-3]} {path.rsplit('/', 1)[-1]}") from None
        raise KubeError(f"{method} {path}: HTTP {exc.code} {exc.read().decode(errors='replace')[:300]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise KubeError(f"cannot reach the Kubernetes API at {conn.server}: {exc}") from None


def get(conn: Connection, plural: str, namespace: str, name: str) -> dict[str, Any]:
    return _call(conn, "GET", object_path(plural, namespace, name))


def annotate(conn: Connection, plural: str, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
    _call(conn, "PATCH", object_path(plural, namespace, name), {"metadata": {"annotations": annotations}})

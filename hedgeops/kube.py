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
from urllib.parse import quote

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


def _materialise(data: object, path: object, field: str, folder: Path) -> str | None:
    """A credential ssl can only read from a file: `<field>-data` decoded into a 0600 file in `folder`."""
    if data:
        try:
            raw = base64.b64decode(str(data), validate=True)
        except ValueError:
            raise KubeError(f"kubeconfig: {field}-data is not base64") from None
        target = folder / f"{field}.pem"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        return str(target)
    return str(path) if path else None


def _tls(cluster: dict[str, Any], user: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context of a kubeconfig cluster and user. ssl reads credentials only from files, so the decoded
    ones live in a private (0700) temporary folder just while the context loads them, and are removed even on
    error: a client key left in /tmp is a cluster login for anyone who can read it."""
    with tempfile.TemporaryDirectory(prefix="hedgeops-kube-") as private:
        folder = Path(private)
        ca = _materialise(cluster.get("certificate-authority-data"), cluster.get("certificate-authority"),
                          "certificate-authority", folder)
        try:
            ctx = ssl.create_default_context(cafile=ca)
        except (ssl.SSLError, OSError) as exc:
            raise KubeError(f"kubeconfig: the certificate-authority cannot be loaded: {_why(exc)}") from None
        if cluster.get("insecure-skip-tls-verify"):
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        cert = _materialise(user.get("client-certificate-data"), user.get("client-certificate"),
                            "client-certificate", folder)
        key = _materialise(user.get("client-key-data"), user.get("client-key"), "client-key", folder)
        if bool(cert) != bool(key):
            raise KubeError("kubeconfig: the user has a client certificate without its key, or a key without "
                            "its certificate")
        if cert and key:
            try:
                ctx.load_cert_chain(cert, key)
            except (ssl.SSLError, OSError) as exc:
                raise KubeError(f"kubeconfig: the client key or certificate cannot be loaded: {_why(exc)}") from None
        return ctx


def _why(exc: ssl.SSLError | OSError) -> str:
    """An ssl or OS error in words, without the file names (temporary, meaningless to the user)."""
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    return exc.strerror or type(exc).__name__


def _named(entries: object, name: object, key: str) -> dict[str, Any] | None:
    """The `key` body of the kubeconfig list entry called `name` (contexts, clusters, users)."""
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(key)
            return body if isinstance(body, dict) else {}
    return None


def connect(kubeconfig: str | None = None) -> Connection:
    """The current context of $KUBECONFIG (or ~/.kube/config), else the in-cluster service account."""
    path = Path(kubeconfig or os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")
    if not path.exists():
        if (SERVICE_ACCOUNT / "token").exists():
            ctx = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
            host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
            return Connection(f"https://{host}:{port}", (SERVICE_ACCOUNT / "token").read_text().strip(), ctx)
        raise KubeError(f"no kubeconfig at {path} and not running in a pod")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KubeError(f"{path}: not a readable kubeconfig ({type(exc).__name__})") from None
    if not isinstance(cfg, dict):
        raise KubeError(f"{path}: not a kubeconfig (expected a mapping)")
    current = cfg.get("current-context")
    context = _named(cfg.get("contexts"), current, "context")
    if context is None:
        raise KubeError(f"{path}: current-context {current!r} is not defined")
    cluster = _named(cfg.get("clusters"), context.get("cluster"), "cluster") or {}
    user = _named(cfg.get("users"), context.get("user"), "user") or {}
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise KubeError(f"{path}: cluster {context.get('cluster')!r} has no server")
    ssl_ctx = _tls(cluster, user) if server.startswith("https") else None
    token = user.get("token")
    return Connection(server, str(token) if token else None, ssl_ctx)


def object_path(plural: str, namespace: str, name: str) -> str:
    """The object's API path; segments are quoted so no name can walk it (callers validate names first)."""
    ns, obj = quote(namespace, safe=""), quote(name, safe="")
    return f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{plural}/{obj}"


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

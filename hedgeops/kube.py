"""The CLI's Kubernetes client: the official `kubernetes` library, so a kubeconfig works here exactly as it does
for kubectl (contexts, exec and auth-provider plugins, in-cluster service account). The operator itself talks
through kopf, which logs in through the same library (hedgeops.operator.handlers.login)."""

from __future__ import annotations

import binascii
import logging
import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes.config import ConfigException, kube_config, list_kube_config_contexts, load_incluster_config
from kubernetes.config.incluster_config import SERVICE_HOST_ENV_NAME, SERVICE_TOKEN_FILENAME

from hedgeops import GROUP, VERSION

SERVICE_ACCOUNT_NAMESPACE = Path(SERVICE_TOKEN_FILENAME).parent / "namespace"
TIMEOUT_S = 15
MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """A Kubernetes call failed; the message says why in words."""


@dataclass(frozen=True)
class Cluster:
    """An API client for one kubeconfig context (or the pod's service account) and the namespace it names."""

    api: k8s.CustomObjectsApi
    host: str
    namespace: str  # the context's namespace, else "default" (kubectl's rule)
    where: str  # "context NAME of PATH" or "the pod's service account", for messages

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """The object, as the API server has it."""
        with self._errors(plural, namespace, name):
            obj = self.api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name,
                                                        _request_timeout=TIMEOUT_S)
        return dict(obj) if isinstance(obj, dict) else {}

    def annotate(self, plural: str, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        """Set (or, with None, remove) annotations by a JSON merge patch: nothing else of the object changes."""
        with self._errors(plural, namespace, name):
            self.api.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name,
                                                    {"metadata": {"annotations": annotations}},
                                                    _content_type=MERGE_PATCH, _request_timeout=TIMEOUT_S)

    @contextmanager
    def _errors(self, plural: str, namespace: str, name: str) -> Iterator[None]:
        """The client's exceptions as one line each: what failed, and what to check."""
        try:
            yield
        except k8s.ApiException as exc:
            raise KubeError(_api_error(exc, plural, namespace, name, self.where)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(f"cannot reach the Kubernetes API at {self.host} ({self.where}): "
                            f"{_reason(exc)}") from None


def _api_error(exc: k8s.ApiException, plural: str, namespace: str, name: str, where: str) -> str:
    status = int(exc.status or 0)
    message = _status_message(exc.body)
    if status == 404:
        return f"not found: {plural} {namespace}/{name}"
    if status == 401:
        return (f"the API server refused the credentials of {where} (401 Unauthorized): log in again or check the "
                "kubeconfig's user")
    if status == 403:
        return f"forbidden ({where}): {message or 'no permission'}"
    return f"{plural} {namespace}/{name}: HTTP {status} {exc.reason or ''}: {message}".rstrip(": ")


def _status_message(body: object) -> str:
    """The `message` of a Kubernetes Status body, else the body's start."""
    if not isinstance(body, str | bytes):
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        doc = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError:
        doc = None
    return str(doc.get("message") or "")[:300] if isinstance(doc, dict) else text[:300]


def _reason(exc: BaseException) -> str:
    """The innermost reason of a urllib3 error (MaxRetryError wraps the socket's), without retry noise."""
    inner = getattr(exc, "reason", None)
    if isinstance(inner, BaseException) and inner is not exc:
        return _reason(inner)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text.split(": ", 1)[-1] if "Failed to establish a new connection" in text else text


class _Captured(logging.Handler):
    """The client reports a failed exec plugin only through the root logger (and carries on without a token);
    kept here to say why instead of letting a 401 follow."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _kubeconfig_paths(kubeconfig: str | None) -> tuple[str, list[Path]]:
    """The kubeconfig argument as the client takes it, and the files of it that exist ($KUBECONFIG is a list)."""
    spec = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    paths = [Path(p).expanduser() for p in spec.split(os.pathsep) if p]
    return spec, [p for p in paths if p.exists()]


def _context(spec: str, name: str | None) -> dict[str, Any]:
    """The named context (else the current one) of the kubeconfig, checked."""
    try:
        contexts, current = list_kube_config_contexts(spec)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise KubeError(f"{spec}: not a usable kubeconfig: {exc}") from None
    except yaml.YAMLError as exc:
        raise KubeError(f"{spec}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError, TypeError, KeyError, AttributeError, ValueError) as exc:
        raise KubeError(f"{spec}: not a usable kubeconfig ({type(exc).__name__})") from None
    names = [c.get("name") for c in contexts if isinstance(c, dict)]
    if name is not None:
        chosen = next((c for c in contexts if isinstance(c, dict) and c.get("name") == name), None)
        if chosen is None:
            raise KubeError(f"{spec}: no context {name!r} (it has {', '.join(map(str, names)) or 'none'})")
        return dict(chosen)
    if not isinstance(current, dict):
        raise KubeError(f"{spec}: no current-context: pass --context (one of {', '.join(map(str, names))})")
    return dict(current)


def _check_tls(cfg: k8s.Configuration) -> None:
    """Load the CA and client key pair once before any request, so a broken one is named here instead of
    surfacing as a TLS failure deep in urllib3 (which loads them only on connecting)."""
    if not str(cfg.host).startswith("https"):
        return
    try:
        ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
    except (ssl.SSLError, OSError) as exc:
        raise KubeError(f"kubeconfig: the certificate-authority cannot be loaded: {_why(exc)}") from None
    if bool(cfg.cert_file) != bool(cfg.key_file):
        raise KubeError("kubeconfig: the user has a client certificate without its key, or a key without its "
                        "certificate")
    if cfg.cert_file and cfg.key_file:
        try:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        except (ssl.SSLError, OSError) as exc:
            raise KubeError(f"kubeconfig: the client key or certificate cannot be loaded: {_why(exc)}") from None


def _why(exc: ssl.SSLError | OSError) -> str:
    """An ssl or OS error in words, without the file names (temporary, meaningless to the user)."""
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    return exc.strerror or type(exc).__name__


def _has_credentials(cfg: k8s.Configuration) -> bool:
    return bool(cfg.api_key.get("BearerToken") or cfg.api_key.get("authorization") or cfg.cert_file
                or cfg.username)


def _from_kubeconfig(spec: str, context: str | None, private: Path) -> tuple[k8s.Configuration, str, str]:
    """The client configuration of a kubeconfig context, its namespace, and words naming it."""
    chosen = _context(spec, context)
    name = str(chosen.get("name"))
    body = chosen.get("context")
    namespace = str(body.get("namespace") or "default") if isinstance(body, dict) else "default"
    cfg = k8s.Configuration()
    captured = _Captured()
    root = logging.getLogger()
    root.addHandler(captured)
    try:
        # persist_config=False: a refreshed auth-provider token is never written back into the user's file.
        kube_config.load_kube_config(config_file=spec, context=name, client_configuration=cfg,  # type: ignore[no-untyped-call]
                                     persist_config=False, temp_file_path=str(private))
    except ConfigException as exc:
        raise KubeError(f"{spec}: context {name!r}: {exc}") from None
    except binascii.Error:
        raise KubeError(f"{spec}: context {name!r}: a *-data field is not base64") from None
    except (OSError, UnicodeDecodeError, TypeError, KeyError, AttributeError, ValueError, yaml.YAMLError) as exc:
        raise KubeError(f"{spec}: context {name!r}: not a usable kubeconfig ({type(exc).__name__})") from None
    finally:
        root.removeHandler(captured)
    where = f"context {name!r} of {spec}"
    if captured.messages and not _has_credentials(cfg):
        raise KubeError(f"the credential plugin of {where} failed: {'; '.join(captured.messages)[:500]}")
    if not cfg.host:
        raise KubeError(f"{spec}: the cluster of context {name!r} has no server")
    return cfg, namespace, where


def _in_cluster() -> tuple[k8s.Configuration, str, str]:
    cfg = k8s.Configuration()
    try:
        load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise KubeError(f"in-cluster configuration: {exc}") from None
    try:
        namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        namespace = "default"
    return cfg, namespace, "the pod's service account"


@contextmanager
def connect(kubeconfig: str | None = None, context: str | None = None) -> Iterator[Cluster]:
    """A client for `context` (default: the current one) of --kubeconfig, $KUBECONFIG or ~/.kube/config, else the
    pod's service account. The client library writes embedded keys and certificates to files (ssl reads only
    files): they go to a private 0700 folder that exists only while this block runs, removed even on error."""
    spec, existing = _kubeconfig_paths(kubeconfig)
    with tempfile.TemporaryDirectory(prefix="hedgeops-kube-") as private:
        if existing:
            cfg, namespace, where = _from_kubeconfig(spec, context, Path(private))
        elif kubeconfig is None and context is None and os.environ.get(SERVICE_HOST_ENV_NAME) \
                and Path(SERVICE_TOKEN_FILENAME).exists():
            cfg, namespace, where = _in_cluster()
        else:
            raise KubeError(f"no kubeconfig at {spec}" + ("" if kubeconfig else " and not running in a pod"))
        _check_tls(cfg)
        cfg.retries = 1  # one retry on a dropped connection; a refused one is reported at once
        api_client = k8s.ApiClient(cfg)
        try:
            yield Cluster(k8s.CustomObjectsApi(api_client), str(cfg.host), namespace, where)
        finally:
            api_client.close()  # type: ignore[no-untyped-call]

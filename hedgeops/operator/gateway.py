"""The operator's own reads and writes through kopf's authenticated API session: the one module that imports
kopf-private API (kopf has no public call to read a Secret, patch a status outside a handler or write a Lease).
Everything else (ha.py's Lease calls and the errors it catches) goes through the names defined here, so a kopf
upgrade that moves them breaks this file alone; tests/test_kopf_gateway.py checks every private name used, and
pyproject.toml pins kopf below its next minor.

Every path segment is validated as a Kubernetes name and percent-quoted: a name that arrives from an HTTP
request (the webhook's URL) can never walk the API path (`..%2F`) into another namespace or resource."""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf
from kopf._cogs.clients import api as kopf_api  # kopf's authenticated session; no public API reads Secrets
from kopf._cogs.clients import auth as kopf_auth
from kopf._cogs.clients import errors as kopf_errors
from kubernetes.config import kube_config

from hedgeops import GROUP, VERSION
from hedgeops.runtime.names import is_namespace, is_object_name
from hedgeops.runtime.signals import ActiveWriter, BookReader
from hedgeops.runtime.venues import SecretReader

# kopf's API errors under the names the rest of HedgeOps catches: the classes themselves, not copies.
ApiError = kopf_errors.APIError
ApiNotFound = kopf_errors.APINotFoundError
ApiConflict = kopf_errors.APIConflictError
ApiUnprocessable = kopf_errors.APIUnprocessableEntityError


async def request_json(method: str, url: str, *, settings: kopf.OperatorSettings, logger: Any,
                       payload: object | None = None, content_type: str | None = None,
                       timeout: aiohttp.ClientTimeout | None = None) -> Any:
    """One API call through kopf's session and its JSON body. One attempt, no retries (`backoffs=[]`): the
    caller's loop retries (the leader election's renewal must not outlive its deadline in kopf's backoffs)."""
    response = await kopf_api.request(method, url, payload=payload, settings=settings, logger=logger,
                                      headers={"Content-Type": content_type} if content_type else None,
                                      timeout=timeout, backoffs=[])
    async with response:
        return await response.json()


def _segments(namespace: str, name: str) -> tuple[str, str]:
    """Both names validated and quoted. Callers validate first; this refuses again so no future caller can
    build a path from an unchecked name (defence in depth)."""
    if not is_namespace(namespace):
        raise ValueError(f"not a valid namespace: {namespace[:64]!r}")
    if not is_object_name(name):
        raise ValueError(f"not a valid object name: {name[:64]!r}")
    return urllib.parse.quote(namespace, safe=""), urllib.parse.quote(name, safe="")


def secret_path(namespace: str, name: str) -> str:
    """The API path of a Secret: only ever in the namespace given, which is the reader's own."""
    ns, n = _segments(namespace, name)
    return f"/api/v1/namespaces/{ns}/secrets/{n}"


def book_path(namespace: str, name: str, subresource: str = "") -> str:
    """The API path of a HedgeBook (or of its status)."""
    ns, n = _segments(namespace, name)
    return f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/hedgebooks/{n}" + (f"/{subresource}" if subresource else "")


def secret_reader(settings: kopf.OperatorSettings, logger: Any) -> SecretReader:
    """Reads a Secret through kopf's own authenticated API session (no second Kubernetes client). Values are
    decoded in memory only; nothing of them is logged."""

    async def read(namespace: str, name: str) -> Mapping[str, str]:
        try:
            body = await kopf_api.get(secret_path(namespace, name), settings=settings, logger=logger)
        except kopf_errors.APINotFoundError:
            raise KeyError(name) from None
        return {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}

    return read


WEBHOOK_READ_TIMEOUT = aiohttp.ClientTimeout(total=5)  # TradingView waits about 3 s for an answer


def book_gateway(settings: kopf.OperatorSettings, logger: Any) -> tuple[BookReader, ActiveWriter]:
    """Read a HedgeBook and write its status.activeSignal through kopf's session, from the webhook's requests
    (which aiohttp runs outside kopf's tasks: kopf's credentials are carried over by context variable)."""
    vault = kopf_auth.vault_var.get()

    async def read(namespace: str, name: str) -> Mapping[str, Any] | None:
        kopf_auth.vault_var.set(vault)
        try:
            # Once, within seconds: kopf's default backoffs retried a 403 for 54 s and 9 API calls per anonymous
            # request. A namespace the operator may not read (watchNamespaces) is no such book, never an error
            # whose text would tell a stranger the operator's service account and which namespaces it watches.
            response = await kopf_api.request("get", book_path(namespace, name), settings=settings, logger=logger,
                                              backoffs=[], timeout=WEBHOOK_READ_TIMEOUT)
            async with response:
                return dict(await response.json())
        except (kopf_errors.APINotFoundError, kopf_errors.APIForbiddenError):
            return None

    async def write(namespace: str, name: str, active: dict[str, Any], read: Mapping[str, Any]) -> bool:
        kopf_auth.vault_var.set(vault)
        try:
            await kopf_api.patch(book_path(namespace, name, "status"), settings=settings, logger=logger,
                                 headers={"Content-Type": "application/json-patch+json"},
                                 payload=active_signal_patch(active, read))
        except kopf_errors.APIConflictError:
            return False  # the book changed since `read`: the desk reads it again and decides again
        return True

    return read, write


def active_signal_patch(active: Mapping[str, Any], read: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch (RFC 6902) storing `active` as the book's status.activeSignal, exactly, and only if the book
    is still the one `read`.

    Exactly: `add` replaces the whole member, where a merge patch (RFC 7386) would merge its maps key by key and
    keep the previous signal's targets for assets the new one does not name. A null is left out (the CRD's fields
    are not nullable: absent is how "none" is stored).

    Only if unchanged: the patched object carries the resourceVersion `read` had. The API server takes a
    resourceVersion in a patch's result as a precondition and answers 409 Conflict when the book has been
    written since (by the other replica's webhook, or a cycle's status), so a decision made on a stale read is
    never stored. (A `test` op would fail the patch itself: 422, indistinguishable from a refused value.)"""
    meta = read.get("metadata") or {}
    version = meta.get("resourceVersion")
    if not version:  # without one the write would be unconditional: refuse rather than race
        raise ValueError("the book as read has no metadata.resourceVersion")
    value = {k: v for k, v in active.items() if v is not None}
    status = read.get("status")
    write = ({"op": "add", "path": "/status/activeSignal", "value": value} if isinstance(status, Mapping) else
             {"op": "add", "path": "/status", "value": {"activeSignal": value}})  # a book with no status yet
    return [{"op": "replace", "path": "/metadata/resourceVersion", "value": str(version)}, write]


def operator_login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf.login_via_client, with $KUBECONFIG read at each login. Declared as the operator's login handler
    because kopf adds its client login only to its default registry (an embedded operator's registry has none),
    and because the client reads $KUBECONFIG once, when first imported (kopf imports it at its own import): a
    kubeconfig named later, as the operator tests do per cluster, would otherwise be ignored."""
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = os.environ.get("KUBECONFIG", "~/.kube/config")
    info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
    return info

"""`hedgeops approve` and `hedgeops close-all` as the CLI runs them: a refusal about the object's state (exit 1)
told apart from a request that could not be made (exit 2).

`hedgeops.control` raises one ControlError for both: a malformed name or namespace (before connecting) and a
refusal once the object was read (not the pending plan, no longer pending, not confirmed). What tells them apart
is whether the object was read: the cluster handed to `control` here notes every read."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from hedgeops import control, kube
from hedgeops.cli_output import Refused


@dataclasses.dataclass(frozen=True)
class _Watched(kube.Cluster):
    """The cluster, noting each object read through it."""

    reads: list[str] = dataclasses.field(default_factory=list)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        obj = super().get(plural, namespace, name)
        self.reads.append(f"{plural}/{namespace}/{name}")
        return obj


def run(action: Callable[[control.Connect], str], kubeconfig: str | None, context: str | None) -> str:
    """`action(connect)`'s message; its ControlError raised after the object was read becomes Refused."""
    reads: list[str] = []

    @contextmanager
    def connect() -> Iterator[kube.Cluster]:
        with kube.connect(kubeconfig, context) as cluster:
            fields = {f.name: getattr(cluster, f.name) for f in dataclasses.fields(kube.Cluster)}
            yield _Watched(**fields, reads=reads)

    watched: Callable[[], AbstractContextManager[kube.Cluster]] = connect
    try:
        return action(watched)
    except control.ControlError as exc:
        if reads:
            raise Refused(str(exc)) from None
        raise


def require_cluster_config(kubeconfig: str | None = None, context: str | None = None) -> None:
    """What `hedgeops operator` logs in with must be there before kopf starts (kopf would otherwise retry its login
    forever, a traceback a try): the pod's service account, else a usable kubeconfig, read by the same helper as
    `approve` (KubeError, one line, exit 2). Nothing is sent to the API server: one unreachable for now is kopf's
    to retry, as it does."""
    from kubernetes.config.incluster_config import SERVICE_HOST_ENV_NAME, SERVICE_TOKEN_FILENAME

    if kubeconfig is None and os.environ.get(SERVICE_HOST_ENV_NAME) and os.path.exists(SERVICE_TOKEN_FILENAME):
        return  # in a pod: kopf's client login takes the service account first
    with kube.connect(kubeconfig, context):
        pass

"""Active and standby operator replicas: the one process holding a coordination.k8s.io/v1 Lease runs the cycles.

Why a Lease of our own and not kopf peering: kopf's peering freezes *every* operator when two run with the same
priority ("If two operators run with the same priority, all operators issue a warning and freeze, leaving the
cluster unserved", docs.kopf.dev/en/latest/peering), and the replicas of one Deployment share one pod template,
hence one priority; a paused kopf also stops its watch streams, so a peer that takes over starts cold, and
peering needs its own KopfPeering CRD. A Lease is the Kubernetes built-in for leader election (kube-controller-
manager and client-go's leaderelection use it): no extra CRD, RBAC on one named object, and the standby keeps its
watches and indexes warm and its timers ticking, so its first cycle follows the takeover within one tick.

The algorithm is client-go's (defaults 15 s lease, 10 s renew deadline, 2 s retry):
- every `retry` seconds each replica reads the Lease; its holder renews `renewTime`; a candidate takes it only when
  `holderIdentity` is empty or the record has not changed for `leaseDurationSeconds` *as observed on the candidate's
  own monotonic clock* (the Lease API: the duration "is measured against the time of last observed renewTime"), so
  no two nodes' wall clocks need to agree;
- every write is conditional on the resourceVersion just read (a JSON patch `test`: a real API server answers 422
  when another replica wrote in between, and creating an existing Lease is 409), so two candidates never both win;
- the holder stops starting cycles once it has not renewed for `renew_deadline` (< the lease duration): it has let
  go before any standby may take over, even when only the API server is unreachable from it;
- a graceful stop (SIGTERM, a rolling update) empties `holderIdentity`, so the standby takes over at its next try.

Defence in depth, not the only guard: every account is still serialised by its Redis lock and its fencing token, so
a leader paused past its lease (a GC stall, a partition) and the new one can never trade one account at once; and a
plan the dead leader left half-sent is adopted from its intent by client id, so no order is sent twice."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
import kopf
from prometheus_client import CollectorRegistry, Gauge

# kopf's authenticated session, through the one module that touches kopf-private API: no second client.
from hedgeops.operator.gateway import ApiConflict, ApiError, ApiNotFound, ApiUnprocessable, request_json
from hedgeops.runtime.names import is_namespace, is_object_name

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # the Lease's MicroTime fields


class LeaseConflict(Exception):
    """Another replica wrote the Lease first (409 on create, 422 on a failed resourceVersion test)."""


class LeaseApi(Protocol):
    """The three calls leader election needs on one Lease."""

    async def read(self) -> dict[str, Any] | None: ...

    async def create(self, spec: dict[str, Any]) -> None: ...

    async def replace_spec(self, resource_version: str, spec: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class LeaseTiming:
    """How long a lease lasts, when its holder gives up renewing, how often everyone tries."""

    duration: float = 15.0
    renew_deadline: float = 10.0
    retry: float = 2.0

    def problems(self) -> list[str]:
        out = []
        if not 3 <= self.duration <= 300:
            out.append(f"HEDGEOPS_LEASE_DURATION_SECONDS must be within 3..300, not {self.duration}")
        if not self.retry * 2 <= self.renew_deadline < self.duration:
            # At least two renewals before the deadline, and the holder lets go before a standby may take over.
            out.append(f"HEDGEOPS_LEASE_RENEW_DEADLINE_SECONDS ({self.renew_deadline}) must be at least twice "
                       f"HEDGEOPS_LEASE_RETRY_SECONDS ({self.retry}) and below the lease duration ({self.duration})")
        if self.retry < 0.1:
            out.append(f"HEDGEOPS_LEASE_RETRY_SECONDS must be at least 0.1, not {self.retry}")
        return out


def lease_path(namespace: str, name: str | None = None) -> str:
    """The API path of the operator's Lease (or of the namespace's leases), names checked and quoted."""
    if not is_namespace(namespace):
        raise ValueError(f"not a valid namespace for the Lease: {namespace[:64]!r}")
    path = LEASES.format(namespace=urllib.parse.quote(namespace, safe=""))
    if name is None:
        return path
    if not is_object_name(name):
        raise ValueError(f"not a valid Lease name: {name[:64]!r}")
    return f"{path}/{urllib.parse.quote(name, safe='')}"


class KubeLeaseApi:
    """The Lease through kopf's authenticated API session. One attempt per call, no retries: the elector's own
    loop retries, and a renewal stuck in backoffs would outlive the renew deadline."""

    def __init__(self, settings: kopf.OperatorSettings, logger: Any, namespace: str, name: str,
                 timeout_s: float) -> None:
        self.settings, self.logger, self.namespace, self.name = settings, logger, namespace, name
        self.path, self.collection = lease_path(namespace, name), lease_path(namespace)
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _call(self, method: str, url: str, payload: object | None = None,
                    content_type: str | None = None) -> Any:
        return await request_json(method, url, payload=payload, content_type=content_type, settings=self.settings,
                                  logger=self.logger, timeout=self.timeout)

    async def read(self) -> dict[str, Any] | None:
        try:
            return dict(await self._call("get", self.path))
        except ApiNotFound:
            return None

    async def create(self, spec: dict[str, Any]) -> None:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
        try:
            await self._call("post", self.collection, body)
        except ApiConflict:
            raise LeaseConflict("the Lease was created by another replica") from None

    async def replace_spec(self, resource_version: str, spec: dict[str, Any]) -> None:
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
               {"op": "replace", "path": "/spec", "value": spec}]
        try:
            await self._call("patch", self.path, ops, "application/json-patch+json")
        except (ApiConflict, ApiUnprocessable):
            raise LeaseConflict("the Lease changed since it was read") from None


def leader_gauge(registry: CollectorRegistry) -> Gauge:
    """hedgeops_leader on the operator's registry: which replica runs the cycles (one 1 across the replicas)."""
    return Gauge("hedgeops_leader", "1 while this process holds the operator Lease and runs the cycles; 0 on the "
                 "standby", registry=registry)


class LeaderElector:
    """One replica's side of the election: `leading` says whether it may start a cycle now."""

    def __init__(self, api: LeaseApi, identity: str, timing: LeaseTiming = LeaseTiming(), *,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_change: Callable[[bool], None] | None = None,
                 logger: logging.Logger | logging.LoggerAdapter[Any] | None = None) -> None:
        self.api, self.identity, self.timing = api, identity, timing
        self._monotonic, self._wall, self._on_change = monotonic, wall, on_change
        self._logger = logger or logging.getLogger(__name__)
        self._held = False
        self._renewed_at = float("-inf")  # monotonic time of this replica's last successful write
        self._observed: tuple[Any, ...] | None = None  # the other holder's record, as last read
        self._observed_at = float("-inf")  # monotonic time that record was first seen
        self._was_leading = False

    @property
    def leading(self) -> bool:
        """Holding the Lease and renewed within the renew deadline: a leader cut off from the API server stops
        starting cycles before any standby can take the Lease over."""
        return self._held and self._monotonic() - self._renewed_at < self.timing.renew_deadline

    def _notify(self) -> None:
        now = self.leading
        if now != self._was_leading:
            self._was_leading = now
            self._logger.info("operator Lease %s: %s", "acquired" if now else "lost",
                              "running the cycles" if now else "standing by")
            if self._on_change is not None:
                self._on_change(now)

    def _spec(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        now = self._wall().strftime(MICROTIME)
        previous = previous or {}
        renewing = previous.get("holderIdentity") == self.identity
        transitions = int(previous.get("leaseTransitions") or 0)
        return {"holderIdentity": self.identity, "leaseDurationSeconds": max(1, round(self.timing.duration)),
                "acquireTime": previous.get("acquireTime") if renewing else now, "renewTime": now,
                "leaseTransitions": transitions if renewing or not previous else transitions + 1}

    async def step(self) -> bool:
        """One attempt to acquire or renew the Lease; whether this replica leads afterwards."""
        started = self._monotonic()
        try:
            record = await self.api.read()
            if record is None:
                await self.api.create(self._spec(None))
                self._won(started)
                return self.leading
            spec = dict(record.get("spec") or {})
            holder = spec.get("holderIdentity") or ""
            seen = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
            if seen != self._observed:
                self._observed, self._observed_at = seen, started
            duration = float(spec.get("leaseDurationSeconds") or self.timing.duration)
            if holder and holder != self.identity and started - self._observed_at < duration:
                self._held = False  # another replica holds it and renews it: stand by (or step down at once)
                return False
            await self.api.replace_spec(str((record.get("metadata") or {}).get("resourceVersion", "")),
                                        self._spec(spec))
            self._won(started)
        except LeaseConflict:
            pass  # another replica wrote first: what it wrote is read at the next try
        except (ApiError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            # The API server unreachable or refusing: keep leading only until the renew deadline runs out.
            self._logger.warning("operator Lease: %s", type(exc).__name__ + (f": {exc}" if str(exc) else ""))
        finally:
            self._notify()
        return self.leading

    def _won(self, started: float) -> None:
        # The renewal counts from when it was sent: a slow answer must not stretch the holder's lease.
        self._held, self._renewed_at = True, started

    async def run(self) -> None:
        """Try every `retry` seconds until cancelled."""
        while True:
            await self.step()
            await asyncio.sleep(self.timing.retry)

    async def release(self) -> None:
        """Hand the Lease over at once (graceful stop): its holder emptied, so the standby takes it at its next try."""
        was = self._held
        self._held = False
        self._notify()
        if not was:
            return
        try:
            record = await self.api.read()
            spec = dict((record or {}).get("spec") or {})
            if record is None or spec.get("holderIdentity") != self.identity:
                return
            # An empty holder, as client-go's release writes it (a missing field would be a merge's "unchanged").
            spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=self._wall().strftime(MICROTIME))
            await self.api.replace_spec(str((record.get("metadata") or {}).get("resourceVersion", "")), spec)
        except (LeaseConflict, ApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            # Not fatal: the standby takes over when the lease runs out instead.
            self._logger.warning("operator Lease not released (%s): the standby waits for it to expire",
                                 type(exc).__name__)

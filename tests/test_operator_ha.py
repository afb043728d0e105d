"""Leader election (hedgeops/operator/ha.py) on a fake clock and an in-memory Lease that answers as the API server
does: conditional writes on the resourceVersion read, 409 on creating an existing Lease. Failover with two real
operator processes is in tests/test_operator_processes.py; the Lease through kopf's session and the kmock API
server is exercised there too."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kopf._cogs.clients import errors as kopf_errors

from hedgeops.operator.ha import LeaderElector, LeaseConflict, LeaseTiming, lease_path
from hedgeops.operator.settings import OperatorSettings

TIMING = LeaseTiming(duration=15, renew_deadline=10, retry=2)


class Clock:
    """Each replica's monotonic clock and the wall clock, moved by the test (they need not agree)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.t)


class MemoryLease:
    """One Lease, with the API server's optimistic concurrency. `down` makes every call fail as a dead API would."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.rv = itertools.count(1)
        self.down = False
        self.writes = 0

    def _check(self) -> None:
        if self.down:
            raise kopf_errors.APIServerError("unavailable", status=503, headers={})

    async def read(self) -> dict[str, Any] | None:
        self._check()
        return copy.deepcopy(self.obj)

    async def create(self, spec: dict[str, Any]) -> None:
        self._check()
        if self.obj is not None:
            raise LeaseConflict("exists")
        self.obj = {"metadata": {"resourceVersion": str(next(self.rv))}, "spec": dict(spec)}
        self.writes += 1

    async def replace_spec(self, resource_version: str, spec: dict[str, Any]) -> None:
        self._check()
        assert self.obj is not None
        if self.obj["metadata"]["resourceVersion"] != resource_version:
            raise LeaseConflict("changed")
        self.obj = {"metadata": {"resourceVersion": str(next(self.rv))}, "spec": dict(spec)}
        self.writes += 1

    @property
    def holder(self) -> str | None:
        return None if self.obj is None else self.obj["spec"].get("holderIdentity")


def elector(lease: MemoryLease, clock: Clock, identity: str) -> LeaderElector:
    return LeaderElector(lease, identity, TIMING, monotonic=clock, wall=clock.wall)


async def test_the_first_replica_leads_and_the_second_stands_by_while_it_renews() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "op-a"), elector(lease, clock, "op-b")
    assert await a.step() and a.leading and lease.holder == "op-a"
    assert lease.obj is not None and lease.obj["spec"]["leaseDurationSeconds"] == 15
    for _ in range(30):  # a minute of renewals: the standby never takes it
        assert not await b.step() and not b.leading
        clock.t += TIMING.retry
        assert await a.step()
    assert lease.holder == "op-a" and lease.obj["spec"]["leaseTransitions"] == 0


async def test_the_standby_takes_over_a_dead_leaders_lease_after_its_duration_on_its_own_clock() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "op-a"), elector(lease, clock, "op-b")
    await a.step()
    # The record's renewTime says nothing to b: a's wall clock may be far off. Only b's own observation counts.
    assert lease.obj is not None
    lease.obj["spec"]["renewTime"] = "2099-01-01T00:00:00.000000Z"
    await b.step()  # b first sees the record now; a dies right after
    clock.t += 14.9
    assert not await b.step()
    clock.t += 0.2
    assert await b.step() and lease.holder == "op-b" and lease.obj["spec"]["leaseTransitions"] == 1
    assert not await a.step() and not a.leading  # a leader that was only paused finds it taken: it stands down


async def test_a_leader_cut_off_from_the_api_server_stops_before_the_standby_may_take_over() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "op-a"), elector(lease, clock, "op-b")
    await a.step()
    await b.step()
    lease.down = True
    stopped = None
    for _ in range(20):
        clock.t += 1
        await a.step()
        if not a.leading and stopped is None:
            stopped = clock.t
    assert stopped is not None and stopped - 1000 <= TIMING.renew_deadline  # a stopped at its renew deadline ...
    lease.down = False
    assert await b.step()  # ... and b, which last saw a renew at t=1000, takes over after the full duration only
    assert stopped < 1000 + TIMING.duration


async def test_two_candidates_racing_for_an_expired_lease_never_both_win() -> None:
    lease, clock = MemoryLease(), Clock()
    dead = elector(lease, clock, "op-dead")
    await dead.step()
    a, b = elector(lease, clock, "op-a"), elector(lease, clock, "op-b")
    await a.step(), await b.step()
    clock.t += TIMING.duration + 1
    record = await lease.read()  # both read the same expired record, then both write
    real_read = lease.read

    async def stale_read() -> dict[str, Any] | None:
        return copy.deepcopy(record)

    lease.read = stale_read  # type: ignore[method-assign]
    results = [await a.step(), await b.step()]
    lease.read = real_read  # type: ignore[method-assign]
    assert results.count(True) == 1 and lease.holder in ("op-a", "op-b")
    assert [a.leading, b.leading].count(True) == 1


async def test_create_race_has_one_winner() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "op-a"), elector(lease, clock, "op-b")

    async def nothing_yet() -> dict[str, Any] | None:
        return None

    lease.read = nothing_yet  # type: ignore[method-assign]
    assert [await a.step(), await b.step()] == [True, False]


async def test_a_graceful_stop_hands_the_lease_over_at_once() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, clock, "op-a"), elector(lease, clock, "op-b")
    await a.step()
    assert not await b.step()
    await a.release()
    assert not a.leading and lease.holder == ""
    clock.t += TIMING.retry
    assert await b.step() and lease.holder == "op-b"  # no wait for the lease to run out
    await a.release()  # not the holder: nothing written
    assert lease.holder == "op-b"


async def test_leadership_changes_are_reported() -> None:
    lease, clock = MemoryLease(), Clock()
    seen: list[bool] = []
    a = LeaderElector(lease, "op-a", TIMING, monotonic=clock, wall=clock.wall, on_change=seen.append)
    await a.step()
    await a.step()
    await a.release()
    assert seen == [True, False]


def test_lease_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("HEDGEOPS_LEASE_DURATION_SECONDS", "HEDGEOPS_LEASE_RENEW_DEADLINE_SECONDS",
                "HEDGEOPS_LEASE_RETRY_SECONDS", "HEDGEOPS_LEADER_ELECTION", "HEDGEOPS_LEASE_NAME"):
        monkeypatch.delenv(key, raising=False)
    settings = OperatorSettings.from_env()
    assert settings.leader_election and settings.lease_timing == TIMING and settings.problems() == []
    monkeypatch.setenv("HEDGEOPS_LEASE_RENEW_DEADLINE_SECONDS", "20")
    assert any("below the lease duration" in p for p in OperatorSettings.from_env().problems())
    monkeypatch.setenv("HEDGEOPS_LEASE_RENEW_DEADLINE_SECONDS", "10")
    monkeypatch.setenv("HEDGEOPS_LEASE_NAME", "../secrets")
    assert any("not a valid Lease name" in p for p in OperatorSettings.from_env().problems())
    monkeypatch.setenv("HEDGEOPS_LEADER_ELECTION", "off")
    assert OperatorSettings.from_env().problems() == []  # the Lease's settings do not matter then
    monkeypatch.setenv("HEDGEOPS_LEADER_ELECTION", "maybe")
    with pytest.raises(ValueError, match="HEDGEOPS_LEADER_ELECTION: 'maybe' is not true or false"):
        OperatorSettings.from_env()
    monkeypatch.setenv("HEDGEOPS_LEADER_ELECTION", "true")
    monkeypatch.setenv("HEDGEOPS_LEASE_DURATION_SECONDS", "soon")
    with pytest.raises(ValueError, match="HEDGEOPS_LEASE_DURATION_SECONDS: 'soon' is not a number of seconds"):
        OperatorSettings.from_env()


def test_lease_path_is_checked_and_quoted() -> None:
    assert lease_path("hedgeops", "hedgeops-operator") == (
        "/apis/coordination.k8s.io/v1/namespaces/hedgeops/leases/hedgeops-operator")
    with pytest.raises(ValueError):
        lease_path("..", "x")

"""The webhook's write of status.activeSignal through the real gateway (kopf's session, the operator's token and
RBAC) against the strict API-server emulator:

- a new signal replaces the one in force whole: the JSON merge patch it was written with merged targetDelta key
  by key, so `{SOL: -10, ETH: -5}` then `{SOL: -8}` was stored as `{SOL: -8, ETH: -5}` and the book hedged ETH
  to a target nobody had signalled any more;
- both replicas serve the webhook and each serialises only its own requests: the write is made only onto the
  resourceVersion the decision was made on, and a write landing in between (the other replica's signal) makes it
  409, read again and decided again, so a lower-priority signal never overwrites a higher one taken meanwhile."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import kmock
import kopf
import pytest
from kopf._cogs.clients import auth as kopf_auth
from kopf._cogs.structs import credentials

from hedgeops.operator.gateway import active_signal_patch, book_gateway, secret_reader
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.signals import InMemorySeenSignals, SignalDesk

from .conftest import ROOT
from .kube_emulator import OPERATOR_TOKEN, ClusterEmulator
from .operator_fixtures import BOOKS, SECRETS, example
from .test_operator_webhook import secret

PASS = "tv-webhook-passphrase"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def kube() -> AsyncIterator[ClusterEmulator]:
    """The emulator with the CRDs, a Secret and the spot book taking signals; kopf's session logged in with the
    operator's token, so the chart's RBAC applies to every call the gateway makes."""
    async with ClusterEmulator() as emulator, kmock.Server(emulator) as server:
        emulator.declare_crds(ROOT / "crds")
        assert (await emulator.post(SECRETS, json=secret("default", PASS))).status == 201
        book = example("hedgebook-spot.yaml")  # legs SOL and ETH
        book["spec"]["signals"] = {"tradingView": {"enabled": True, "secretRef": {"name": "tv"}}}
        assert (await emulator.post(BOOKS, json=book)).status == 201
        vault = credentials.Vault()
        await vault.populate({"k": credentials.ConnectionInfo(server=str(server.url).rstrip("/"),
                                                              token=OPERATOR_TOKEN)})
        kopf_auth.vault_var.set(vault)
        yield emulator


def replica(seen: InMemorySeenSignals) -> SignalDesk:
    """One operator replica's desk: its own lock, the de-duplication store shared (Redis, in the cluster)."""
    settings, logger = kopf.OperatorSettings(), logging.getLogger("test")
    read, write = book_gateway(settings, logger)
    return SignalDesk(read, write, secret_reader(settings, logger), seen, InMemoryJournal(), Metrics())


def alert(sid: str, priority: str = "normal", **target: Any) -> bytes:
    return json.dumps({"id": sid, "passphrase": PASS, "time": NOW.isoformat(), "priority": priority,
                       "ttlSeconds": 3600, **target}).encode()


def stored(kube: ClusterEmulator) -> dict[str, Any]:
    return next(o.raw for (res, ns, n), o in kube.objects.items()
                if res.plural == "hedgebooks" and (ns, n) == ("default", "spot-bag"))


async def test_a_new_signal_replaces_the_previous_ones_targets_whole(kube: ClusterEmulator) -> None:
    desk = replica(InMemorySeenSignals())
    first = await desk.receive("default", "spot-bag", alert("s1", targetDelta={"SOL": -10, "ETH": -5}), NOW)
    assert first.outcome == "Accepted", first
    assert stored(kube)["status"]["activeSignal"]["targetDelta"] == {"ETH": "-5", "SOL": "-10"}
    second = await desk.receive("default", "spot-bag", alert("s2", "high", targetDelta={"SOL": -8}), NOW)
    assert second.outcome == "Accepted", second
    active = stored(kube)["status"]["activeSignal"]
    assert active["id"] == "s2" and active["targetDelta"] == {"SOL": "-8"}  # no ETH -5 left from s1
    # A hedge ratio after a target delta: no target delta left either, and no null stored for the absent ratio.
    third = await desk.receive("default", "spot-bag", alert("s3", "emergency", hedgeRatio=1), NOW)
    assert third.outcome == "Accepted", third
    active = stored(kube)["status"]["activeSignal"]
    assert (active["id"], active["hedgeRatio"], active.get("targetDelta") or {}) == ("s3", "1", {})
    assert not kube.refusals, kube.refusals  # every write answered 200: nothing refused, RBAC included
    assert ("hedgeops.io", "hedgebooks/status", "patch") in kube.used


async def test_a_write_between_read_and_patch_is_a_conflict_decided_again(kube: ClusterEmulator) -> None:
    """Replica A reads the book (no signal in force) and decides for its normal-priority signal; before it writes,
    replica B takes a high-priority one. A's write names the resourceVersion it read: 409, read again, and the
    high signal in force now wins the conflict. A blind patch stored A's signal over B's."""
    seen = InMemorySeenSignals()
    a, b = replica(seen), replica(seen)
    read_secret = a.read_secret
    raced: list[str] = []

    async def other_replica_first(namespace: str, name: str) -> Mapping[str, str]:
        if not raced:  # once: A has read the book and is about to decide on what it read
            out = await b.receive("default", "spot-bag", alert("hi", "high", targetDelta={"SOL": -20}), NOW)
            raced.append(out.outcome)
        return await read_secret(namespace, name)

    a.read_secret = other_replica_first
    lost = await a.receive("default", "spot-bag", alert("lo", targetDelta={"SOL": -1, "ETH": -1}), NOW)
    assert raced == ["Accepted"]
    assert (lost.outcome, lost.http_status) == ("Conflict", 409) and "signal hi (priority high)" in lost.message
    active = stored(kube)["status"]["activeSignal"]
    assert active["id"] == "hi" and active["targetDelta"] == {"SOL": "-20"}
    assert [r for r in kube.refusals if "hedgebooks/spot-bag/status" in r and ": 409 " in r], kube.refusals


async def test_a_lost_race_that_still_wins_is_written_on_the_fresh_read(kube: ClusterEmulator) -> None:
    """The other way round: B's normal signal lands in between, A's high one still wins on the fresh read and is
    stored whole (B's ETH target gone)."""
    seen = InMemorySeenSignals()
    a, b = replica(seen), replica(seen)
    read_secret = a.read_secret
    raced: list[str] = []

    async def other_replica_first(namespace: str, name: str) -> Mapping[str, str]:
        if not raced:
            out = await b.receive("default", "spot-bag", alert("lo", targetDelta={"SOL": -1, "ETH": -1}), NOW)
            raced.append(out.outcome)
        return await read_secret(namespace, name)

    a.read_secret = other_replica_first
    won = await a.receive("default", "spot-bag", alert("hi", "high", targetDelta={"SOL": -20}), NOW)
    assert raced == ["Accepted"] and won.outcome == "Accepted", won
    active = stored(kube)["status"]["activeSignal"]
    assert active["id"] == "hi" and active["targetDelta"] == {"SOL": "-20"}
    assert sum(": 409 " in r for r in kube.refusals) == 1, kube.refusals


async def test_a_book_that_keeps_changing_is_unavailable_and_the_id_is_free_again(kube: ClusterEmulator) -> None:
    """Bounded: a status written before every attempt ends in 503 after WRITE_ATTEMPTS tries, nothing stored, and
    the id is released so the sender may send it again."""
    from hedgeops.runtime.signals import WRITE_ATTEMPTS

    desk = replica(InMemorySeenSignals())
    write = desk.write_active
    tick = iter(range(1000))

    async def a_cycle_writes_first(namespace: str, name: str, active: dict[str, Any],
                                   book: Mapping[str, Any]) -> bool:
        response = await kube.patch(f"{BOOKS}/spot-bag/status", headers={
            "Content-Type": "application/merge-patch+json"}, data=json.dumps({"status": {"rebalanceSeq": next(tick)}}))
        assert response.status == 200
        return await write(namespace, name, active, book)

    desk.write_active = a_cycle_writes_first
    out = await desk.receive("default", "spot-bag", alert("busy", targetDelta={"SOL": -3}), NOW)
    assert (out.outcome, out.http_status) == ("Unavailable", 503) and "kept changing" in out.message
    assert sum(": 409 " in r for r in kube.refusals) == WRITE_ATTEMPTS
    assert "activeSignal" not in stored(kube)["status"]
    desk.write_active = write
    assert (await desk.receive("default", "spot-bag", alert("busy", targetDelta={"SOL": -3}), NOW)).outcome \
        == "Accepted"


def test_the_patch_replaces_the_signal_and_names_the_version_read() -> None:
    book = {"metadata": {"resourceVersion": "42"}, "status": {"activeSignal": {"id": "old"}}}
    signal = {"id": "new", "targetDelta": {"SOL": "-8"}, "hedgeRatio": None}
    assert active_signal_patch(signal, book) == [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"},
        {"op": "add", "path": "/status/activeSignal", "value": {"id": "new", "targetDelta": {"SOL": "-8"}}}]
    fresh = {"metadata": {"resourceVersion": "7"}}  # no status yet
    assert active_signal_patch(signal, fresh)[1] == {"op": "add", "path": "/status", "value": {"activeSignal": {
        "id": "new", "targetDelta": {"SOL": "-8"}}}}
    with pytest.raises(ValueError, match="resourceVersion"):  # never an unconditional write
        active_signal_patch(signal, {"metadata": {}})

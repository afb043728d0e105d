"""StreamingVenue.funding_rate from OKX's funding-rate channel (issue 21: 0 REST requests in steady state while the
stream is healthy), through real ccxt.pro against the emulator: after the first push every call is answered with
no REST request and says what REST says; a settlement crossed is followed; a second swap joins without the first
being subscribed again; a gap (a dropped connection) answers from REST until the stream is trusted again; a stream
silent past its heartbeats is not believed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.stream import StreamingVenue
from hedgeops.exchange.stream import venue as stream_venue_module

from .emulator_fixtures import Rig, venue
from .emulator_ws import SWAP, until

ETH = "ETH/USDT:USDT"
SETTLEMENT = datetime(2025, 6, 1, 16, 0, tzinfo=UTC)


@pytest.fixture
async def rest(rig: Rig) -> AsyncIterator[CcxtVenue]:
    """Another client's REST venue: what REST says, without counting against the streaming venue's requests."""
    v = venue(rig)
    try:
        yield v
    finally:
        await v.close()


def funding_subscriptions(rig: Rig) -> list[dict[str, Any]]:
    """Record every funding-rate argument the emulator is sent in a subscribe (wrapping its handler)."""
    seen: list[dict[str, Any]] = []
    streams = rig.app.streams
    original = streams._subscribe

    async def spy(conn: Any, op: str, message: dict[str, Any], text: str) -> None:
        if op == "subscribe":
            args = message.get("args") or []
            seen.extend(a for a in args if isinstance(a, dict) and a.get("channel") == "funding-rate")
        await original(conn, op, message, text)

    streams._subscribe = spy  # type: ignore[method-assign]
    return seen


async def test_streamed_funding_costs_no_rest_request_and_agrees_with_rest(rig: Rig, sv: StreamingVenue,
                                                                          rest: CcxtVenue) -> None:
    await sv.snapshot([SWAP])
    assert sv.trusted
    before = sv.stats.rest_requests
    first = await sv.funding_rate(SWAP)  # subscribes, and waits for the first push
    assert sv.supervisor.funding_pushed(SWAP)
    assert first == await rest.funding_rate(SWAP)
    assert first[1] == SETTLEMENT
    for _ in range(20):
        assert await sv.funding_rate(SWAP) == first
    assert sv.stats.rest_requests == before  # not one REST request, the first call included

    # The replay crosses 16:00: the channel pushes the next period's rate and settlement; still no REST.
    rig.clock.t = SETTLEMENT.replace(minute=3)
    await until(lambda: sv.supervisor.client.fundingRates[SWAP]["fundingTimestamp"]
                > int(SETTLEMENT.timestamp() * 1000))
    crossed = await sv.funding_rate(SWAP)
    assert crossed == await rest.funding_rate(SWAP)
    assert crossed[1] == datetime(2025, 6, 2, 0, 0, tzinfo=UTC)
    assert sv.stats.rest_requests == before
    assert sv.supervisor.client.last_http_response is None  # the stream's client never used REST either


async def test_a_new_swap_joins_without_resubscribing_the_others(rig: Rig, sv: StreamingVenue,
                                                                rest: CcxtVenue) -> None:
    subscribed = funding_subscriptions(rig)
    await sv.snapshot([SWAP])  # a watched perp's funding channel is its connection's heartbeat: subscribed now
    await sv.funding_rate(SWAP)
    assert subscribed == [{"channel": "funding-rate", "instId": "SOL-USDT-SWAP"}]  # once, not again for the rate
    before = sv.stats.rest_requests
    sessions = sv.supervisor.sessions
    eth = await sv.funding_rate(ETH)
    assert eth == await rest.funding_rate(ETH)
    # ETH's subscription went alone: SOL's was not sent again, and the session was not restarted for it.
    assert subscribed == [{"channel": "funding-rate", "instId": "SOL-USDT-SWAP"},
                          {"channel": "funding-rate", "instId": "ETH-USDT-SWAP"}]
    assert sv.supervisor.sessions == sessions and sv.supervisor.funding == {SWAP, ETH}
    assert await sv.funding_rate(SWAP) == await rest.funding_rate(SWAP)
    assert sv.stats.rest_requests == before


async def test_a_gap_answers_from_rest_until_trusted_again(rig: Rig, sv: StreamingVenue, rest: CcxtVenue) -> None:
    await sv.snapshot([SWAP])
    streamed = await sv.funding_rate(SWAP)
    sessions = sv.supervisor.sessions
    rig.emu.faults.ws_drop_code = 4000  # every connection dropped: a gap
    await until(lambda: not sv.trusted)
    before = sv.stats.rest_requests
    assert await sv.funding_rate(SWAP) == streamed  # REST's answer, the same value
    assert sv.stats.rest_requests > before
    # The venue reconnects and reconciles by itself; the new session resubscribes SOL's funding.
    await until(lambda: sv.trusted and sv.supervisor.funding_pushed(SWAP), timeout=10)
    assert sv.supervisor.sessions == sessions + 1
    before = sv.stats.rest_requests
    assert await sv.funding_rate(SWAP) == await rest.funding_rate(SWAP)
    assert sv.stats.rest_requests == before


async def test_a_funding_stream_silent_past_its_heartbeats_is_not_believed(
        rig: Rig, sv: StreamingVenue, monkeypatch: pytest.MonkeyPatch) -> None:
    await sv.snapshot([SWAP])
    await sv.funding_rate(SWAP)
    monkeypatch.setattr(stream_venue_module, "FUNDING_STALE_S", 0.3)
    rig.emu.faults.ws_frozen = True  # the connection stays up, nothing is pushed
    await asyncio.sleep(0.5)
    before = sv.stats.rest_requests
    await sv.funding_rate(SWAP)
    assert sv.stats.rest_requests == before + 1  # answered by REST
    rig.emu.faults.ws_frozen = False
    rig.clock.advance(60)  # the next heartbeat is pushed: believed again
    await until(lambda: sv._streamed_funding(SWAP) is not None)
    before = sv.stats.rest_requests
    await sv.funding_rate(SWAP)
    assert sv.stats.rest_requests == before


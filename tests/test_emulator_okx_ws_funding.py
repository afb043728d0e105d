"""The emulator's OKX `funding-rate` channel (issue 21: a carry's funding rate streamed, not polled): REST's own row
on subscribing, a push when the replay crosses a settlement, a heartbeat every 60 s of replay time while nothing
changes (OKX pushes every 30 to 90 s), spot and unknown instruments refused with 60018, and the faults (skip,
freeze, drop) applying to it as to the other channels; raw websockets and real ccxt.pro okx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import ccxt.pro as ccxtpro
import pytest

from hedgeops.exchange.emulator.okx_ws_channels import FUNDING_HEARTBEAT_MS

from .emulator_controls import control
from .emulator_fixtures import START, Rig
from .emulator_ws import INST_ID, SWAP, answer, okx_pro, rig_with_controls, until, while_doing, ws_base

SETTLEMENT = datetime(2025, 6, 1, 16, 0, tzinfo=UTC)  # OKX settles SOL-USDT-SWAP at 00:00, 08:00 and 16:00 UTC
ARG = {"channel": "funding-rate", "instId": INST_ID}


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in rig_with_controls():
        yield r


@pytest.fixture
async def pro(rig: Rig) -> AsyncIterator[Any]:
    ex = okx_pro(rig.url)
    try:
        yield ex
    finally:
        await ex.close()


async def rest_row(rig: Rig, inst_id: str = INST_ID) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(
            f"{rig.url}/api/v5/public/funding-rate", params={"instId": inst_id}) as response:
        body = await response.json()
    assert body["code"] == "0", body
    row: dict[str, Any] = body["data"][0]
    return row


async def next_push(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3) -> dict[str, Any]:
    got: dict[str, Any] = json.loads(await asyncio.wait_for(ws.receive_str(), timeout))
    return got


async def silent(ws: aiohttp.ClientWebSocketResponse, seconds: float = 0.3) -> bool:
    """Nothing arrives for `seconds` (several of the pusher's 20 ms ticks)."""
    try:
        await asyncio.wait_for(ws.receive_str(), seconds)
    except TimeoutError:
        return True
    return False


async def subscribed(rig: Rig, ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """Subscribe to SOL's funding: the acknowledgement, then the first push (returned)."""
    ack = await answer(ws, {"op": "subscribe", "args": [ARG]})
    assert ack["event"] == "subscribe" and ack["arg"] == ARG
    return await next_push(ws)


async def test_first_push_is_rests_row_then_a_push_per_settlement_crossed(rig: Rig) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/public") as ws:
        first = await subscribed(rig, ws)
        assert first["arg"] == ARG and len(first["data"]) == 1
        row = first["data"][0]
        assert row == await rest_row(rig)  # REST's very row, ts included (the clock has not moved)
        for name in ("instType", "instId", "fundingRate", "nextFundingRate", "fundingTime", "nextFundingTime",
                     "method", "ts"):
            assert name in row
        assert (row["instType"], row["instId"]) == ("SWAP", INST_ID)
        assert row["fundingTime"] == str(int(SETTLEMENT.timestamp() * 1000)) and row["ts"] == str(rig.emu.now_ms())

        # The clock moves within the funding period: nothing changed and no heartbeat is due.
        rig.clock.advance(30)
        assert await silent(ws)
        # Crossing 16:00: the next settlement, its rate and the one just settled move; pushed at once.
        rig.clock.t = SETTLEMENT.replace(minute=5)
        crossed = (await next_push(ws))["data"][0]
        assert crossed == await rest_row(rig)
        assert crossed["fundingTime"] == str(int(SETTLEMENT.timestamp() * 1000) + 8 * 3600_000)
        assert crossed["settFundingRate"] == row["fundingRate"]  # the rate that just settled


async def test_heartbeat_every_60_s_of_replay_time(rig: Rig) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/public") as ws:
        first = (await subscribed(rig, ws))["data"][0]
        for _ in range(5):  # 59 s in steps: no change, no heartbeat yet
            rig.clock.advance(11.8)
            await asyncio.sleep(0.03)
        assert await silent(ws)
        rig.clock.advance(1)  # 60 s of replay time since the last push
        beat = (await next_push(ws))["data"][0]
        assert beat == {**first, "ts": str(rig.emu.now_ms())} == await rest_row(rig)
        assert int(beat["ts"]) - int(first["ts"]) == FUNDING_HEARTBEAT_MS
        rig.clock.advance(59)
        assert await silent(ws)
        rig.clock.advance(1)
        assert (await next_push(ws))["data"][0]["ts"] == str(rig.emu.now_ms())


async def test_spot_unknown_and_missing_instruments_are_refused(rig: Rig) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_base(rig.url) + "/public") as ws:
            for inst_id in ("SOL-USDT", "NOPE-USDT-SWAP"):
                arg = {"channel": "funding-rate", "instId": inst_id}
                refused = await answer(ws, {"op": "subscribe", "args": [arg]})
                assert refused["event"] == "error" and refused["code"] == "60018", refused
                assert f"instId:{inst_id}" in refused["msg"]
            missing = await answer(ws, {"op": "subscribe", "args": [{"channel": "funding-rate"}]})
            assert (missing["event"], missing["code"]) == ("error", "60027")
            assert await answer(ws, "ping") == "pong"  # the connection kept
            assert (await subscribed(rig, ws))["data"][0]["instId"] == INST_ID  # and still serving
        async with session.ws_connect(ws_base(rig.url) + "/private") as ws:  # a public channel on the wrong URL
            wrong = await answer(ws, {"op": "subscribe", "args": [ARG]})
            assert (wrong["event"], wrong["code"]) == ("error", "60018")


async def test_skip_and_freeze_apply_to_the_funding_channel(rig: Rig) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/public") as ws:
        await subscribed(rig, ws)
        status, body = await control(rig.url, "/emulator/ws/skip", {"channel": "funding-rate", "count": 1})
        assert status == 200 and body["data"] == [{"channel": "funding-rate", "count": "1"}]
        rig.clock.advance(60)  # this heartbeat is lost...
        assert await silent(ws)
        rig.clock.advance(60)  # ...the next one is sent
        assert (await next_push(ws))["data"][0]["ts"] == str(rig.emu.now_ms())
        assert rig.emu.faults.ws_skip == {"funding-rate": 0}

        assert (await control(rig.url, "/emulator/ws/freeze", {"frozen": True}))[0] == 200
        rig.clock.t = SETTLEMENT.replace(minute=1)  # a settlement crossed and heartbeats due: nothing comes
        assert await silent(ws, 0.4)
        assert await answer(ws, "ping") == "pong"
        # Thawed: what changed meanwhile is pushed.
        assert (await control(rig.url, "/emulator/ws/freeze", {"frozen": False}))[0] == 200
        thawed = (await next_push(ws))["data"][0]
        assert thawed == await rest_row(rig)
        assert thawed["fundingTime"] == str(int(SETTLEMENT.timestamp() * 1000) + 8 * 3600_000)


async def test_ccxt_pro_watches_the_funding_rate_rest_answers(rig: Rig, pro: Any) -> None:
    streamed = await asyncio.wait_for(pro.watch_funding_rate(SWAP), 5)
    fetched = await pro.fetch_funding_rate(SWAP)
    fields = ("symbol", "fundingRate", "fundingTimestamp", "nextFundingTimestamp", "interval")
    assert {k: streamed[k] for k in fields} == {k: fetched[k] for k in fields}
    assert streamed["fundingTimestamp"] == int(SETTLEMENT.timestamp() * 1000)
    assert rig.clock() == START

    def cross() -> None:
        rig.clock.t = SETTLEMENT.replace(minute=2)

    after = await while_doing(pro.watch_funding_rate(SWAP), cross)
    fetched = await pro.fetch_funding_rate(SWAP)
    assert {k: after[k] for k in fields} == {k: fetched[k] for k in fields}
    assert after["fundingTimestamp"] == int(SETTLEMENT.timestamp() * 1000) + 8 * 3600_000
    # A heartbeat reaches ccxt too (the same rate, a new timestamp): a live channel, not a dead one.
    beat = await while_doing(pro.watch_funding_rate(SWAP), lambda: rig.clock.advance(60))
    assert beat["fundingRate"] == after["fundingRate"] and beat["info"]["ts"] == str(rig.emu.now_ms())
    # A dropped connection: ccxt's watch fails, the next one connects again and gets the first push again.
    pending = asyncio.ensure_future(pro.watch_funding_rate(SWAP))
    await asyncio.sleep(0.05)
    rig.emu.faults.ws_drop_code = 4000
    with pytest.raises(ccxtpro.NetworkError):
        await asyncio.wait_for(pending, 5)
    await until(lambda: not rig.app.streams.conns)
    again = await asyncio.wait_for(pro.watch_funding_rate(SWAP), 5)
    assert again["fundingRate"] == after["fundingRate"]

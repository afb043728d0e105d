"""The emulator's websocket ops honour OKX's `expTime` (the request's deadline, Unix ms, a field of the op
message): an op arriving after it is refused with 50102 and does nothing; and the op-delay fault (a Faults field
and POST /emulator/ws/delay) makes an op reach the matching engine late."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import ROUND_DOWN

import aiohttp
import pytest

from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS

from .emulator_controls import control
from .emulator_fixtures import KEY, Rig
from .emulator_ws import INST_ID, answer, login_args, rig_with_controls, ws_base


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in rig_with_controls():
        yield r


def order_op(rig: Rig, msg_id: str, cl: str, exp: str | int | None) -> dict[str, object]:
    inst = OKX_INSTRUMENTS[INST_ID]
    px = (rig.emu.quote(inst).bid * 8 / 10).quantize(inst.tick_sz, ROUND_DOWN)
    op: dict[str, object] = {"id": msg_id, "op": "order", "args": [{"instId": INST_ID, "tdMode": "cross",
                                                                    "side": "buy", "ordType": "limit",
                                                                    "sz": "1", "px": str(px), "clOrdId": cl}]}
    if exp is not None:
        op["expTime"] = exp
    return op


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_an_op_past_its_exptime_is_refused_and_does_nothing(rig: Rig) -> None:
    orders = rig.emu.account(KEY).venue.account.orders
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/private") as ws:
        assert (await answer(ws, login_args()))["code"] == "0"
        late = await answer(ws, order_op(rig, "1", "expold1", str(now_ms() - 1)))
        assert late["id"] == "1" and late["code"] == "1"
        assert [(r["clOrdId"], r["sCode"], r["sMsg"]) for r in late["data"]] == [
            ("expold1", "50102", "Timestamp request expired")]
        assert "expold1" not in orders
        fresh = await answer(ws, order_op(rig, "2", "expnew1", str(now_ms() + 5000)))
        assert fresh["code"] == "0" and fresh["data"][0]["sCode"] == "0" and "expnew1" in orders
        # A deadline on the replay clock (a client synchronised to /public/time) is read on that clock.
        replay = await answer(ws, order_op(rig, "3", "expreplay1", str(rig.emu.now_ms() + 5000)))
        assert replay["code"] == "0" and "expreplay1" in orders
        stale = await answer(ws, order_op(rig, "4", "expreplay2", str(rig.emu.now_ms() - 1)))
        assert stale["data"][0]["sCode"] == "50102" and "expreplay2" not in orders
        bad = await answer(ws, order_op(rig, "5", "expbad1", "soon"))
        assert bad["code"] == "60012" and "expbad1" not in orders
        # A cancel op past its deadline is refused alike: the order stays.
        cancel = {"id": "6", "op": "cancel-order", "expTime": str(now_ms() - 1),
                  "args": [{"instId": INST_ID, "clOrdId": "expnew1"}]}
        refused = await answer(ws, cancel)
        assert refused["data"][0]["sCode"] == "50102" and not orders["expnew1"].done


async def test_a_delayed_op_is_processed_late_and_refused_past_its_deadline(rig: Rig) -> None:
    orders = rig.emu.account(KEY).venue.account.orders
    status, body = await control(rig.url, "/emulator/ws/delay", {"seconds": 0.5})
    assert status == 200 and body["data"] == [{"seconds": "0.5"}]
    assert rig.emu.faults.ws_op_delay_seconds == 0.5
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/private") as ws:
        assert (await answer(ws, login_args()))["code"] == "0"
        started = time.monotonic()
        reply = await answer(ws, order_op(rig, "1", "expdelay1", str(now_ms() + 200)))
        assert time.monotonic() - started >= 0.5
        assert reply["data"][0]["sCode"] == "50102" and "expdelay1" not in orders
        ok = await answer(ws, order_op(rig, "2", "expdelay2", str(now_ms() + 3000)))
        assert ok["data"][0]["sCode"] == "0" and "expdelay2" in orders
    assert (await control(rig.url, "/emulator/ws/delay", {"seconds": -1}))[1]["code"] == "51000"
    assert (await control(rig.url, "/emulator/ws/delay", {"seconds": 0}))[0] == 200
    assert rig.emu.faults.ws_op_delay_seconds == 0

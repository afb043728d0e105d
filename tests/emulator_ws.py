"""What the emulator's websocket tests share: real ccxt.pro okx pointed at the emulator (only its URLs changed),
a raw aiohttp websocket client, OKX's login signature, and waiting on a watch while the test moves the clock."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import ccxt.pro as ccxtpro

from hedgeops.exchange.emulator.okx_common import ALL_SYMBOLS
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS, OkxInstrument
from hedgeops.exchange.marketdata.replay import MarketReplay

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock, Rig

SWAP, INST_ID = "SOL/USDT:USDT", "SOL-USDT-SWAP"
T = TypeVar("T")


async def rig_with_controls() -> AsyncIterator[Rig]:
    """The emulator with its test controls on (POST /emulator/ws/*)."""
    clock = Clock()
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, PASSPHRASE)})
    async with serving(emu, controls=True) as (app, url):
        rig = Rig(emu, app, clock, url)
        await warm(rig)
        yield rig


async def warm(rig: Rig) -> None:
    """Load every served series once per process (seconds, the first time anything lists the whole account), so
    that no watch's timeout pays for it."""
    await rig.emu.account("__public__").venue.snapshot(ALL_SYMBOLS)


def ws_base(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws/v5"


def okx_pro(url: str) -> Any:
    """Stock ccxt.pro okx with its REST and websocket URLs (and nothing else) pointed at the emulator."""
    ex = ccxtpro.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                      "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"}})
    ex.urls["api"] = {"rest": url, "ws": ws_base(url)}
    return ex


def login_args(key: str = KEY, secret: str = SECRET, passphrase: str = PASSPHRASE,
               stamp: str | None = None) -> dict[str, Any]:
    """OKX's websocket login: HMAC-SHA256 of timestamp (seconds) + GET + /users/self/verify, base64."""
    stamp = stamp or str(int(time.time()))
    sign = base64.b64encode(hmac.new(secret.encode(), f"{stamp}GET/users/self/verify".encode(), hashlib.sha256)
                            .digest()).decode()
    return {"op": "login", "args": [{"apiKey": key, "passphrase": passphrase, "timestamp": stamp, "sign": sign}]}


async def answer(ws: aiohttp.ClientWebSocketResponse, sent: dict[str, Any] | str, timeout: float = 3) -> Any:
    """Send a message and return the next one received (JSON parsed, or the text): never silence."""
    await ws.send_str(sent if isinstance(sent, str) else json.dumps(sent))
    got = await asyncio.wait_for(ws.receive_str(), timeout)
    return json.loads(got) if got.startswith("{") else got


async def while_doing(watch: Awaitable[T], action: Callable[[], Any], timeout: float = 5) -> T:
    """Start a watch, let it reach the socket, do `action` (move the clock, place an order), await the watch: a
    push is only caught by a watch already waiting for it (and pushes already on their way land first, so that
    they do not answer it)."""
    await asyncio.sleep(0.1)
    task = asyncio.ensure_future(watch)
    await asyncio.sleep(0.05)
    done = action()
    if asyncio.iscoroutine(done):
        await done
    return await asyncio.wait_for(task, timeout)


def advance_to_new_price(rig: Rig, inst: OkxInstrument | None = None) -> Decimal:
    """Move the replay clock bar by bar until the replayed price changes; the new price."""
    inst = inst or OKX_INSTRUMENTS[INST_ID]
    before = rig.emu.quote(inst).last
    for _ in range(24):
        rig.clock.advance(300)
        now = rig.emu.quote(inst).last
        if now != before:
            return now
    raise AssertionError("the replay did not move in two hours")


async def until(check: Callable[[], bool], timeout: float = 3) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("never happened")
        await asyncio.sleep(0.01)

"""The pushes follow a wall-paced replay too: the ReplayClock `hedgeops emulator --speed` runs (the command
serves this very EmulatorApp with web.run_app, whose startup runs the pusher as serving() does). Stock ccxt.pro
sees the price move with nobody moving the clock."""

from __future__ import annotations

import asyncio

from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.runtime.clock import ReplayClock

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, START
from .emulator_ws import SWAP, okx_pro


async def test_pushes_follow_the_wall_paced_replay_clock() -> None:
    clock = ReplayClock(START, speed=3000)  # a 5-minute bar every 0.1 s of wall time
    emu = Emulator(MarketReplay(), clock.now, {KEY: Credentials(SECRET, PASSPHRASE)})
    async with serving(emu) as (_app, url):
        ex = okx_pro(url)
        try:
            first = await asyncio.wait_for(ex.watch_ticker(SWAP), 5)
            later = first
            while later["last"] == first["last"]:
                later = await asyncio.wait_for(ex.watch_ticker(SWAP), 5)
            assert later["timestamp"] > first["timestamp"]
            assert await asyncio.wait_for(ex.authenticate(), 5) is True  # the private URL's login
        finally:
            await ex.close()

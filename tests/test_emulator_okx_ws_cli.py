"""`hedgeops emulator` serves the websockets too, on its one port, with the replay paced by the wall clock (its
--speed): a plain ccxt.pro script (nothing of HedgeOps imported) sees the replayed price move by itself."""

from __future__ import annotations

from pathlib import Path

from .conformance_run import run_against_fresh_emulator

SCRIPT = r'''
import asyncio
import sys
import ccxt.pro as ccxtpro

url, key, secret, passphrase = sys.argv[1:5]

async def main():
    ex = ccxtpro.okx({"apiKey": key, "secret": secret, "password": passphrase})
    ex.urls["api"]["rest"] = url
    ex.urls["api"]["ws"] = url.replace("http://", "ws://") + "/ws/v5"
    try:
        first = await asyncio.wait_for(ex.watch_ticker("SOL/USDT:USDT"), 10)
        later = first
        while later["last"] == first["last"]:  # the wall-paced replay moves on by itself: pushes follow
            later = await asyncio.wait_for(ex.watch_ticker("SOL/USDT:USDT"), 10)
        assert later["timestamp"] > first["timestamp"], (first, later)
        # Logged in with the key's HMAC, the private channel answers with the account's snapshot.
        balance = await asyncio.wait_for(ex.watch_balance(), 20)
        assert balance["USDT"]["total"] == 100000, balance["USDT"]
        print("streams:", first["last"], later["last"])
    finally:
        await ex.close()

asyncio.run(main())
'''


def test_the_emulator_command_streams_on_its_wall_paced_replay(tmp_path: Path) -> None:
    key, secret, passphrase = "ws-key", "ws-secret", "ws-pass"
    # 3000x: a 5-minute bar every 0.1 s of wall time.
    run, err = run_against_fresh_emulator(tmp_path, SCRIPT, ["--api-key", key, "--secret", secret, "--passphrase",
                                                             passphrase, "--speed", "3000"], "/api/v5/public/time",
                                          [key, secret, passphrase])
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stdout.startswith("streams: ")
    assert secret not in err and passphrase not in err

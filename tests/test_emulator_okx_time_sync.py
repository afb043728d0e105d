"""A bot that synchronises with the exchange's clock (ccxt's adjustForTimeDifference) signs with the replay's time,
which /public/time serves: the emulator takes a signature fresh on either clock (a hostile review found such a
bot locked out with 50102)."""

from __future__ import annotations

import ccxt.async_support as ccxt

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig


async def test_a_client_synchronised_with_public_time_can_sign(exchange: Rig) -> None:
    ex = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                   "options": {"adjustForTimeDifference": True}})
    ex.urls["api"] = {"rest": exchange.url}
    try:
        await ex.load_markets()
        assert abs(ex.options["timeDifference"]) > 86_400_000  # it did adopt the replayed clock (2025)
        balance = await ex.fetch_balance()
        assert balance["USDT"]["total"] > 0
    finally:
        await ex.close()
    stale = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False})
    stale.urls["api"] = {"rest": exchange.url}
    try:
        await stale.load_markets()
        stale.milliseconds = lambda: 1_000_000_000_000  # 2001: fresh on neither clock
        try:
            await stale.fetch_balance()
        except ccxt.InvalidNonce:
            pass
        else:
            raise AssertionError("a timestamp stale on both clocks was accepted")
    finally:
        await stale.close()

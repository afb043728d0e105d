"""The emulator's BTC balance with a bought option, as OKX documents it (seed 001 review): the premium leaves
cashBal, the option's market value counts in the currency's eq ("Equity = Available + In use + Options value") and
its unrealised PnL in the currency's upl ("Sum of unrealized profit & loss of all margin and derivatives positions
of currency"). ccxt's `total` reads eq: why a book may not count a BTC Spot balance beside a BTC-settled option."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import ccxt.async_support as ccxt
import pytest

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig, start

D = Decimal
OPTION = "BTC/USD:BTC-260327-100000-C"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        for symbol in ("BTC/USDT", "BTC/USDT:USDT", OPTION):  # loaded here, not inside a request ccxt times out
            r.emu.replay.series(symbol)
        yield r


async def test_a_bought_option_s_value_is_in_its_currency_s_eq_and_its_pnl_in_upl(rig: Rig) -> None:
    ex = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                   "options": {"fetchMarkets": {"types": ["spot", "swap", "option"]}}})
    ex.urls["api"] = {"rest": rig.url}
    ex.has["fetchCurrencies"] = False
    try:
        await ex.create_order("BTC/USDT", "market", "buy", 0.5, None, {"tgtCcy": "base_ccy"})
        cash_before = D(next(d for d in (await ex.fetch_balance())["info"]["data"][0]["details"]
                             if d["ccy"] == "BTC")["cashBal"])
        await ex.create_order(OPTION, "limit", "buy", 10, (await ex.fetch_ticker(OPTION))["ask"])
        rig.clock.advance(3600)  # the option's mark moves with the underlying an hour on
        [pos] = [p for p in await ex.fetch_positions() if p["symbol"] == OPTION]
        balance = await ex.fetch_balance()
    finally:
        await ex.close()
    btc = next(d for d in balance["info"]["data"][0]["details"] if d["ccy"] == "BTC")
    value, upl = D(pos["info"]["optVal"]), D(pos["info"]["upl"])
    assert value > 0 and D(btc["cashBal"]) < cash_before  # the premium (and its fee) left the cash balance
    assert D(btc["eq"]) == D(btc["cashBal"]) + value
    assert D(btc["upl"]) == upl != 0
    assert D(btc["availEq"]) == D(btc["cashBal"]) - D(btc["frozenBal"])  # the option's value is not margin
    assert D(str(balance["total"]["BTC"])) == D(btc["eq"])  # what a Spot instrument would read

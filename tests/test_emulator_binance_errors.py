"""Binance's futures error codes through a URL that is not binance.com: stock ccxt.binanceusdm reads them with its
generic table, so the README tells a bot author how to get production's classes, and the project's own client
does it itself (a margin refusal must be InsufficientFunds, which the venue treats as a refusal, not a failure)."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, make_client

from .test_emulator_binance import KEY, SECRET, binanceusdm, rig  # noqa: F401  (the fixture)


async def _oversized(ex: Any) -> None:
    await ex.load_markets()
    await ex.create_order("BTC/USDT:USDT", "market", "buy", 50)  # 50 BTC on 100,000 USDT: -2019


async def test_a_margin_refusal_is_insufficient_funds_with_the_readmes_line_and_in_the_projects_client(
        rig: Any) -> None:  # noqa: F811
    url = rig[3]
    stock = binanceusdm(url)
    try:
        with pytest.raises(ccxt.ExchangeError) as raised:
            await _oversized(stock)
        assert not isinstance(raised.value, ccxt.InsufficientFunds)  # why the README gives the line below
        stock.exceptions["exact"].update(stock.exceptions["linear"]["exact"])
        with pytest.raises(ccxt.InsufficientFunds):
            await _oversized(stock)
    finally:
        await stock.close()
    ours = make_client("binanceusdm", ApiCredentials(KEY, SECRET), base_url=url, rate_limit=False)
    try:
        with pytest.raises(ccxt.InsufficientFunds):
            await _oversized(ours)
    finally:
        await ours.close()

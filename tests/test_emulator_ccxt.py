"""Real ccxt (async) against the OKX-dialect emulator over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL
from hedgeops.exchange.marketdata.replay import MarketReplay

from .emulator_controls import control
from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock, Rig, okx, start

D = Decimal


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        yield r


@pytest.fixture
async def ex(rig: Rig) -> AsyncIterator[Any]:
    client = okx(rig.url)
    try:
        yield client
    finally:
        await client.close()


async def test_markets_come_from_the_okx_listing(ex: Any) -> None:
    markets = await ex.load_markets()
    sol = markets["SOL/USDT:USDT"]
    assert sol["id"] == "SOL-USDT-SWAP" and sol["contractSize"] == 1.0 and sol["precision"]["amount"] == 0.01
    assert markets["BTC/USDT:USDT"]["contractSize"] == 0.01


async def test_ticker_and_book_are_the_replayed_price(ex: Any, rig: Rig) -> None:
    t = await ex.fetch_ticker("SOL/USDT:USDT")
    bar = rig.emu.replay.series("SOL/USDT:USDT").last_closed(rig.clock())
    assert bar is not None and t["last"] == float(bar.close.quantize(D("0.01")))  # the real close, on the tick
    assert t["bid"] < t["last"] < t["ask"]
    ob = await ex.fetch_order_book("SOL/USDT:USDT", 5)
    assert ob["bids"][0][0] == t["bid"] and ob["asks"][0][0] == t["ask"] and len(ob["bids"]) == 5
    rig.clock.advance(3600)
    later = await ex.fetch_ticker("SOL/USDT:USDT")
    assert later["last"] != t["last"]  # the replay moves with the test's clock


async def test_market_order_fills_and_shows_as_a_position(ex: Any) -> None:
    await ex.load_markets()
    order = await ex.create_order("SOL/USDT:USDT", "market", "sell", 2, None, {"clientOrderId": "ho1a"})
    assert order["clientOrderId"] == "ho1a"
    got = await ex.fetch_order(None, "SOL/USDT:USDT", {"clOrdId": "ho1a"})
    assert got["status"] == "closed" and got["filled"] == 2
    positions = await ex.fetch_positions(["SOL/USDT:USDT"])
    assert positions[0]["contracts"] == 2 and positions[0]["side"] == "short"
    balance = await ex.fetch_balance()
    assert balance["USDT"]["total"] > 0


async def test_post_only_rests_and_cancels(ex: Any) -> None:
    t = await ex.fetch_ticker("ETH/USDT:USDT")
    await ex.create_order("ETH/USDT:USDT", "limit", "buy", 1, t["bid"] - 50,
                          {"postOnly": True, "clientOrderId": "ho2m"})
    open_orders = await ex.fetch_open_orders("ETH/USDT:USDT")
    assert [o["clientOrderId"] for o in open_orders] == ["ho2m"]
    await ex.cancel_order(None, "ETH/USDT:USDT", {"clOrdId": "ho2m"})
    assert await ex.fetch_open_orders("ETH/USDT:USDT") == []


async def test_a_bad_signature_is_an_authentication_error(rig: Rig) -> None:
    bad = okx(rig.url, secret="wrong")
    try:
        with pytest.raises(ccxt.AuthenticationError):
            await bad.fetch_balance()
    finally:
        await bad.close()


async def test_duplicate_client_order_id_is_refused(ex: Any) -> None:
    # While an order under it is pending; a filled one's id is free again (tests/test_ccxt_venue_okx_ids.py).
    far = round((await ex.fetch_ticker("SOL/USDT:USDT"))["bid"] * 0.8, 2)
    await ex.create_order("SOL/USDT:USDT", "limit", "buy", 1, far, {"clientOrderId": "dup1"})
    with pytest.raises(ccxt.InvalidOrder, match="51016"):
        await ex.create_order("SOL/USDT:USDT", "market", "buy", 1, None, {"clientOrderId": "dup1"})


@pytest.mark.parametrize(("fault", "error"), [
    ("rate_limited", ccxt.RateLimitExceeded),
    ("maintenance", ccxt.ExchangeNotAvailable),
    ("rejects", ccxt.InsufficientFunds),
])
async def test_injected_faults_reach_ccxt_as_its_own_exceptions(ex: Any, rig: Rig, fault: str,
                                                                error: type[Exception]) -> None:
    await ex.load_markets()
    setattr(rig.emu.faults, fault, 1)
    with pytest.raises(error):
        await ex.create_order("SOL/USDT:USDT", "market", "buy", 1, None, {"clientOrderId": "f1"})


async def test_a_timed_out_order_was_still_placed(rig: Rig) -> None:
    impatient = okx(rig.url, timeout=300)
    try:
        await impatient.load_markets()
        rig.emu.faults.timeouts, rig.emu.faults.timeout_seconds = 1, 1.0
        with pytest.raises(ccxt.RequestTimeout):
            await impatient.create_order("SOL/USDT:USDT", "market", "buy", 1, None, {"clientOrderId": "t1"})
        found = await impatient.fetch_order(None, "SOL/USDT:USDT", {"clOrdId": "t1"})
        assert found["status"] == "closed"  # which is why a retry must look it up first
    finally:
        await impatient.close()


async def test_transfers_between_funding_and_trading_and_leverage(ex: Any, rig: Rig) -> None:
    rig.emu.account("test-key").funding_wallet["USDT"] = D(500)
    before = (await ex.fetch_balance())["USDT"]["total"]
    await ex.transfer("USDT", 200, "funding", "trading")
    after = (await ex.fetch_balance())["USDT"]["total"]
    assert after - before == pytest.approx(200)
    assert rig.emu.account("test-key").funding_wallet["USDT"] == D(300)
    with pytest.raises(ccxt.ExchangeError):
        await ex.transfer("USDT", 10_000, "funding", "trading")  # more than the funding wallet holds
    await ex.load_markets()
    await ex.set_leverage(3, "SOL/USDT:USDT", {"marginMode": "cross"})
    assert rig.emu.account("test-key").leverage["SOL/USDT:USDT"] == D(3)



async def test_a_non_ascii_passphrase_is_compared_as_bytes() -> None:
    """A passphrase outside ASCII authenticates when it matches and is OKX's 50105 when it does not: never a 500."""
    for held, sent, works in (("pässwörd-密码", "pässwörd-密码", True), ("pässwörd-密码", "pässwörd-密馬", False),
                              (PASSPHRASE, "pässwörd", False)):
        emu = Emulator(MarketReplay(), Clock(), {KEY: Credentials(SECRET, held)})
        async with serving(emu) as (_, url):
            client = okx(url, passphrase=sent)
            try:
                if works:
                    assert (await client.fetch_balance())["USDT"]["total"] > 0
                else:
                    with pytest.raises(ccxt.AuthenticationError, match="50105"):
                        await client.fetch_balance()
            finally:
                await client.close()


async def test_controls_shock_a_price_and_set_the_next_funding_rate_only_when_enabled_and_signed() -> None:
    emu = Emulator(MarketReplay(), Clock(), {KEY: Credentials(SECRET, PASSPHRASE)})
    async with serving(emu) as (_, url):  # the command-line emulator: no controls at all
        status, _ = await control(url, "/emulator/shock", {"instId": "ETH-USDT-SWAP", "ratio": "0.1"})
        assert status == 404
    async with serving(emu, controls=True) as (_, url):
        ex = okx(url)
        try:
            before = (await ex.fetch_ticker("ETH/USDT:USDT"))["last"]
            status, answer = await control(url, "/emulator/shock", {"instId": "ETH-USDT-SWAP", "ratio": "0.1"})
            assert status == 200 and answer["code"] == "0"
            after = (await ex.fetch_ticker("ETH/USDT:USDT"))["last"]
            assert after == pytest.approx(before * 1.1, rel=1e-3)
            spot = emu.quote(BY_SYMBOL["ETH/USDT"]).last
            assert float(spot) == pytest.approx(before, rel=0.01)  # only the instrument named moves
            await ex.create_order("ETH/USDT:USDT", "market", "sell", 1, None, {"clientOrderId": "sh1"})
            positions = await ex.fetch_positions(["ETH/USDT:USDT"])
            assert positions[0]["entryPrice"] == pytest.approx(after, rel=1e-3)  # fills at the shocked price

            status, answer = await control(url, "/emulator/funding", {"instId": "ETH-USDT-SWAP", "rate": "-0.002"})
            assert status == 200 and answer["data"][0]["fundingRate"] == "-0.002"
            rate = await ex.fetch_funding_rate("ETH/USDT:USDT")
            assert rate["fundingRate"] == -0.002
            emu.clock.advance(8 * 3600)  # type: ignore[attr-defined]  # past the settlement: the short pays
            history = await ex.fetch_funding_history("ETH/USDT:USDT")
            assert history and history[-1]["amount"] < 0

            for path, body, code in (("/emulator/shock", {"instId": "NOPE", "ratio": "0.1"}, "51001"),
                                     ("/emulator/shock", {"instId": "ETH-USDT", "ratio": "-1"}, "51000"),
                                     ("/emulator/funding", {"instId": "ETH-USDT", "rate": "0.1"}, "51000")):
                assert (await control(url, path, body))[1]["code"] == code
            status, answer = await control(url, "/emulator/shock", {"instId": "ETH-USDT", "ratio": "0.5"},
                                           secret="wrong")
            assert (status, answer["code"]) == (401, "50113")  # unsigned: refused like any private call
            assert emu.replay.shocks.get("ETH/USDT") is None
            status, answer = await control(url, "/emulator/shock", {"instFamily": "SOL-USDT", "ratio": "-0.2"})
            assert status == 200 and {r["instId"] for r in answer["data"]} == {"SOL-USDT", "SOL-USDT-SWAP"}
            assert emu.replay.shocks["SOL/USDT"] == emu.replay.shocks["SOL/USDT:USDT"] == D("-0.2")
        finally:
            await ex.close()

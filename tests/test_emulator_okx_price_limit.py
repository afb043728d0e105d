"""OKX's price limit: GET /api/v5/public/price-limit serves the band (buyLmt, sellLmt) around the emulator's price,
and a priced order beyond it (a buy above buyLmt, a sell below sellLmt) is refused with sCode 51006 over REST,
in a batch and over the websocket, as OKX refuses it; ccxt reads that as InvalidOrder. Binance's PERCENT_PRICE
(multiplierUp 1.05 / multiplierDown 0.95 in exchangeInfo) is enforced with -4016 / -4024."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.emulator.okx_common import PRICE_LIMIT_BAND

from .emulator_controls import call
from .emulator_fixtures import Rig, okx, start
from .emulator_ws import answer, login_args, warm, ws_base
from .test_emulator_binance import KEY as BN_KEY
from .test_emulator_binance import SECRET as BN_SECRET
from .test_emulator_binance import rig as binance_rig  # noqa: F401  (the fixture)
from .test_emulator_okx_fields import check

D = Decimal
INST = "SOL-USDT-SWAP"
PRICE_LIMIT = ["instType", "instId", "buyLmt", "sellLmt", "ts", "enabled"]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        await warm(r)
        yield r


async def _limit(rig: Rig, inst: str = INST) -> dict[str, Any]:
    status, got = await call(rig.url, "GET", f"/api/v5/public/price-limit?instId={inst}")
    assert status == 200 and got["code"] == "0", got
    return dict(got["data"][0])


def _order(side: str, px: D, ord_type: str = "limit", **extra: str) -> dict[str, str]:
    return {"instId": INST, "tdMode": "cross", "side": side, "ordType": ord_type, "sz": "1", "px": str(px), **extra}


async def test_price_limit_endpoint_serves_the_band_around_the_price(rig: Rig) -> None:
    enabled = await _limit(rig)
    assert enabled.pop("enabled") is True  # a boolean in OKX's documentation
    check(enabled, [f for f in PRICE_LIMIT if f != "enabled"], "price-limit")
    last = D((await call(rig.url, "GET", f"/api/v5/market/ticker?instId={INST}"))[1]["data"][0]["last"])
    buy, sell = D(enabled["buyLmt"]), D(enabled["sellLmt"])
    tick = D("0.01")
    assert last * (1 + PRICE_LIMIT_BAND) - tick < buy <= last * (1 + PRICE_LIMIT_BAND)
    assert last * (1 - PRICE_LIMIT_BAND) <= sell < last * (1 - PRICE_LIMIT_BAND) + tick
    for inst in ("BTC-USDT", "ETH-USDT-SWAP", "BTC-USDT-260327"):
        row = await _limit(rig, inst)
        assert D(row["sellLmt"]) < D(row["buyLmt"]), row
    _, missing = await call(rig.url, "GET", "/api/v5/public/price-limit")
    assert missing["code"] == "50014"


async def test_orders_beyond_the_band_are_refused_with_51006(rig: Rig) -> None:
    band = await _limit(rig)
    buy, sell = D(band["buyLmt"]), D(band["sellLmt"])
    msg = f"Order price is not within the price limit (max buy price: {band['buyLmt']}, min sell price: " \
          f"{band['sellLmt']})"
    for body in (_order("buy", buy * 2), _order("buy", buy + D("0.01")), _order("sell", sell - D("0.01")),
                 _order("buy", buy + 1, "post_only"), _order("sell", sell / 2, "ioc")):
        _, got = await call(rig.url, "POST", "/api/v5/trade/order", body)
        assert (got["code"], got["data"][0]["sCode"], got["data"][0]["sMsg"]) == ("1", "51006", msg), body
    # At the limits, and far on the passive side (a buy far below, a sell far above), orders are taken.
    for body in (_order("buy", buy), _order("sell", sell), _order("buy", sell / 2), _order("sell", buy * 2)):
        _, got = await call(rig.url, "POST", "/api/v5/trade/order", body)
        assert got["data"][0]["sCode"] == "0", (body, got)
    _, batch = await call(rig.url, "POST", "/api/v5/trade/batch-orders",
                          [_order("buy", sell), _order("buy", buy * 2)])
    assert batch["code"] == "2" and [r["sCode"] for r in batch["data"]] == ["0", "51006"]


async def test_the_websocket_order_op_is_refused_beyond_the_band(rig: Rig) -> None:
    band = await _limit(rig)
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_base(rig.url) + "/private") as ws:
        await answer(ws, login_args())
        got = await answer(ws, {"id": "1", "op": "order", "args": [_order("buy", D(band["buyLmt"]) * 2)]})
        assert (got["code"], got["data"][0]["sCode"]) == ("1", "51006")
        got = await answer(ws, {"id": "2", "op": "batch-orders",
                                "args": [_order("sell", D(band["sellLmt"]) / 2), _order("sell", D(band["buyLmt"]))]})
        assert [r["sCode"] for r in got["data"]] == ["51006", "0"]


async def test_ccxt_reads_51006_as_invalid_order(rig: Rig) -> None:
    ex = okx(rig.url)
    try:
        await ex.load_markets()
        last = (await ex.fetch_ticker("SOL/USDT:USDT"))["last"]
        with pytest.raises(ccxt.InvalidOrder, match="51006"):
            await ex.create_order("SOL/USDT:USDT", "limit", "buy", 1, last * 2)
    finally:
        await ex.close()


async def test_binance_percent_price_is_enforced(binance_rig: Any) -> None:  # noqa: F811
    url = binance_rig[3]
    ex = make_client("binanceusdm", ApiCredentials(BN_KEY, BN_SECRET), base_url=url, rate_limit=False)
    try:
        await ex.load_markets()
        last = D(str((await ex.fetch_ticker("ETH/USDT:USDT"))["last"]))
        cap = (last * D("1.05") / D("0.01")).to_integral_value(rounding="ROUND_FLOOR") * D("0.01")
        floor = (last * D("0.95") / D("0.01")).to_integral_value(rounding="ROUND_CEILING") * D("0.01")
        with pytest.raises(ccxt.BadRequest, match=f"-4016.*Limit price can't be higher than {cap:.2f}\\."):
            await ex.create_order("ETH/USDT:USDT", "limit", "buy", 0.05, float(last * 2))
        with pytest.raises(ccxt.BadRequest, match=f"-4024.*Limit price can't be lower than {floor:.2f}\\."):
            await ex.create_order("ETH/USDT:USDT", "limit", "sell", 0.05, float(floor - D("0.01")))
        at_cap = await ex.create_order("ETH/USDT:USDT", "limit", "buy", 0.05, float(cap))
        at_floor = await ex.create_order("ETH/USDT:USDT", "limit", "sell", 0.05, float(floor))
        assert at_cap["id"] and at_floor["id"]
    finally:
        await ex.close()


async def test_the_projects_venue_reads_a_price_limit_refusal_as_a_refused_order(binance_rig: Any) -> None:  # noqa: F811
    """Binance's -4016 reaches ccxt as BadRequest: the venue must still call it a refused order (the plan goes on,
    taker or next cycle), not a final error of the exchange."""
    from hedgeops.exchange.ccxt.venue import CcxtVenue
    from hedgeops.exchange.venue import OrderRejected
    from hedgeops.model.orders import OrderRequest, OrderType, Side

    venue = CcxtVenue(make_client("binanceusdm", ApiCredentials(BN_KEY, BN_SECRET), base_url=binance_rig[3],
                                  rate_limit=False))
    try:
        await venue.markets(["ETH/USDT:USDT"])
        last = (await venue.quotes(["ETH/USDT:USDT"]))["ETH/USDT:USDT"].last
        with pytest.raises(OrderRejected, match="-4016"):
            await venue.place(OrderRequest("far-1", "ETH/USDT:USDT", Side.BUY, D("0.05"), OrderType.LIMIT,
                                           (last * 2).quantize(D("0.01"))))
    finally:
        await venue.close()

"""The OKX emulator from its first instant on one clock, an account that adds up, OKX's codes for what OKX refuses
(never a 5xx), candles that never look ahead, and many accounts. In-process over loopback, signed as ccxt signs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hedgeops.cli import build_parser
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator, load_keys
from hedgeops.exchange.marketdata.replay import MarketReplay

from .emulator_controls import call
from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock, Rig, start

D = Decimal
SOL, SOL_SPOT = "SOL/USDT:USDT", "SOL/USDT"
DATA_START = datetime(2024, 12, 31, tzinfo=UTC)  # the first instant every instrument has data


async def rig_at(at: datetime, usdt: Decimal | None = None) -> AsyncIterator[Rig]:
    clock = Clock(at)
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, PASSPHRASE, usdt)})
    async with serving(emu) as (app, url):
        yield Rig(emu, app, clock, url)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start(Clock(datetime(2025, 6, 1, 12, 2, tzinfo=UTC))):
        yield r


async def data(rig: Rig, method: str, path: str, body: Any = None) -> list[Any]:
    status, answer = await call(rig.url, method, path, body)
    assert status == 200 and answer["code"] == "0", answer
    return list(answer["data"])


async def code(rig: Rig, method: str, path: str, body: Any = None) -> str:
    """The OKX code a request earns: a single order's sCode, else the envelope's."""
    status, answer = await call(rig.url, method, path, body)
    assert status < 500, answer
    rows = answer.get("data") or []
    if path in ("/api/v5/trade/order", "/api/v5/trade/cancel-order") and method == "POST" and rows:
        return str(rows[0]["sCode"])
    return str(answer["code"])


def ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


async def test_from_the_first_instant_on_one_clock() -> None:
    async for r in rig_at(DATA_START):
        bar = r.emu.replay.series(SOL).current(DATA_START)
        assert bar is not None and r.emu.replay.series(SOL).last_closed(DATA_START) is None
        ticker = (await data(r, "GET", "/api/v5/market/ticker?instId=SOL-USDT-SWAP"))[0]
        assert D(ticker["last"]) == bar.open.quantize(D("0.01")) and ticker["ts"] == ms(DATA_START)
        for inst in ("BTC-USDT", "ETH-USDT-SWAP"):
            assert (await data(r, "GET", f"/api/v5/market/books?instId={inst}"))[0]["asks"]
        assert (await data(r, "GET", "/api/v5/account/balance"))[0]["totalEq"] == "100000"
        r.clock.advance(90)
        assert (await data(r, "GET", "/api/v5/public/time"))[0]["ts"] == ms(r.clock())  # the replay clock
        placed = (await data(r, "POST", "/api/v5/trade/order", {"instId": "SOL-USDT-SWAP", "tdMode": "cross",
                                                                 "side": "buy", "ordType": "market", "sz": "1"}))[0]
        assert placed["ts"] == ms(r.clock())
        order = (await data(r, "GET", f"/api/v5/trade/order?instId=SOL-USDT-SWAP&ordId={placed['ordId']}"))[0]
        fill = (await data(r, "GET", "/api/v5/trade/fills"))[0]
        bill = (await data(r, "GET", "/api/v5/account/bills?type=2"))[0]
        assert order["cTime"] == order["uTime"] == order["fillTime"] == fill["ts"] == bill["ts"] == ms(r.clock())
        assert D(order["avgPx"]) == bar.open.quantize(D("0.01")) + D("0.01")  # the ask around the open


async def test_candles_show_real_bars_and_never_look_ahead(rig: Rig) -> None:
    series = rig.emu.replay.series(SOL)
    now = rig.clock()  # 12:02, inside the 12:00 bar
    rows = await data(rig, "GET", "/api/v5/market/candles?instId=SOL-USDT-SWAP&bar=5m&limit=3")
    assert [r[0] for r in rows] == [ms(now.replace(minute=0) - timedelta(minutes=m)) for m in (0, 5, 10)]
    current = series.current(now)
    assert current is not None
    o = str(current.open.quantize(D("0.01")).normalize())
    assert rows[0][1:5] == [o, o, o, o] and rows[0][5] == "0" and rows[0][8] == "0"  # only its open is known
    closed = series.last_closed(now)
    assert closed is not None and rows[1][8] == "1"
    assert [D(x) for x in rows[1][1:5]] == [p.quantize(D("0.01")) for p in (closed.open, closed.high, closed.low,
                                                                              closed.close)]
    hours = await data(rig, "GET", "/api/v5/market/history-candles?instId=SOL-USDT-SWAP&bar=1H&limit=2")
    eleven = [b for b in series.bars_between(now.replace(hour=11, minute=0), now.replace(minute=0))]
    assert len(eleven) == 12 and hours[1][0] == ms(now.replace(hour=11, minute=0)) and hours[1][8] == "1"
    assert D(hours[1][2]) == max(b.high for b in eleven).quantize(D("0.01"))
    assert D(hours[1][3]) == min(b.low for b in eleven).quantize(D("0.01"))
    assert hours[0][8] == "0"
    older = await data(rig, "GET", f"/api/v5/market/candles?instId=SOL-USDT-SWAP&bar=5m&limit=2&after={rows[1][0]}")
    assert [r[0] for r in older] == [rows[2][0], str(int(rows[2][0]) - 300_000)]
    assert await code(rig, "GET", "/api/v5/market/candles?instId=SOL-USDT-SWAP&bar=1m") == "51000"  # finer than data
    spot = await data(rig, "GET", "/api/v5/market/candles?instId=SOL-USDT&bar=1Dutc&limit=1")
    assert spot[0][0] == ms(now.replace(hour=0, minute=0)) and spot[0][8] == "0"


async def test_resting_orders_reserve_funds() -> None:
    async for r in rig_at(datetime(2025, 6, 1, 12, 2, tzinfo=UTC), usdt=D(10_000)):
        bid = D((await data(r, "GET", "/api/v5/market/ticker?instId=SOL-USDT"))[0]["bidPx"])
        px = bid - 1
        sz = (D(9000) / px).quantize(D("0.001"))
        codes = [await code(r, "POST", "/api/v5/trade/order",
                            {"instId": "SOL-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
                             "px": str(px), "sz": str(sz)}) for _ in range(20)]
        assert codes == ["0"] + ["51008"] * 19  # 90% of the balance each: only the first fits
        usdt = next(d for d in (await data(r, "GET", "/api/v5/account/balance"))[0]["details"] if d["ccy"] == "USDT")
        assert D(usdt["ordFrozen"]) > 9000 and D(usdt["availBal"]) < 1000 and usdt["cashBal"] == "10000"
        await data(r, "POST", "/api/v5/trade/order", {"instId": "SOL-USDT", "tdMode": "cash", "side": "buy",
                                                       "ordType": "market", "sz": "2", "tgtCcy": "base_ccy"})
        ask = D((await data(r, "GET", "/api/v5/market/ticker?instId=SOL-USDT"))[0]["askPx"])
        sell = {"instId": "SOL-USDT", "tdMode": "cash", "side": "sell", "ordType": "limit", "px": str(ask + 5)}
        assert await code(r, "POST", "/api/v5/trade/order", {**sell, "sz": "1.5"}) == "0"
        assert await code(r, "POST", "/api/v5/trade/order", {**sell, "sz": "1"}) == "51008"  # 0.5 SOL left free
        assert await code(r, "POST", "/api/v5/trade/order", {**sell, "sz": "0.5"}) == "0"
        # Perps: a resting order holds its margin (at the default 3x, 9k of margin is 27k of notional).
        perp_bid = D((await data(r, "GET", "/api/v5/market/ticker?instId=ETH-USDT-SWAP"))[0]["bidPx"]) - 10
        contracts = (D(27_000) / perp_bid / D("0.1") * D("0.9")).quantize(D("0.01"))
        perp = {"instId": "ETH-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "px": str(perp_bid),
                "sz": str(contracts)}
        codes = [await code(r, "POST", "/api/v5/trade/order", perp) for _ in range(3)]
        assert codes == ["51008"] * 3  # the spot buys above already hold the cash
        await data(r, "POST", "/api/v5/trade/cancel-batch-orders", [
            {"instId": "SOL-USDT", "ordId": o["ordId"]} for o in await data(r, "GET", "/api/v5/trade/orders-pending")
            if o["side"] == "buy"])
        codes = [await code(r, "POST", "/api/v5/trade/order", perp) for _ in range(20)]
        assert codes == ["0"] + ["51008"] * 19


async def test_ticks_lots_and_malformed_numbers_earn_okx_codes(rig: Rig) -> None:
    base = {"instId": "SOL-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "px": "100"}
    cases = [({"px": "100.005"}, "51000"), ({"px": "1e-30"}, "51000"), ({"px": "0"}, "51000"),
             ({"px": "-1"}, "51000"), ({"sz": "1.005"}, "51121"), ({"sz": "0.001"}, "51121"),
             ({"sz": "1E+999999"}, "51000"), ({"sz": "NaN"}, "51000"), ({"sz": [1]}, "51000"),
             ({"sz": "abc"}, "51000"), ({"sz": "200000000"}, "51005"), ({"sz": ""}, "50014"),
             ({"instId": "NOPE-USDT"}, "51001"), ({"side": "up"}, "51000"), ({"ordType": "fok2"}, "51000"),
             ({"tdMode": "cash"}, "51000"), ({"reduceOnly": "maybe"}, "51000"), ({"clOrdId": "no-dash"}, "51000")]
    for change, want in cases:
        assert await code(rig, "POST", "/api/v5/trade/order", {"sz": "1", **base, **change}) == want, change
    spot = {"instId": "SOL-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": "100"}
    assert await code(rig, "POST", "/api/v5/trade/order", {**spot, "sz": "0.0001"}) == "51020"  # below minSz 0.001
    assert await code(rig, "POST", "/api/v5/trade/order", {**spot, "sz": "0.0010001"}) == "51121"  # lot 0.000001
    assert await code(rig, "POST", "/api/v5/trade/order", {**base, "sz": "1"}) == "0"


async def test_a_refused_client_order_id_is_free_again_and_fields_read_back(rig: Rig) -> None:
    big = {"instId": "SOL-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "market", "sz": "900000",
           "clOrdId": "again1"}
    assert await code(rig, "POST", "/api/v5/trade/order", {**big, "sz": "90000"}) == "51008"  # margin
    assert await code(rig, "GET", "/api/v5/trade/order?instId=SOL-USDT-SWAP&clOrdId=again1") == "51603"
    placed = (await data(rig, "POST", "/api/v5/trade/order", {**big, "sz": "10", "tag": "t1"}))[0]
    assert placed["sCode"] == "0" and placed["tag"] == "t1"
    resting = {"instId": "SOL-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "px": "1", "sz": "1",
               "clOrdId": "rest1"}
    assert (await data(rig, "POST", "/api/v5/trade/order", resting))[0]["sCode"] == "0"
    assert await code(rig, "POST", "/api/v5/trade/order", {**resting, "px": "2"}) == "51016"  # taken while pending
    await data(rig, "POST", "/api/v5/trade/cancel-order", {"instId": "SOL-USDT-SWAP", "clOrdId": "rest1"})
    closing = {"instId": "SOL-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "4",
               "reduceOnly": True, "tag": "hedgeops", "clOrdId": "close1"}
    assert await code(rig, "POST", "/api/v5/trade/order", {**closing, "sz": "11", "clOrdId": "close0"}) == "51169"
    await data(rig, "POST", "/api/v5/trade/order", closing)
    order = (await data(rig, "GET", "/api/v5/trade/order?instId=SOL-USDT-SWAP&clOrdId=close1"))[0]
    opened = (await data(rig, "GET", "/api/v5/trade/order?instId=SOL-USDT-SWAP&clOrdId=again1"))[0]
    assert (order["reduceOnly"], order["tag"], opened["reduceOnly"], opened["tag"]) == ("true", "hedgeops", "false",
                                                                                          "t1")
    px = D(order["avgPx"])
    assert D(order["fee"]) == -(4 * px * rig.emu.fees.taker) and order["feeCcy"] == "USDT"
    assert order["fillSz"] == order["accFillSz"] == "4" and order["state"] == "filled" and order["rebate"] == "0"
    assert D(order["pnl"]) == 4 * (D(opened["avgPx"]) - px)  # a short closed
    fill = (await data(rig, "GET", "/api/v5/trade/fills?instId=SOL-USDT-SWAP"))[0]
    assert fill["feeRate"] == "-0.0005" and fill["tradeId"] == order["tradeId"] and fill["tag"] == "hedgeops"
    position = (await data(rig, "GET", "/api/v5/account/positions"))[0]
    assert position["pos"] == "-6" and position["posId"] and position["availPos"] == ""  # MARGIN/OPTION only
    assert D(position["pnl"]) == D(order["pnl"]) and D(position["fee"]) == D(order["fee"]) + D(opened["fee"])
    assert D(position["realizedPnl"]) == D(position["pnl"]) + D(position["fee"]) + D(position["fundingFee"])


async def test_unknown_paths_are_404_and_garbage_is_never_a_5xx(rig: Rig) -> None:
    for method in ("GET", "POST"):
        status, answer = await call(rig.url, method, "/api/v5/no/such/thing", key="not-a-key")
        assert status == 404 and answer["code"] == "404", answer
    bodies = ["", "null", "[]", "{}", "[1, 2]", "{", "\"text\"", "3", "[{\"instId\": \"SOL-USDT-SWAP\"}, 5]",
              json.dumps({"instId": "SOL-USDT-SWAP", "sz": "1E+999999", "px": "NaN", "lever": "Infinity",
                          "side": ["buy"], "ordType": {"x": 1}, "clOrdId": 7, "amt": "1E+999999", "from": "6",
                          "to": "18", "ccy": "USDT", "ordId": [1], "mgnMode": None}),
              json.dumps([{"instId": "SOL-USDT-SWAP", "sz": "1E+999999", "side": "buy", "ordType": "market"}] * 3),
              "{\"sz\": 1e999999}"]
    queries = ["", "?limit=abc", "?limit=-1&sz=abc&after=x&before=%00", "?instId=SOL-USDT-SWAP&limit=99999999999999999",
               "?instType=FOO&instId=%E2%82%AC", "?instId=SOL-USDT-SWAP&bar=zz", "?instId=SOL-USDT&bar=1Mutc",
               "?instId=SOL-USDT-SWAP&ordId=abc&clOrdId=", "?ccy=,,,&type=x&begin=1e9&end=-5",
               "?instType=SWAP&state=live&after=123&before=1"]
    for resource in rig.app.app.router.resources():
        path = resource.canonical
        for route in resource:
            if route.method == "HEAD":
                continue
            for query in queries:
                for body in (bodies if route.method == "POST" else [""]):
                    status, answer = await call(rig.url, route.method, path + query, raw=body)
                    assert status < 500, (route.method, path + query, body, answer)
                    assert "code" in answer, answer


async def test_many_accounts_each_with_its_own_balances(tmp_path: Path) -> None:
    listed = [{"apiKey": f"bench{n}", "secret": f"s{n}", "passphrase": f"p{n}", "usdt": 1000 * (n + 1)}
              for n in range(3)]
    (tmp_path / "keys.yaml").write_text("\n".join(
        f"- apiKey: {k['apiKey']}\n  secret: {k['secret']}\n  passphrase: {k['passphrase']}\n  usdt: {k['usdt']}"
        for k in listed))
    (tmp_path / "keys.json").write_text(json.dumps({"keys": listed}))
    keys = load_keys(str(tmp_path / "keys.yaml"), ["extra:sx:px"])
    assert load_keys(str(tmp_path / "keys.json")) == {k: v for k, v in keys.items() if k != "extra"}
    assert keys["bench2"] == Credentials("s2", "p2", D(3000)) and keys["extra"].trading_usdt is None
    assert "s2" not in repr(keys) and "p2" not in repr(keys)
    with pytest.raises(ValueError) as refused:
        load_keys(None, ["k:secret-text"])
    assert "secret-text" not in str(refused.value)
    args = build_parser().parse_args(["emulator", "--keys-file", "k.yaml", "--account", "a:b:c", "--account",
                                      "d:e:f:5"])
    assert args.keys_file == "k.yaml" and args.account == ["a:b:c", "d:e:f:5"]

    emu = Emulator(MarketReplay(), Clock(), keys)
    async with serving(emu) as (_, url):
        async def eq(n: int) -> str:
            _, answer = await call(url, "GET", "/api/v5/account/balance", key=f"bench{n}", secret=f"s{n}",
                                   passphrase=f"p{n}")
            return str(answer["data"][0]["details"][0]["cashBal"])

        assert [await eq(n) for n in range(3)] == ["1000", "2000", "3000"]
        _, answer = await call(url, "POST", "/api/v5/trade/order", {"instId": "SOL-USDT-SWAP", "side": "buy",
                                    "ordType": "market", "sz": "1", "tdMode": "cross"}, key="bench0", secret="s0",
                                    passphrase="p0")
        assert answer["data"][0]["sCode"] == "0"
        positions = []
        for n in range(2):
            _, got = await call(url, "GET", "/api/v5/account/positions", key=f"bench{n}", secret=f"s{n}",
                                passphrase=f"p{n}")
            positions.append(len(got["data"]))
        assert positions == [1, 0]  # books that do not share positions
        assert (await call(url, "GET", "/api/v5/account/balance", key="bench1", secret="s0", passphrase="p1"))[0] == 401


BTC = "BTC-USDT-SWAP"
NOON = datetime(2025, 6, 1, 12, 2, tzinfo=UTC)


async def usdt_row(r: Rig) -> dict[str, Any]:
    return dict(next(d for d in (await data(r, "GET", "/api/v5/account/balance"))[0]["details"]
                     if d["ccy"] == "USDT"))


async def test_closing_orders_hold_no_margin_and_a_far_order_cannot_lock_the_account() -> None:
    # The review's lock.py: long 1 contract, a reduce-only sell at +1% held 1 contract's margin again, and a plain
    # sell at 1e11 (taken as "reducing") then froze 3e8, so every order and transfer after it was refused.
    async for r in rig_at(NOON, usdt=D(10_000)):
        order = {"instId": BTC, "tdMode": "cross", "ordType": "limit"}
        assert await code(r, "POST", "/api/v5/trade/order", {**order, "side": "buy", "ordType": "market",
                                                              "sz": "1"}) == "0"
        held = await usdt_row(r)
        ask = D((await data(r, "GET", f"/api/v5/market/ticker?instId={BTC}"))[0]["askPx"])
        near = {**order, "side": "sell", "sz": "1", "px": str((ask * D("1.01")).quantize(D("0.1")))}
        ro = (await data(r, "POST", "/api/v5/trade/order", {**near, "reduceOnly": True}))[0]
        row = await usdt_row(r)
        assert row["ordFrozen"] == "0" and row["availEq"] == held["availEq"]  # closing: no margin
        far = {**order, "side": "sell", "sz": "1", "px": "100000000000"}
        assert await code(r, "POST", "/api/v5/trade/order", far) == "51008"  # it would open a 1e11 short
        await data(r, "POST", "/api/v5/trade/cancel-order", {"instId": BTC, "ordId": ro["ordId"]})
        assert await code(r, "POST", "/api/v5/trade/order", far) == "0"  # alone, it closes the long
        assert (await usdt_row(r))["ordFrozen"] == "0"
        assert await code(r, "POST", "/api/v5/trade/order", {**near, "reduceOnly": True}) == "51008"
        assert await code(r, "POST", "/api/v5/trade/order", {**order, "side": "buy", "ordType": "market",
                                                              "sz": "1"}) == "0"  # the account is not locked
        assert await code(r, "POST", "/api/v5/asset/transfer", {"ccy": "USDT", "amt": "1", "from": "18",
                                                                 "to": "6"}) == "0"
        row = await usdt_row(r)
        assert D(row["availEq"]) > 0 and D(row["availBal"]) > 0 and row["ordFrozen"] == "0"  # 2 long, 1 closing
        position = (await data(r, "GET", f"/api/v5/account/positions?instId={BTC}"))[0]
        assert position["liqPx"] == ""  # the emulator never liquidates: no liquidation price


async def test_transfers_out_and_lower_leverage_are_held_to_the_margin_in_use() -> None:
    # The review's inproc_transfer.py and inproc_lever.py: 8% against a 10x long, and a transfer of cash less
    # initial margin (ignoring the unrealised loss) took availEq to -4182; 20x -> 1x went through on 2000 USDT
    # holding 0.3 BTC.
    async for r in rig_at(NOON, usdt=D(10_000)):
        lever = {"instId": BTC, "mgnMode": "cross"}
        await data(r, "POST", "/api/v5/account/set-leverage", {**lever, "lever": "10"})
        await data(r, "POST", "/api/v5/trade/order", {"instId": BTC, "tdMode": "cross", "side": "buy",
                                                       "ordType": "market", "sz": "50"})
        r.emu.shock("BTC/USDT:USDT", D("-0.08"))
        row = await usdt_row(r)
        avail = D(row["availEq"])
        assert D(row["upl"]) < -4000 and 0 < avail < D(row["cashBal"]) - D(row["imr"]) - 4000
        out = {"ccy": "USDT", "from": "18", "to": "6"}
        assert await code(r, "POST", "/api/v5/asset/transfer", {**out, "amt": str(avail + 1)}) == "58350"
        assert await code(r, "POST", "/api/v5/asset/transfer", {**out, "amt": str(avail - 1)}) == "0"
        assert 0 <= D((await usdt_row(r))["availEq"]) < 2
        for to in ("1", "9"):  # lower leverage the position cannot carry
            assert await code(r, "POST", "/api/v5/account/set-leverage", {**lever, "lever": to}) == "59108"
        await data(r, "POST", "/api/v5/account/set-leverage", {**lever, "lever": "20"})  # higher frees margin
        assert D((await usdt_row(r))["availEq"]) > avail
    async for r in rig_at(NOON, usdt=D(2000)):
        await data(r, "POST", "/api/v5/account/set-leverage", {**lever, "lever": "20"})
        await data(r, "POST", "/api/v5/trade/order", {"instId": BTC, "tdMode": "cross", "side": "buy",
                                                       "ordType": "market", "sz": "30"})
        assert await code(r, "POST", "/api/v5/account/set-leverage", {**lever, "lever": "1"}) == "59108"
        position = (await data(r, "GET", f"/api/v5/account/positions?instId={BTC}"))[0]
        assert position["lever"] == "20" and D((await usdt_row(r))["availEq"]) >= 0
        assert await code(r, "POST", "/api/v5/account/set-leverage", {**lever, "lever": "18"}) == "0"  # 1750 of 1984

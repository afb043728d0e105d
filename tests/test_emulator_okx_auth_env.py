"""OKX's authentication, as strict as OKX: a key belongs to an environment (live by default, or demo trading) and
must sign in it (demo: the header x-simulated-trading: 1, what ccxt's okx sends under set_sandbox_mode(True);
live: without it), else 50101; OK-ACCESS-TIMESTAMP must be ISO 8601 in UTC with milliseconds and Z, else 50112.
The project's make_client(sandbox=True) reaches a demo key and is refused on a live one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import ccxt.async_support as ccxt
import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator, load_keys
from hedgeops.exchange.marketdata.replay import MarketReplay

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock, Rig

DEMO_KEY, DEMO_SECRET, DEMO_PASS = "demo-key", "demo-secret", "demo-pass"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = Clock()
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, PASSPHRASE),
                                           DEMO_KEY: Credentials(DEMO_SECRET, DEMO_PASS, env="demo")})
    async with serving(emu) as (app, url):
        yield Rig(emu, app, clock, url)


def _now_ms() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _get(url: str, *, stamp: str | None = None, key: str = KEY, secret: str = SECRET,
               passphrase: str = PASSPHRASE, simulated: str | None = None) -> tuple[int, dict[str, object]]:
    path = "/api/v5/account/balance"
    stamp = stamp if stamp is not None else _now_ms()
    sign = base64.b64encode(hmac.new(secret.encode(), f"{stamp}GET{path}".encode(), hashlib.sha256).digest()).decode()
    headers = {"OK-ACCESS-KEY": key, "OK-ACCESS-SIGN": sign, "OK-ACCESS-TIMESTAMP": stamp,
               "OK-ACCESS-PASSPHRASE": passphrase}
    if simulated is not None:
        headers["x-simulated-trading"] = simulated
    async with aiohttp.ClientSession() as s, s.get(url + path, headers=headers) as resp:
        return resp.status, json.loads(await resp.text())


async def test_the_timestamp_must_be_iso_8601_with_milliseconds_and_z(rig: Rig) -> None:
    now = datetime.now(UTC)
    assert (await _get(rig.url))[1]["code"] == "0"
    for stamp in (now.isoformat(timespec="seconds").replace("+00:00", "Z"),  # no milliseconds
                  now.isoformat(timespec="milliseconds"),  # +00:00 for Z
                  now.replace(tzinfo=None).isoformat(timespec="milliseconds"),  # no zone
                  now.isoformat(timespec="microseconds").replace("+00:00", "Z"),  # too fine
                  str(int(now.timestamp() * 1000)),  # Unix ms (what Binance takes)
                  "2025-13-01T00:00:00.000Z"):  # the shape, no time
        status, got = await _get(rig.url, stamp=stamp)
        assert (status, got["code"], got["msg"]) == (401, "50112", "Invalid OK-ACCESS-TIMESTAMP"), stamp


async def test_a_key_signs_only_in_its_own_environment(rig: Rig) -> None:
    wrong = (401, "50101", "APIKey does not match current environment.")
    status, got = await _get(rig.url, simulated="1")  # a live key on demo trading
    assert (status, got["code"], got["msg"]) == wrong
    demo = {"key": DEMO_KEY, "secret": DEMO_SECRET, "passphrase": DEMO_PASS}
    status, got = await _get(rig.url, **demo)  # a demo key on live trading
    assert (status, got["code"], got["msg"]) == wrong
    status, got = await _get(rig.url, simulated="0", **demo)
    assert got["code"] == "50101"
    assert (await _get(rig.url, simulated="1", **demo))[1]["code"] == "0"
    assert (await _get(rig.url, simulated="0"))[1]["code"] == "0"  # a live key: the header is not "1"


async def test_the_projects_sandbox_client_reaches_a_demo_key_and_not_a_live_one(rig: Rig) -> None:
    demo = ApiCredentials(DEMO_KEY, DEMO_SECRET, DEMO_PASS)
    live = ApiCredentials(KEY, SECRET, PASSPHRASE)
    for creds, sandbox, works in ((demo, True, True), (live, True, False), (demo, False, False),
                                  (live, False, True)):
        client = make_client("okx", creds, sandbox=sandbox, base_url=rig.url, rate_limit=False)
        try:
            assert (client.headers.get("x-simulated-trading") == "1") == sandbox
            if works:
                assert (await client.fetch_balance())["info"]["code"] == "0"
            else:
                with pytest.raises(ccxt.AuthenticationError, match="50101"):
                    await client.fetch_balance()
        finally:
            await client.close()


def test_keys_declare_their_environment(tmp_path: Path) -> None:
    keys = load_keys(None, ["a:s:p", "b:s:p::demo", "c:s:p:5:live", "d:s:p:7:demo"])
    assert [keys[k].env for k in "abcd"] == ["live", "demo", "live", "demo"]
    assert keys["d"].trading_usdt == 7 and keys["b"].trading_usdt is None and keys["b"].demo
    listed = tmp_path / "keys.yaml"
    listed.write_text("- {apiKey: x, secret: s, passphrase: p, env: demo}\n- {apiKey: y, secret: s, passphrase: p}\n")
    keys = load_keys(str(listed))
    assert (keys["x"].env, keys["y"].env) == ("demo", "live")
    with pytest.raises(ValueError, match="env must be live or demo"):
        load_keys(None, ["a:s:p::paper"])
    with pytest.raises(ValueError, match="KEY:SECRET:PASSPHRASE"):
        load_keys(None, ["a:s:p:1:demo:x"])
    assert "hush" not in repr(Credentials("hush", "hush", env="demo"))

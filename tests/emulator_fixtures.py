"""An exchange emulator on a free loopback port and real ccxt pointed at it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.emulator.okx_http import EmulatorApp, serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
KEY, SECRET, PASSPHRASE = "test-key", "test-secret", "test-pass"
SECRETS = {("default", "okx-creds"): {"apiKey": KEY, "secret": SECRET, "passphrase": PASSPHRASE}}


async def read_secret(namespace: str, name: str) -> Mapping[str, str]:
    """The Secret reader a runtime test's CcxtVenues gets: okx-creds in `default` holds the emulator's key."""
    return SECRETS[(namespace, name)]


class Clock:
    """The replay clock the test moves."""

    def __init__(self, start: datetime = START) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@dataclass
class Rig:
    emu: Emulator
    app: EmulatorApp
    clock: Clock
    url: str


def okx(url: str, key: str = KEY, secret: str = SECRET, passphrase: str = PASSPHRASE, **opts: Any) -> Any:
    """Real ccxt OKX with every URL rewritten to the emulator."""
    ex = ccxt.okx({"apiKey": key, "secret": secret, "password": passphrase, "enableRateLimit": False,
                   "timeout": opts.pop("timeout", 10_000),
                   "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"}})
    ex.urls["api"] = {"rest": url}
    return ex


async def start(clock: Clock | None = None) -> AsyncIterator[Rig]:
    clock = clock or Clock()
    emu = Emulator(MarketReplay(), clock, {KEY: Credentials(SECRET, PASSPHRASE)})
    async with serving(emu) as (app, url):
        yield Rig(emu, app, clock, url)


def venue(rig: Rig, key: str = KEY, secret: str = SECRET, passphrase: str = PASSPHRASE, *,
          timeout_ms: int = 10_000, max_age_s: float = 2.0) -> CcxtVenue:
    """The project's ccxt venue on a real ccxt client pointed at the emulator."""
    client = make_client("okx", ApiCredentials(key, secret, passphrase), base_url=rig.url, timeout_ms=timeout_ms,
                         rate_limit=False)
    return CcxtVenue(client, snapshot_max_age_s=max_age_s)


@pytest.fixture
async def exchange() -> AsyncIterator[Rig]:
    """The emulator for a test module that imports this fixture."""
    async for rig in start():
        yield rig


def live_operator_env(url: str) -> dict[str, str]:
    """An operator trading Live (and paper on live prices) through ccxt to the emulator at `url`.

    The operator's Live books run on the wall clock while the emulator replays 2025 on its own clock and stamps
    its tickers in replay time, so every quote would look a year and a half old: the market-data age check is
    off here (issue 19 gives the emulator one clock). It is tested where both clocks are one
    (tests/test_runtime_freshness.py)."""
    return {"HEDGEOPS_PRICES": "live", "HEDGEOPS_LIVE_TRADING": "true", "HEDGEOPS_EXCHANGE_URLS": f"okx={url}",
            "HEDGEOPS_MAX_DATA_AGE_SECONDS": "off"}


def credentials_secret(name: str = "okx-creds") -> dict[str, Any]:
    """A Kubernetes Secret holding the emulator's API credentials, as a Live book's credentialsSecretRef names."""
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "type": "Opaque", "data": {"apiKey": b64(KEY), "secret": b64(SECRET), "passphrase": b64(PASSPHRASE)}}

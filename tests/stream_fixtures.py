"""The StreamingVenue tests' fixtures, shared through conftest: `rig`, the OKX emulator with its test controls on
(a module defining its own `rig` overrides it, and `sv` is then built on that one), and `sv`, a streaming venue on
the rig's account through real ccxt and ccxt.pro, closed after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hedgeops.exchange.ccxt.client import ApiCredentials
from hedgeops.exchange.stream import StreamingVenue, streaming_venue

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig
from .emulator_ws import rig_with_controls


def make_venue(rig: Rig) -> StreamingVenue:
    return streaming_venue("okx", ApiCredentials(KEY, SECRET, PASSPHRASE), base_url=rig.url, rate_limit=False)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in rig_with_controls():
        yield r


@pytest.fixture
async def sv(rig: Rig) -> AsyncIterator[StreamingVenue]:
    v = make_venue(rig)
    try:
        yield v
    finally:
        await v.close()

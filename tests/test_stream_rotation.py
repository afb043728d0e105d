"""A Secret rotated under a streaming account: the new credentials get a venue of their own, and the old venue's
streams end at once (its reconnect loop would otherwise log in with a possibly revoked key forever); its REST
client stays for calls in flight until shutdown."""

from __future__ import annotations

from collections.abc import Mapping

from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.exchange.emulator.okx_common import ALL_SYMBOLS
from hedgeops.exchange.emulator.okx_http import serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.stream.venue import StreamingVenue
from hedgeops.runtime.venues import CcxtVenues

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Clock
from .runtime_fixtures import Monotonic

SOL = "SOL/USDT:USDT"
NEW_KEY, NEW_SECRET, NEW_PASS = "rotated-key", "rotated-secret", "rotated-pass"


async def test_a_rotation_stops_the_old_venues_streams() -> None:
    emu = Emulator(MarketReplay(), Clock(), {KEY: Credentials(SECRET, PASSPHRASE),
                                            NEW_KEY: Credentials(NEW_SECRET, NEW_PASS)})
    secrets = {("team", "okx-creds"): {"apiKey": KEY, "secret": SECRET, "passphrase": PASSPHRASE}}

    async def read_secret(namespace: str, name: str) -> Mapping[str, str]:
        return dict(secrets[(namespace, name)])

    now = Monotonic()
    ref = ExchangeRef.model_validate({"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}})
    async with serving(emu) as (_, url):
        await emu.account("__public__").venue.snapshot(ALL_SYMBOLS)  # the series load once, outside the waits
        live = CcxtVenues(read_secret, {"okx": url}, streaming=True, rate_limit=False, monotonic=now)
        try:
            old = (await live.account(ref, Mode.LIVE, "team")).venue
            assert isinstance(old, StreamingVenue)
            await old.snapshot([SOL])
            assert old.trusted and old.supervisor.running
            secrets[("team", "okx-creds")] = {"apiKey": NEW_KEY, "secret": NEW_SECRET, "passphrase": NEW_PASS}
            now.t += 60  # past the Secret cache's TTL
            new = (await live.account(ref, Mode.LIVE, "team")).venue
            assert new is not old and old in live.retired
            assert not old.supervisor.running and not old.trusted
            await new.snapshot([SOL])
            assert new.trusted
        finally:
            await live.close()

"""Seed 001's instruments at run time, after review: an expired future or option counts zero and the book goes on
hedging with its perp (a Warning says so once; the venue is not asked for it, nor its market list fetched again, and
its missing ticker no longer stops the account's snapshot), while an unknown series that has not expired is still
refused; a coin-margined (inverse) future is refused by the venue rather than counted a hundredfold; a venue whose
ccxt client cannot load dated markets refuses them with a message instead of an AttributeError. Through the ccxt
venue and real ccxt to the OKX and Binance emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as accxt
import pytest

from hedgeops.api import HedgeBook
from hedgeops.api.hedgebook import HedgeBookStatus
from hedgeops.exchange.ccxt.client import ApiCredentials, make_client
from hedgeops.exchange.ccxt.venue import CcxtVenue
from hedgeops.exchange.emulator.binance_http import serving as binance_serving
from hedgeops.exchange.emulator.state import Credentials, Emulator
from hedgeops.exchange.marketdata.derived import EXPIRY
from hedgeops.exchange.marketdata.replay import MarketReplay
from hedgeops.exchange.venue import UnknownSymbol
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.kinds.book_result import CycleResult
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues

from .emulator_fixtures import KEY, SECRET, Clock, Rig, read_secret, start, venue
from .runtime_fixtures import as_result, book, policy

D = Decimal
PERP, FUTURE = "BTC/USDT:USDT", "BTC/USDT:USDT-260327"
EXPIRED, UNKNOWN = "BTC/USDT:USDT-250328", "BTC/USDT:USDT-261225"  # settled before the replay's time; never listed
POLICY = policy(minOrder={"BTC": "0.0005"})
# OKX's listing of its coin-margined BTC quarterly: 100 USD a contract, settled in BTC.
INVERSE_LISTING = {"instType": "FUTURES", "instId": "BTC-USD-261225", "uly": "BTC-USD", "instFamily": "BTC-USD",
                   "baseCcy": "", "quoteCcy": "", "settleCcy": "BTC", "ctVal": "100", "ctMult": "1",
                   "ctValCcy": "USD", "ctType": "inverse", "lotSz": "1", "minSz": "1", "tickSz": "0.1", "lever": "100",
                   "state": "live", "listTime": "1", "expTime": "1798185600000", "alias": "quarter", "optType": "",
                   "stk": ""}




def future_book(symbol: str) -> HedgeBook:
    return book("b1", mode="Live", holdings={"source": "Static", "static": {"BTC": "1"}},
                legs=[{"asset": "BTC", "symbol": PERP}], instruments=[{"asset": "BTC", "kind": "Future",
                                                                        "symbol": symbol}],
                exchange={"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}})


def ready(status: HedgeBookStatus | None) -> tuple[str, str, str]:
    assert status is not None
    c = next(c for c in status.conditions if c.type == "Ready")
    return c.status.value, c.reason, c.message


@pytest.fixture
async def emulator() -> AsyncIterator[Rig]:
    async for r in start():
        for symbol in (PERP, FUTURE):  # loaded here, not inside a request ccxt times out
            r.emu.replay.series(symbol)
        r.emu.account(KEY).venue.account.quote_balance = D(1_000_000)
        yield r


@pytest.fixture
def dated_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every dated market list the venue fetches (OKX's instruments?instType=FUTURES or OPTION)."""
    calls: list[str] = []
    original = accxt.okx.fetch_markets_by_type

    async def counted(self: Any, kind: str, params: Any = None) -> Any:
        if kind in ("future", "option"):  # ccxt's own load_markets fetches spot and swap this way
            calls.append(kind)
        return await original(self, kind, params or {})

    monkeypatch.setattr(accxt.okx, "fetch_markets_by_type", counted)
    return calls


def reconciler_on(rig: Rig) -> tuple[HedgeBookReconciler, Venues]:
    # The cycles below run at times after the replay's (an expiry passed): the data-age check is not what is tested.
    venues = Venues(PaperVenues(rig.clock), CcxtVenues(read_secret, {"okx": rig.url}, snapshot_max_age_s=0))
    services = Services(venues, InMemoryLocks(lambda: 0.0), InMemoryJournal(), Metrics(), "t", max_data_age_s=None)
    return HedgeBookReconciler(services), venues


async def test_a_future_that_expires_counts_zero_and_the_perp_goes_on_hedging(
        emulator: Rig, dated_loads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    ex = venue(emulator)
    try:  # the account holds 0.3 BTC short in the future
        await ex.markets([FUTURE])
        await ex.client.create_order(FUTURE, "market", "sell", 30)
    finally:
        await ex.close()
    dated_loads.clear()  # the set-up's own client loaded it too
    reconciler, venues = reconciler_on(emulator)
    try:
        async def cycle(b: HedgeBook, now: Any) -> tuple[HedgeBook, CycleResult]:
            result = as_result(await reconciler.reconcile(b, now, None, POLICY))
            return b.model_copy(update={"status": result.status}), result

        b, res = await cycle(future_book(FUTURE), emulator.clock())
        [btc] = b.status.exposures  # type: ignore[union-attr]
        assert [(i.symbol, i.delta) for i in btc.instruments] == [(PERP, 0), (FUTURE, D("-0.3"))]
        perp = emulator.emu.account(KEY).venue.account.positions({})[PERP].qty
        assert abs(perp - D("-0.7")) < D("0.0001") and dated_loads == ["future"]

        # The expiry passes (08:00 UTC on the day the symbol names) and OKX stops quoting the future (the emulator
        # does not settle its synthetic series: its tickers are filtered here as OKX's would lack it). The future
        # counts zero, the perp hedges the whole BTC, a Warning says so once, and OKX's futures list is not fetched.
        quoted = accxt.okx.fetch_tickers

        async def settled(self: Any, symbols: Any = None, params: Any = None) -> Any:
            return {k: v for k, v in (await quoted(self, symbols, params or {})).items() if k != FUTURE}

        monkeypatch.setattr(accxt.okx, "fetch_tickers", settled)
        after = EXPIRY + timedelta(minutes=1)
        b, res = await cycle(b, after)
        status, _, message = ready(b.status)
        assert status == "True" and FUTURE in message and "counted zero" in message, message
        assert [e.reason for e in res.events if e.reason == "InstrumentExpired"] == ["InstrumentExpired"]
        [btc] = b.status.exposures  # type: ignore[union-attr]
        assert [(i.symbol, i.delta) for i in btc.instruments] == [(PERP, perp), (FUTURE, 0)]
        assert res.plan is not None and {o.symbol for o in res.plan.orders} == {PERP}
        assert abs(emulator.emu.account(KEY).venue.account.positions({})[PERP].qty - D(-1)) < D("0.0001")
        b, res = await cycle(b, after + timedelta(minutes=5))
        assert ready(b.status)[0] == "True" and not [e for e in res.events if e.reason == "InstrumentExpired"]
        assert dated_loads == ["future"]
    finally:
        await venues.close()


async def test_after_a_restart_an_expired_series_is_not_asked_for_and_an_unknown_one_is_refused(
        emulator: Rig, dated_loads: list[str]) -> None:
    """The venue no longer lists a settled series: it counts zero rather than stop the book (UnknownSymbol before);
    a series that has not expired and is not listed is a typo until shown otherwise, and refused."""
    reconciler, venues = reconciler_on(emulator)
    try:
        res = as_result(await reconciler.reconcile(future_book(EXPIRED), emulator.clock(), None, POLICY))
        status, _, message = ready(res.status)
        assert status == "True" and EXPIRED in message and "2025-03-28 08:00" in message, message
        assert res.plan is not None and {o.symbol for o in res.plan.orders} == {PERP} and dated_loads == []

        before = emulator.emu.orders_placed()
        other = future_book(UNKNOWN).model_copy(update={"metadata": future_book(UNKNOWN).metadata.model_copy(
            update={"name": "b2", "uid": "b2"})})
        res = as_result(await reconciler.reconcile(other, emulator.clock(), None, POLICY))
        assert ready(res.status)[:2] == ("False", "UnknownSymbol") and UNKNOWN in ready(res.status)[2]
        assert emulator.emu.orders_placed() == before
    finally:
        await venues.close()


async def test_an_inverse_future_is_refused_by_the_venue_not_counted_a_hundredfold(
        emulator: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """OKX's futures list as real OKX has it: the emulator's linear future and the coin-margined quarterly."""
    listed = accxt.okx.fetch_markets_by_type

    async def with_inverse(self: Any, kind: str, params: Any = None) -> Any:
        markets = await listed(self, kind, params or {})
        return [*markets, self.parse_market(INVERSE_LISTING)] if kind == "future" else markets

    monkeypatch.setattr(accxt.okx, "fetch_markets_by_type", with_inverse)
    inverse = ccxt.okx().parse_market(INVERSE_LISTING)
    assert inverse["inverse"] and inverse["contractSize"] == 100  # USD, which ccxt leaves for the caller to know
    ex = venue(emulator)
    try:
        with pytest.raises(UnknownSymbol, match=r"BTC/USD:BTC-261225 as a coin-margined \(inverse\) future"):
            await ex.markets([PERP, FUTURE, inverse["symbol"]])
        assert set(await ex.markets([PERP, FUTURE])) == {PERP, FUTURE}  # the linear future is served
    finally:
        await ex.close()


async def test_a_venue_without_dated_markets_refuses_them_by_name() -> None:
    """ccxt's binanceusdm has no fetch_markets_by_type: an UnknownSymbol naming the future, not an AttributeError."""
    emu = Emulator(MarketReplay(), Clock(), {KEY: Credentials(SECRET, "")})
    async with binance_serving(emu) as (_, url):
        ven = CcxtVenue(make_client("binanceusdm", ApiCredentials(KEY, SECRET), base_url=url, rate_limit=False))
        try:
            assert not hasattr(ven.client, "fetch_markets_by_type")
            with pytest.raises(UnknownSymbol, match=r"okx only; BTC/USDT:USDT-260327 cannot be loaded"):
                await ven.markets([PERP, FUTURE])
        finally:
            await ven.close()

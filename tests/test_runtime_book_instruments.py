"""Seed 001 §5.1 at run time: a HedgeBook's spot balance, dated future and option count in its asset's delta beside
the perp leg, and only the perp is traded. Through the ccxt venue and real ccxt to the OKX emulator (the option's
delta is the venue's deltaBS; a venue that reports none stops the book, Degraded, naming the option, with nothing
sent), and in local mode on the paper venue (spot and the future work; the option is refused: no venue greeks)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest
import yaml

from hedgeops.api import HedgeBook
from hedgeops.api.common import Mode
from hedgeops.api.hedgebook import HedgeBookStatus
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.model.orders import OrderRequest, OrderType, Side
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.journal import InMemoryJournal
from hedgeops.runtime.kinds.book_result import CycleResult
from hedgeops.runtime.kinds.hedgebook import HedgeBookReconciler
from hedgeops.runtime.locks import InMemoryLocks
from hedgeops.runtime.metrics import Metrics
from hedgeops.runtime.venues import CcxtVenues, PaperVenues, Venues

from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig, read_secret, start
from .runtime_fixtures import as_result, book, controls, policy, rig

D = Decimal
PERP, FUTURE, OPTION = "BTC/USDT:USDT", "BTC/USDT:USDT-260327", "BTC/USD:BTC-260327-100000-C"
INSTRUMENTS = [{"asset": "BTC", "kind": "Spot", "reserve": "0.1"}, {"asset": "BTC", "kind": "Future", "symbol": FUTURE},
               {"asset": "BTC", "kind": "Option", "symbol": OPTION}]
POLICY = policy(minOrder={"BTC": "0.0005"})




def btc_book(instruments: list[dict[str, Any]], btc: str = "1", name: str = "b1", **spec: Any) -> HedgeBook:
    return book(name, holdings={"source": "Static", "static": {"BTC": btc}}, legs=[{"asset": "BTC", "symbol": PERP}],
                instruments=instruments, **spec)


def live_book(btc: str = "1", instruments: list[dict[str, Any]] = INSTRUMENTS[:2]) -> HedgeBook:
    return btc_book(instruments, btc, mode="Live",
                    exchange={"name": "okx", "account": "main", "credentialsSecretRef": {"name": "okx-creds"}})


def condition(status: HedgeBookStatus | None, type_: str) -> tuple[str, str, str]:
    assert status is not None
    c = next(c for c in status.conditions if c.type == type_)
    return c.status.value, c.reason, c.message


@pytest.fixture
async def emulator() -> AsyncIterator[Rig]:
    async for r in start():
        for symbol in (PERP, "BTC/USDT", FUTURE, OPTION):  # loaded here, not inside a request ccxt times out
            r.emu.replay.series(symbol)
        yield r


async def test_spot_future_and_option_count_in_the_delta_and_only_the_perp_trades(emulator: Rig) -> None:
    # The account's owner holds 0.5 BTC, 10 calls (0.1 BTC of underlying) bought with it, and 0.3 BTC short in
    # the dated future, all bought through stock ccxt.
    ex = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                   "options": {"fetchMarkets": {"types": ["spot", "swap", "future", "option"]}}})
    ex.urls["api"] = {"rest": emulator.url}
    ex.has["fetchCurrencies"] = False
    emulator.emu.account(KEY).venue.account.quote_balance = D(1_000_000)  # margin for a whole BTC's hedge at 3x
    try:
        await ex.create_order("BTC/USDT", "market", "buy", 0.5, None, {"tgtCcy": "base_ccy"})
        await ex.create_order(OPTION, "limit", "buy", 10, (await ex.fetch_ticker(OPTION))["ask"])
        await ex.create_order(FUTURE, "market", "sell", 30)
        balance = D(str((await ex.fetch_balance())["total"]["BTC"]))
        option_delta = D(next(p for p in await ex.fetch_positions() if p["symbol"] == OPTION)["info"]["deltaBS"])
    finally:
        await ex.close()
    observed = (balance - D("0.1")) + D("-0.3")  # spot less its reserve, the future
    assert D("0.05") < observed < D("0.1")  # the option's premium and fee were paid in BTC

    venues = Venues(PaperVenues(emulator.clock), CcxtVenues(read_secret, {"okx": emulator.url}, snapshot_max_age_s=0))
    reconciler = HedgeBookReconciler(Services(venues, InMemoryLocks(lambda: 0.0), InMemoryJournal(), Metrics(), "t"))
    acct = emulator.emu.account(KEY).venue.account
    try:
        async def step(b: HedgeBook) -> tuple[HedgeBook, CycleResult]:
            result = as_result(await reconciler.reconcile(b, emulator.clock(), None, POLICY))
            return b.model_copy(update={"status": result.status}), result

        b, res = await step(live_book())
        assert condition(b.status, "Ready")[0] == "True", condition(b.status, "Ready")
        [btc] = b.status.exposures  # type: ignore[union-attr]
        assert btc.hedgeQty == observed.quantize(D("0.00000001")) and btc.targetHedgeQty == D(-1)
        assert [(i.symbol, i.kind, i.qty, i.delta) for i in btc.instruments] == [
            (PERP, "Perp", 0, 0), ("BTC balance", "Spot", balance - D("0.1"), balance - D("0.1")),
            (FUTURE, "Future", D("-0.3"), D("-0.3"))]
        # Only the perp traded, and it made up what the other instruments do not: -1 - observed.
        assert res.plan is not None and {o.symbol for o in res.plan.orders} == {PERP}
        perp = acct.positions({})[PERP].qty
        assert abs(perp - (-1 - observed)) < D("0.0001")

        # The book counts the option instead of its spot balance (not both: OKX's BTC balance includes the
        # option's value): the option by its deltaBS, and the perp makes up the difference.
        emulator.clock.advance(300)
        b, res = await step(live_book(instruments=INSTRUMENTS[1:]).model_copy(update={"status": b.status}))
        assert condition(b.status, "Ready")[0] == "True", condition(b.status, "Ready")
        [btc] = b.status.exposures  # type: ignore[union-attr]
        assert [(i.symbol, i.kind, i.qty) for i in btc.instruments][1:] == [(FUTURE, "Future", D("-0.3")),
                                                                             (OPTION, "Option", D("0.1"))]
        delta = btc.instruments[2].delta  # the venue's deltaBS five minutes on
        assert abs(delta - option_delta) < D("0.001")
        observed = D("-0.3") + delta
        assert res.plan is not None and {o.symbol for o in res.plan.orders} == {PERP}
        perp = acct.positions({})[PERP].qty
        assert abs(perp - (-1 - observed)) < D("0.0001")
        assert acct.positions({})[FUTURE].qty == D("-0.3") and acct.positions({})[OPTION].qty == D("0.1")

        # A venue that reports no greek for the option: Degraded, the option named, nothing sent, even with a
        # rebalance due (the holding grew by half).
        emulator.emu.faults.no_greeks = True
        sent = emulator.emu.orders_placed()
        emulator.clock.advance(300)
        b, res = await step(live_book("1.5", INSTRUMENTS[1:]).model_copy(update={"status": b.status}))
        status, reason, message = condition(b.status, "Degraded")
        assert (status, reason) == ("True", "DeltaUnavailable") and OPTION in message, b.status
        assert condition(b.status, "Ready")[0] == "False" and res.plan is None
        assert emulator.emu.orders_placed() == sent and acct.positions({})[PERP].qty == perp
    finally:
        await venues.close()


async def test_local_mode_counts_spot_balances_and_the_dated_future() -> None:
    r = rig()
    b = btc_book(INSTRUMENTS[:2])
    venue = await r.venues.venue_for(b.spec.exchange, Mode.PAPER, "default")
    assert isinstance(venue, PaperVenue)
    await venue.place(OrderRequest("own1", "BTC/USDT", Side.BUY, D("0.5"), OrderType.MARKET))
    await venue.place(OrderRequest("own2", FUTURE, Side.SELL, D("0.3"), OrderType.MARKET))
    result = as_result(await r.reconciler.reconcile(b, r.clock.now(), controls(), POLICY))
    assert condition(result.status, "Ready")[0] == "True", result.status
    [btc] = result.status.exposures
    assert [(i.symbol, i.delta) for i in btc.instruments] == [(PERP, 0), ("BTC balance", D("0.4")),
                                                               (FUTURE, D("-0.3"))]
    # The perp makes up the rest: -1 - (0.4 - 0.3).
    assert venue.account.positions({})[PERP].qty == D("-1.1")
    assert venue.account.positions({})[FUTURE].qty == D("-0.3") and venue.account.assets["BTC"] == D("0.5")


async def test_local_mode_refuses_a_book_naming_an_option_with_a_clear_condition() -> None:
    r = rig()
    result = as_result(await r.reconciler.reconcile(btc_book(INSTRUMENTS[1:]), r.clock.now(), controls(), POLICY))
    status, reason, message = condition(result.status, "Ready")
    assert (status, reason) == ("False", "UnknownSymbol") and OPTION in message and "greeks" in message
    venue = r.venues.paper("okx", "b1")
    assert venue is None or not venue.account.orders  # nothing traded, not even the perp


def test_hedgeops_local_runs_a_spot_and_future_book_and_refuses_an_option_book(tmp_path: Path) -> None:
    """The command itself: the spot-and-future book is hedged (nothing of its own is held on the fresh paper
    account, so its perp hedges the whole holding); the option book is refused with its condition."""
    books = [btc_book(INSTRUMENTS[:2]),
             btc_book(INSTRUMENTS[1:], name="opt", exchange={"name": "okx", "account": "opt"})]
    docs = [POLICY.model_dump(mode="json", exclude_none=True) | {"apiVersion": "hedgeops.io/v1alpha1"}]
    docs += [b.model_dump(mode="json", exclude_none=True) | {"apiVersion": "hedgeops.io/v1alpha1"} for b in books]
    for d in docs:
        d["metadata"] = {"name": d["metadata"]["name"], "namespace": "default"}
        d.pop("status", None)
    (tmp_path / "books.yaml").write_text(yaml.safe_dump_all(docs))
    run = subprocess.run([sys.executable, "-m", "hedgeops.cli", "local", str(tmp_path), "--for", "1h", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    states = {b["book"]: b for b in json.loads(run.stdout)["books"]}
    assert states["default/b1"]["state"] == "Ready" and states["default/b1"]["rebalances"] == 1
    assert states["default/opt"]["state"] == "UnknownSymbol" and states["default/opt"]["rebalances"] == 0

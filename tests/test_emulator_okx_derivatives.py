"""The emulator's SYNTHETIC dated BTC future and BTC option (hedgeops/exchange/marketdata/derived.py) as real ccxt
sees them: listed on OKX's terms, priced by the documented rule from the real perp candles (re-derived here from
the bundled data, independently of the emulator's code), traded, and reported as positions with their greeks."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS
from hedgeops.exchange.marketdata.replay import MarketReplay

from .emulator_controls import call
from .emulator_fixtures import KEY, PASSPHRASE, SECRET, Rig, start
from .test_emulator_okx_fields import INSTRUMENT, POSITION, TICKER, check

D = Decimal
PERP, FUTURE, OPTION = "BTC/USDT:USDT", "BTC/USDT:USDT-260327", "BTC/USD:BTC-260327-100000-C"
EXPIRY = datetime(2026, 3, 27, 8, tzinfo=UTC)
OPT_SUMMARY = ["instType", "instId", "uly", "delta", "gamma", "vega", "theta", "deltaBS", "gammaBS", "thetaBS",
               "vegaBS", "lever", "markVol", "bidVol", "askVol", "realVol", "volLv", "fwdPx", "ts"]
MARK_PRICE = ["instType", "instId", "markPx", "ts"]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in start():
        for inst in OKX_INSTRUMENTS.values():  # loaded here, not inside a request ccxt times out
            r.emu.replay.series(inst.symbol)
        yield r


def okx(rig: Rig) -> Any:
    """Stock ccxt OKX, loading every market type OKX has, pointed at the emulator."""
    ex = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE, "enableRateLimit": False,
                   "options": {"fetchMarkets": {"types": ["spot", "swap", "future", "option"]}}})
    ex.urls["api"] = {"rest": rig.url}
    ex.has["fetchCurrencies"] = False
    return ex


def btc_cash(balance: dict[str, Any]) -> Decimal:
    return D(next(d for d in balance["info"]["data"][0]["details"] if d["ccy"] == "BTC")["cashBal"])


def hourly_vol(at: datetime) -> float:
    """The documented volatility, from the bundled file itself: annualised stdev of the hourly closes' log returns
    over the 30 days before `at`'s UTC day."""
    series = MarketReplay().series(PERP)
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    closes = []
    t = day - timedelta(days=30)
    while t <= day:
        bar = series.last_closed(t)
        assert bar is not None
        closes.append(float(bar.close))
        t += timedelta(hours=1)
    rets = [math.log(b / a) for a, b in itertools.pairwise(closes)]
    return statistics.stdev(rets) * math.sqrt(365 * 24)


def black_scholes_call(s: float, k: float, years: float, vol: float) -> tuple[float, float]:
    """(value in USD, delta) with no rates."""
    d1 = (math.log(s / k) + vol * vol * years / 2) / (vol * math.sqrt(years))
    n = statistics.NormalDist()
    return s * n.cdf(d1) - k * n.cdf(d1 - vol * math.sqrt(years)), n.cdf(d1)


def test_the_strike_and_expiry_follow_the_documented_rule() -> None:
    series = MarketReplay().series(PERP)
    assert round(statistics.median(float(c) for c in series.c) / 10_000) * 10_000 == 100_000
    assert series.last_known < EXPIRY and EXPIRY.weekday() == 4 and EXPIRY.month % 3 == 0
    assert (EXPIRY + timedelta(days=7)).month != EXPIRY.month  # the quarter's last Friday


async def test_ccxt_loads_trades_and_reads_the_future_and_the_option(rig: Rig) -> None:
    ex = okx(rig)
    try:
        markets = await ex.load_markets()
        fut, opt = markets[FUTURE], markets[OPTION]
        assert fut["future"] and fut["linear"] and fut["expiry"] == int(EXPIRY.timestamp() * 1000)
        assert fut["contractSize"] == 0.01 and fut["precision"]["price"] == 0.1
        assert opt["option"] and opt["inverse"] and opt["strike"] == 100_000 and opt["optionType"] == "call"
        assert opt["info"]["ctVal"] == "1" and opt["info"]["ctMult"] == "0.01" and opt["settle"] == "BTC"

        # Prices: the future is the perp's; the option Black-Scholes on it, in BTC, on OKX's tick.
        tickers = await ex.fetch_tickers([FUTURE])
        perp = (await ex.fetch_tickers([PERP]))[PERP]["last"]
        assert tickers[FUTURE]["last"] == perp and tickers[FUTURE]["baseVolume"] == 0  # no volume invented
        now = rig.clock()
        value, delta = black_scholes_call(perp, 100_000, (EXPIRY - now).total_seconds() / (365 * 86400),
                                          hourly_vol(now))
        option_last = (await ex.fetch_tickers([OPTION]))[OPTION]["last"]
        assert option_last == pytest.approx(round(value / perp / 0.0005) * 0.0005, abs=1e-9)

        # Trade: BTC for the premium, then the call with it, a short future.
        await ex.create_order("BTC/USDT", "market", "buy", 0.5, None, {"tgtCcy": "base_ccy"})
        btc_before = btc_cash(await ex.fetch_balance())
        ask = (await ex.fetch_ticker(OPTION))["ask"]
        await ex.create_order(OPTION, "limit", "buy", 10, ask)  # 10 contracts of 0.01 BTC
        await ex.create_order(FUTURE, "market", "sell", 30)  # 0.3 BTC short
        # Paid in BTC, with the fee, out of cashBal (eq, ccxt's total, counts the option's value back in).
        premium = btc_before - btc_cash(await ex.fetch_balance())
        assert premium == D("0.1") * D(str(ask)) * (1 + rig.emu.fees.taker)

        positions = {p["symbol"]: p for p in await ex.fetch_positions()}
        assert positions[FUTURE]["contracts"] == 30 and positions[FUTURE]["side"] == "short"
        assert positions[FUTURE]["info"]["deltaBS"] == ""  # greeks are for options only
        info = positions[OPTION]["info"]
        assert positions[OPTION]["contracts"] == 10 and positions[OPTION]["side"] == "long"
        assert D(info["deltaBS"]) == pytest.approx(D("0.1") * D(repr(delta)), abs=D("0.0002"))
        assert D(info["deltaPA"]) == pytest.approx(D(info["deltaBS"]) - D("0.1") * D(info["markPx"]), abs=D("0.00005"))
        for p in positions.values():
            check(p["info"], POSITION, f"position {p['symbol']}")
        _, bills = await call(rig.url, "GET", "/api/v5/account/bills?instType=OPTION")
        [bill] = bills["data"]
        assert bill["ccy"] == "BTC" and -D(bill["balChg"]) == premium  # the premium and its fee, in BTC

        # OKX refuses a market order on an option, and this emulator writes no options.
        with pytest.raises(ccxt.ExchangeError, match="ordType"):
            await ex.create_order(OPTION, "market", "buy", 1)
        with pytest.raises(ccxt.InsufficientFunds, match="no option writing"):
            await ex.create_order(OPTION, "limit", "sell", 11, ask)
    finally:
        await ex.close()


async def test_listings_summaries_and_marks_answer_okx_fields(rig: Rig) -> None:
    for kind, n in (("FUTURES", 1), ("OPTION", 1)):
        family = "&uly=BTC-USD" if kind == "OPTION" else ""
        status, answer = await call(rig.url, "GET", f"/api/v5/public/instruments?instType={kind}{family}")
        assert status == 200 and len(answer["data"]) == n
        for row in answer["data"]:
            check(row, INSTRUMENT, f"instruments {kind}")
    _, answer = await call(rig.url, "GET", "/api/v5/public/instruments?instType=OPTION")
    assert answer["code"] == "50014"  # OKX: OPTION needs uly or instFamily
    _, answer = await call(rig.url, "GET", "/api/v5/public/instruments?instType=OPTION&uly=ETH-USD")
    assert answer["code"] == "0" and answer["data"] == []
    for kind, family in (("FUTURES", ""), ("OPTION", "&instFamily=BTC-USD")):
        _, answer = await call(rig.url, "GET", f"/api/v5/market/tickers?instType={kind}{family}")
        [ticker] = answer["data"]
        check(ticker, TICKER, f"tickers {kind}")
    _, answer = await call(rig.url, "GET", "/api/v5/public/opt-summary?instFamily=BTC-USD")
    [summary] = answer["data"]
    check(summary, OPT_SUMMARY, "opt-summary")
    assert 0 < D(summary["deltaBS"]) < 1 and D(summary["delta"]) < D(summary["deltaBS"])
    assert float(summary["markVol"]) == pytest.approx(hourly_vol(rig.clock()), rel=1e-9)  # the documented rule
    _, answer = await call(rig.url, "GET", "/api/v5/public/mark-price?instType=FUTURES")
    [mark] = answer["data"]
    check(mark, MARK_PRICE, "mark-price")
    _, answer = await call(rig.url, "GET", "/api/v5/public/funding-rate?instId=BTC-USDT-260327")
    assert answer["code"] == "51000"  # a dated future pays no funding

    rig.emu.faults.no_greeks = True
    _, answer = await call(rig.url, "GET", "/api/v5/public/opt-summary?instFamily=BTC-USD")
    assert answer["data"][0]["deltaBS"] == ""


async def test_a_market_shock_moves_the_derived_instruments_once_with_their_underlying() -> None:
    from hedgeops.exchange.emulator.okx_http import serving
    from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL

    from .emulator_controls import control

    async for r in start():
        async with serving(r.emu, controls=True) as (_, url):
            before = {s: r.emu.quote(BY_SYMBOL[s]).last for s in (PERP, FUTURE, OPTION)}
            status, _ = await control(url, "/emulator/shock", {"instFamily": "BTC-USDT", "ratio": "0.1"})
            assert status == 200
            after = {s: r.emu.quote(BY_SYMBOL[s]).last for s in (PERP, FUTURE, OPTION)}
        assert after[FUTURE] == after[PERP] == (before[PERP] * D("1.1")).quantize(D("0.1"))
        assert after[OPTION] > before[OPTION]  # the call follows its underlying up

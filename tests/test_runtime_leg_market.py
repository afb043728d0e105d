"""At run time a leg trades only its asset's linear swap as the venue lists it: anything else is Ready=False
LegMismatch and not one order, even for a spec that never met the CRD's rules (stored before them, or bypassed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from decimal import Decimal

import ccxt.async_support as ccxt
import pytest

from hedgeops.api import HedgeBook
from hedgeops.api.hedgebook import Leg
from hedgeops.exchange.ccxt.parse import market_rules
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.model.market import MarketRules

from .runtime_fixtures import Rig, book, rig
from .test_runtime_hedgebook import cond, step


def _with_legs(b: HedgeBook, *legs: tuple[str, str]) -> HedgeBook:
    """The book with legs the model would refuse: as an object admitted before the rule existed reaches us."""
    spec = b.spec.model_copy(update={"legs": [Leg.model_construct(asset=a, symbol=s) for a, s in legs]})
    return b.model_copy(update={"spec": spec})


def _orders(r: Rig, b: HedgeBook) -> list[object]:
    return [e for e in r.entries(b) if e["type"] == "order"] if r.journal.streams else []


@pytest.mark.parametrize(("symbol", "why"), [("BTC/USDT:USDT", "base is BTC"), ("SOL/USDT", "not a linear")])
async def test_a_leg_on_a_market_that_is_not_its_assets_swap_sends_nothing(symbol: str, why: str) -> None:
    """{asset: SOL, symbol: BTC/USDT:USDT} shorted 17.5 BTC for 25 SOL; SOL/USDT sold the SOL itself."""
    r = rig()
    b = _with_legs(book(holdings={"source": "Static", "static": {"SOL": 25}},
                        legs=[{"asset": "SOL", "symbol": "SOL/USDT:USDT"}]), ("SOL", symbol))
    b, res = await step(r, b)
    assert b.status is not None and cond(b.status, "Ready") == ("False", "LegMismatch")
    ready = next(c for c in b.status.conditions if c.type == "Ready")
    assert symbol in ready.message and why in ready.message
    assert res.plan is None and [e.reason for e in res.events] == ["LegMismatch"]
    venue = r.venues.paper("okx", "b1")
    assert venue is not None and venue.account.open_orders() == []
    snap = await venue.snapshot([symbol])
    assert all(p.qty == 0 for p in snap.positions.values()) and _orders(r, b) == []


async def test_a_venue_that_lists_the_symbol_as_another_market_sends_nothing() -> None:
    """The spec is right, the venue's market is not (a base renamed, a swap relisted as a future): the loaded
    market decides, not the symbol's spelling."""
    r = rig()
    b, _ = await step(r, book())
    venue = r.venues.paper("okx", "b1")
    assert venue is not None
    sent = len(_orders(r, b))
    real = venue.markets

    async def relisted(symbols: Sequence[str]) -> Mapping[str, MarketRules]:
        out = dict(await real(symbols))
        out["SOL/USDT:USDT"] = dataclasses.replace(out["SOL/USDT:USDT"], base="SOLX")
        return out

    venue.markets = relisted  # type: ignore[method-assign]
    # Twice the SOL: unchanged legs would send an emergency plan at once.
    b = b.model_copy(update={"spec": b.spec.model_copy(update={"holdings": b.spec.holdings.model_copy(
        update={"static": {"SOL": Decimal(200), "ETH": Decimal(3)}})})})
    r.clock.advance(300)
    b, res = await step(r, b)
    assert b.status is not None and cond(b.status, "Ready") == ("False", "LegMismatch")
    assert "SOLX" in next(c for c in b.status.conditions if c.type == "Ready").message
    assert res.plan is None and len(_orders(r, b)) == sent


def test_paper_markets_say_which_are_linear_swaps() -> None:
    assert PAPER_MARKETS["SOL/USDT:USDT"].linear_swap and not PAPER_MARKETS["SOL/USDT"].linear_swap


@pytest.mark.parametrize(("market", "linear"), [
    ({"symbol": "SOL/USDT:USDT", "base": "SOL", "quote": "USDT", "settle": "USDT", "swap": True, "linear": True,
      "contract": True, "contractSize": 1}, True),
    ({"symbol": "SOL/USDT", "base": "SOL", "quote": "USDT", "settle": None, "swap": False, "linear": None,
      "spot": True}, False),
    ({"symbol": "BTC/USD:BTC", "base": "BTC", "quote": "USD", "settle": "BTC", "swap": True, "linear": False,
      "inverse": True, "contract": True, "contractSize": 100}, False),
    ({"symbol": "BTC/USDT:USDT-250627", "base": "BTC", "quote": "USDT", "settle": "USDT", "swap": False,
      "future": True, "linear": True, "contract": True, "contractSize": 0.01}, False),
])
def test_ccxt_markets_say_which_are_linear_swaps(market: dict[str, object], linear: bool) -> None:
    """ccxt's own flags decide (swap, linear, settle = quote), as the Live venue loads them."""
    rules = market_rules({**market, "precision": {"amount": 0.01, "price": 0.01}, "limits": {}}, ccxt.TICK_SIZE)
    assert rules.linear_swap is linear

"""Builders for cash-and-carry engine tests: an ETH spot/perp pair, books, accounts, and a tiny fill model."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hedgeops.api.funding import FundingArbitrageSpec
from hedgeops.engine.carry.machine import Action, CarryState, Inputs, LegOrder, Step, Transfer, step
from hedgeops.engine.carry.rules import CarryAccount, CarryMarket
from hedgeops.model.book import OrderBook
from hedgeops.model.market import MarketRules

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SPOT = MarketRules("ETH/USDT", "ETH", "USDT", D("0.0001"), D("0.01"), D("0.0001"))
PERP = MarketRules("ETH/USDT:USDT", "ETH", "USDT", D("0.001"), D("0.01"), D("0.001"))


def spec(**overrides: Any) -> FundingArbitrageSpec:
    body: dict[str, Any] = {
        "pairs": [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"}],
        "capital": {"amountQuote": "10000"},
        "exit": {"stopLossRatio": "-0.02"},
    }
    body.update(overrides)
    return FundingArbitrageSpec.model_validate(body)


FIFTY, HALF, ONE, PRICE, RATE = D(50), D("0.5"), D(1), D(3000), D("0.0002")


def book(mid: Decimal, depth_units: Decimal = FIFTY, levels: int = 5, tick: Decimal = HALF) -> OrderBook:
    """A symmetric book: `levels` levels each side, `depth_units` each, `tick` apart."""
    bids = tuple((mid - tick * (i + 1), depth_units) for i in range(levels))
    asks = tuple((mid + tick * (i + 1), depth_units) for i in range(levels))
    return OrderBook(bids, asks)


def market(price: Decimal = PRICE, rate: Decimal = RATE, depth_units: Decimal = FIFTY) -> CarryMarket:
    return CarryMarket(SPOT, PERP, book(price, depth_units), book(price, depth_units), rate, price)


def account(spot: str = "0", perp: str = "0", free: str = "6000", equity: str = "5000",
            open_orders: int = 0) -> CarryAccount:
    return CarryAccount(D(spot), D(perp), D(free), D(equity), open_orders)


def inputs(acct: CarryAccount, mkt: CarryMarket | None = None, sp: FundingArbitrageSpec | None = None,
           **kw: Any) -> Inputs:
    sp = sp or spec()
    return Inputs(sp, mkt or market(), acct, "uid-1", kw.pop("now", NOW), kw.pop("notional", D(5000)), **kw)


def fill(acct: CarryAccount, actions: tuple[Action, ...], price: Decimal, spot_frac: Decimal = ONE,
         perp_frac: Decimal = ONE) -> CarryAccount:
    """Apply a step's actions: transfers move quote, orders fill the given fraction at `price` (no fees)."""
    a = acct
    for act in actions:
        if isinstance(act, Transfer):
            sign = 1 if act.to == "derivatives" else -1
            a = replace(a, free_quote=a.free_quote - sign * act.amount, perp_equity=a.perp_equity + sign * act.amount)
        elif isinstance(act, LegOrder):
            frac = spot_frac if act.leg == "spot" else perp_frac
            qty = (act.qty * frac).quantize(D("0.0001"))
            signed = qty if act.side == "buy" else -qty
            if act.leg == "spot":
                a = replace(a, spot_qty=a.spot_qty + signed, free_quote=a.free_quote - signed * price)
            else:
                a = replace(a, perp_qty=a.perp_qty + signed)
    return a


def run(state: CarryState, acct: CarryAccount, **kw: Any) -> Step:
    return step(state, inputs(acct, **kw))

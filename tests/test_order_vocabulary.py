"""The order vocabulary as enums (issue 15, item 5): members equal and serialise as their text, so documents do
not change; an exchange's or a caller's text is parsed at the boundary, and an unknown value is a clear error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hedgeops.exchange.ccxt.parse import fill, order_state
from hedgeops.exchange.paper.account import PaperAccount
from hedgeops.exchange.venue import FinalVenueError, OrderRejected
from hedgeops.model.market import MarketRules, Quote
from hedgeops.model.orders import (
    DONE,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    parse_enum,
)

D = Decimal
NOW = datetime(2025, 1, 2, tzinfo=UTC)
SOL = "SOL/USDT:USDT"
MARKET = {"base": "SOL", "quote": "USDT"}


def test_members_are_their_text() -> None:
    assert Side.BUY == "buy" and f"{Side.SELL}" == "sell" and str(OrderStatus.CANCELED) == "canceled"
    assert json.dumps({"side": Side.BUY, "type": OrderType.MARKET, "l": Liquidity.MAKER}) == (
        '{"side": "buy", "type": "market", "l": "maker"}')
    assert "closed" in DONE and OrderStatus.OPEN not in DONE and not OrderStatus.OPEN.done
    assert {Side.SELL} == {"sell"}


def test_side_arithmetic() -> None:
    assert Side.BUY.signed(D(2)) == 2 and Side.SELL.signed(D(2)) == -2
    assert Side.towards(D("0.1")) is Side.BUY and Side.towards(D(-1)) is Side.SELL
    assert Side.BUY.opposite is Side.SELL


def test_parse_names_the_field_and_the_values() -> None:
    assert parse_enum(Side, "BUY", "side") is Side.BUY
    with pytest.raises(ValueError, match="order c1 side: 'long' is not one of buy, sell"):
        parse_enum(Side, "long", "order c1 side")


def _ccxt_order(**kw: object) -> dict[str, object]:
    return {"clientOrderId": "c1", "symbol": SOL, "side": "sell", "amount": 1, "filled": 1, "status": "closed",
            "type": "limit", "price": 100, "average": 100, **kw}


def test_ccxt_answers_become_enums() -> None:
    s = order_state(_ccxt_order(status="cancelled", type="post_only"), D(1), MARKET)
    assert (s.side, s.status, s.type) == (Side.SELL, OrderStatus.CANCELED, OrderType.LIMIT)
    assert isinstance(s.side, Side) and isinstance(s.status, OrderStatus)
    assert order_state(_ccxt_order(status=None, type=None), D(1), MARKET).status is OrderStatus.OPEN
    assert order_state(_ccxt_order(type="market"), D(1), MARKET).type is OrderType.MARKET
    f = fill({"id": "t1", "order": "o1", "symbol": SOL, "side": "buy", "amount": 1, "price": 100,
              "takerOrMaker": "maker", "timestamp": 0}, D(1), MARKET)
    assert f.side is Side.BUY and f.maker


def test_an_unknown_ccxt_side_or_type_is_a_final_venue_error() -> None:
    with pytest.raises(FinalVenueError, match="order c1 side: 'long'"):
        order_state(_ccxt_order(side="long"), D(1), MARKET)
    with pytest.raises(FinalVenueError, match="order c1 type: 'iceberg'"):
        order_state(_ccxt_order(type="iceberg"), D(1), MARKET)


def _paper() -> PaperAccount:
    return PaperAccount({SOL: MarketRules(SOL, "SOL", "USDT", D("0.01"), D("0.01"), D("0.01"), linear_swap=True)})


def test_paper_parses_a_callers_text_and_refuses_an_unknown_side() -> None:
    quote = Quote(SOL, D(100), D("100.1"), D(100), NOW)
    paper = _paper()
    done = paper.submit(OrderRequest("c1", SOL, "buy", D(1), "market"), quote, NOW)  # type: ignore[arg-type]
    assert (done.side, done.status, done.type) == (Side.BUY, OrderStatus.CLOSED, OrderType.MARKET)
    assert isinstance(done.side, Side) and isinstance(done.type, OrderType)
    with pytest.raises(OrderRejected, match="side: 'long' is not one of buy, sell"):
        paper.submit(OrderRequest("c2", SOL, "long", D(1), OrderType.MARKET), quote, NOW)  # type: ignore[arg-type]
    assert paper.orders["c2"].status is OrderStatus.REJECTED

"""Seed 003's perpetual market making: the position table, layers, inventory skew, stops, duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.api.marketmaker import MarketMakerSpec
from hedgeops.engine.common.errors import RedLineError
from hedgeops.engine.maker.decide import MakerLedger, decide_maker, position_action
from hedgeops.engine.maker.quotes import MakerQuote, Resting, diff_quotes, ladder, skew_ratio
from hedgeops.model.market import MarketRules

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SOL = MarketRules("SOL/USDT:USDT", "SOL", "USDT", D("0.01"), D("0.001"), D("0.01"))
BID, ASK = D("239.379"), D("239.447")  # the seed's log: Bid 239.379 | Ask 239.447


def spec(**kw: Any) -> MarketMakerSpec:
    body: dict[str, Any] = {"symbol": "SOL/USDT:USDT", "spreadRatio": "0.0025", "quantity": "0.1",
                            "maxOrders": 2, "targetPosition": "0", "positionThreshold": "0.2",
                            "maxPosition": "0.4", "stopLossQuote": "-1", "takeProfitQuote": "5"}
    body.update(kw)
    return MarketMakerSpec.model_validate(body)


def decide(sp: MarketMakerSpec, position: str = "0", pnl: str = "0", **kw: Any) -> Any:
    return decide_maker(sp, SOL, uid="mm-1", cycle=kw.pop("cycle", 1), now=kw.pop("now", NOW), started_at=NOW,
                        bid=BID, ask=ASK, position=D(position), unrealized_pnl=D(pnl), **kw)


# ---- the seed's table, row by row --------------------------------------------------------------------------

@pytest.mark.parametrize(("position", "kind", "qty"), [
    ("0.1", "None", "0"),          # inside the target range: nothing
    ("0.25", "Reduce", "0.05"),    # reduce only what is beyond the threshold line
    ("0.5", "RiskClose", "0.1"),   # beyond max: risk-close down to max
])
def test_the_seed_position_table(position: str, kind: str, qty: str) -> None:
    action = position_action(D(position), D(0), D("0.2"), D("0.4"))
    assert (action.kind, action.qty) == (kind, D(qty))
    d = decide(spec(), position)
    if kind == "None":
        assert d.close is None
    else:
        assert d.reason == kind and d.close.side == "sell" and d.close.amount == D(qty)


def test_short_positions_mirror_the_table() -> None:
    assert position_action(D("-0.25"), D(0), D("0.2"), D("0.4")).side == "buy"
    assert position_action(D("-0.5"), D(0), D("0.2"), D("0.4")).qty == D("0.1")
    assert position_action(D("1.25"), D(1), D("0.2"), D("2")).kind == "Reduce"  # measured from the target


# ---- quotes ------------------------------------------------------------------------------------------------

def test_layers_step_out_by_the_spread_and_round_away_from_the_mid() -> None:
    quotes = ladder(spec(), SOL, BID, ASK, D(0), D(0))
    bids = [q for q in quotes if q.side == "buy"]
    asks = [q for q in quotes if q.side == "sell"]
    mid = (BID + ASK) / 2
    assert [q.layer for q in bids] == [0, 1] and [q.layer for q in asks] == [0, 1]
    assert bids[0].price == D("238.814") and asks[0].price == D("240.012")  # 239.413 × (1 ∓ 0.25%)
    assert bids[1].price < bids[0].price < mid < asks[0].price < asks[1].price
    assert all(q.amount == D("0.1") for q in quotes)


def test_quotes_never_push_the_position_past_the_threshold_line() -> None:
    quotes = ladder(spec(), SOL, BID, ASK, D("0.15"), D(0))
    assert [q.side for q in quotes].count("buy") == 0  # one more 0.1 buy would pass +0.2
    assert [q.side for q in quotes].count("sell") == 2


def test_a_losing_position_is_never_added_to() -> None:
    quotes = ladder(spec(), SOL, BID, ASK, D("0.1"), D("-0.2"))
    assert {q.side for q in quotes} == {"sell"}
    assert {q.side for q in ladder(spec(), SOL, BID, ASK, D("-0.1"), D("-0.2"))} == {"buy"}
    assert {q.side for q in ladder(spec(), SOL, BID, ASK, D("0.1"), D("0.2"))} == {"buy", "sell"}


def test_the_position_lines_never_add_to_a_losing_position() -> None:
    """With the target off zero, the line's order can add to the position: long 0.1 under a 0.3 target (0.1
    threshold) buys 0.1. In profit it does; at a loss that is averaging down, and the engine refuses it."""
    leaning = spec(targetPosition="0.3", positionThreshold="0.1", maxPosition="0.4")
    winning = decide(leaning, "0.1", "0.5")
    assert winning.reason == "Reduce" and winning.close is not None
    assert (winning.close.side, winning.close.amount) == ("buy", D("0.1"))
    losing = decide(leaning, "0.1", "-0.5")  # above the stop (-1): not a stop-loss either
    assert losing.close is None and not losing.cancel_all
    assert losing.reason == "NoAveragingDown" and "losing position of 0.1" in losing.message
    assert all(q.side == "sell" for q in losing.quotes)  # no quote adds to it either (the ladder's own rule)
    # Lines that reduce a losing position still send their order, long or short.
    assert decide(spec(), "0.25", "-0.5").close is not None
    assert decide(spec(), "-0.25", "-0.5").close is not None


@settings(max_examples=300, deadline=None)
@given(skew=st.decimals("0", "1", places=2), p1=st.decimals("-0.4", "0.4", places=2),
       p2=st.decimals("-0.4", "0.4", places=2))
def test_inventory_skew_leans_against_the_position(skew: Decimal, p1: Decimal, p2: Decimal) -> None:
    """More long → quotes no higher; the skew is zero at the target; a post-only quote never crosses."""
    sp = spec(inventorySkew=str(skew), positionThreshold="2", maxPosition="5")
    lo, hi = sorted((p1, p2))
    assert skew_ratio(sp, hi) >= skew_ratio(sp, lo)
    assert skew_ratio(sp, D(0)) == 0
    q_lo = {(q.side, q.layer): q.price for q in ladder(sp, SOL, BID, ASK, lo, D(0))}
    q_hi = {(q.side, q.layer): q.price for q in ladder(sp, SOL, BID, ASK, hi, D(0))}
    for key in q_lo.keys() & q_hi.keys():
        assert q_hi[key] <= q_lo[key]
    for (side, _), price in (q_lo | q_hi).items():
        assert price < ASK if side == "buy" else price > BID


def test_the_seed_log_with_zero_skew_has_no_offset() -> None:
    sp = spec(targetPosition="1", positionThreshold="1", maxPosition="6")
    assert skew_ratio(sp, D("-6")) == 0  # 淨持倉 -6.000 | 偏移係數 0.00 | 偏移量 0.0000


def test_diff_keeps_matching_quotes_and_replaces_the_rest() -> None:
    want = (MakerQuote("buy", 0, D("238.8"), D("0.1")), MakerQuote("sell", 0, D("240"), D("0.1")))
    resting = [Resting("a", "buy", D("238.8"), D("0.1")), Resting("b", "sell", D("241"), D("0.1"))]
    cancel, place = diff_quotes(resting, want)
    assert cancel == ("b",) and place == (want[1],)


# ---- stops, duration, pause --------------------------------------------------------------------------------

def test_stop_loss_cancels_all_and_closes_at_market() -> None:
    d = decide(spec(), "0.3", "-1.2")
    assert d.reason == "StopLoss" and d.cancel_all and d.close.side == "sell" and d.close.amount == D("0.3")
    assert d.quotes == ()


def test_take_profit_locks_the_profit() -> None:
    d = decide(spec(), "-0.3", "5.2")
    assert d.reason == "TakeProfit" and d.close.side == "buy" and d.close.amount == D("0.3")


def test_stops_only_with_a_position() -> None:
    assert decide(spec(), "0", "-3").reason == "Quoting"


def test_duration_ends_the_run() -> None:
    sp = spec(durationSeconds=3600)
    assert decide(sp, now=NOW + timedelta(seconds=3599)).reason == "Quoting"
    d = decide(sp, now=NOW + timedelta(seconds=3600))
    assert d.finished and d.cancel_all and d.quotes == ()


def test_pause_and_halt_cancel_everything() -> None:
    assert decide(spec(paused=True)).cancel_all
    assert decide(spec(), halted=True).reason == "Halted"


def test_client_ids_are_deterministic_per_cycle() -> None:
    a, b = decide(spec(), "0.5", cycle=7), decide(spec(), "0.5", cycle=7)
    assert a.close.client_order_id == b.close.client_order_id != decide(spec(), "0.5", cycle=8).close.client_order_id


def test_no_market_maker_without_a_stop() -> None:
    with pytest.raises(ValueError):
        spec(stopLossQuote="1")
    sneaky = spec().model_copy(update={"stopLossQuote": D(0)})
    with pytest.raises(RedLineError, match="StopRequired"):
        decide(sneaky)


def test_ledger_realises_round_trips_net_of_fees() -> None:
    ledger = (MakerLedger().apply_fill("buy", D("0.2"), D(100), D("0.004"))
              .apply_fill("sell", D("0.15"), D(101), D("0.003")))
    assert ledger.bought == D("0.2") and ledger.sold == D("0.15")
    assert ledger.realized_pnl == D("0.15") - D("0.007")
    assert ledger.unrealized_pnl(D(102)) == D("0.05") * 2

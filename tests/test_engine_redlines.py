"""Seed 004's red lines, refused by the engine itself: leverage above 3, averaging down, no stop."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedgeops.engine.common.errors import PositionAdjustmentError, RedLineError
from hedgeops.engine.common.redlines import check_leverage, check_not_averaging_down, check_stop, increases

D = Decimal


@pytest.mark.parametrize("lev", ["0.5", "1", "2.99", "3"])
def test_leverage_up_to_three_passes(lev: str) -> None:
    check_leverage(D(lev))


@pytest.mark.parametrize("lev", ["3.0001", "5", "100", "0", "-1", "NaN", "Infinity"])
def test_leverage_above_three_or_nonsense_is_a_red_line(lev: str) -> None:
    with pytest.raises(RedLineError) as err:
        check_leverage(D(lev))
    assert err.value.rule == "MaxLeverage" and isinstance(err.value, PositionAdjustmentError)


@pytest.mark.parametrize("stop", [None, D(0), D(1), D("NaN")])
def test_a_strategy_without_a_real_stop_is_a_red_line(stop: Decimal | None) -> None:
    with pytest.raises(RedLineError, match="StopRequired"):
        check_stop(stop, "test")
    check_stop(D("-0.01"), "test")


@settings(max_examples=500, deadline=None)
@given(position=st.decimals("-10", "10", places=2), pnl=st.decimals("-100", "100", places=2),
       qty=st.decimals("-5", "5", places=2))
def test_no_order_ever_adds_to_a_losing_position(position: Decimal, pnl: Decimal, qty: Decimal) -> None:
    adds = position != 0 and qty != 0 and (position > 0) == (qty > 0)
    if pnl < 0 and adds:
        with pytest.raises(RedLineError, match="NoAveragingDown"):
            check_not_averaging_down(position, pnl, qty, "test")
    else:
        check_not_averaging_down(position, pnl, qty, "test")
    assert increases(position, qty) == (qty != 0 and (position == 0 or (position > 0) == (qty > 0)))

"""Seed 004's red lines, checked by the engine itself: the CRD schema and pydantic refuse them too, but a
caller that builds a spec with `model_construct` or edits status by hand must still be stopped here."""

from __future__ import annotations

from decimal import Decimal

from hedgeops.api.enhancement import MAX_LEVERAGE, STOP_BEFORE_LIQUIDATION  # one constant for schema and engine
from hedgeops.engine.common.errors import RedLineError


def check_leverage(leverage: Decimal) -> None:
    """Leverage is positive and never above 3x."""
    if not leverage.is_finite() or leverage <= 0 or leverage > MAX_LEVERAGE:
        raise RedLineError("MaxLeverage", f"leverage {leverage} is outside (0, {MAX_LEVERAGE}]")


def check_stop(stop: Decimal | None, what: str) -> None:
    """Every strategy has a stop, and a stop is a loss: strictly negative."""
    if stop is None:
        raise RedLineError("StopRequired", f"{what} has no stop-loss")
    if not stop.is_finite() or stop >= 0:
        raise RedLineError("StopRequired", f"{what} stop-loss {stop} must be negative")


def check_stop_before_liquidation(stop: Decimal, leverage: Decimal, what: str) -> None:
    """A stop must come before liquidation: the margin it loses, |stop| × leverage, stays under
    STOP_BEFORE_LIQUIDATION of it (at 3x, a 1/3 move against the entry would take all the margin)."""
    if -stop * leverage >= Decimal(STOP_BEFORE_LIQUIDATION):
        raise RedLineError("StopRequired", f"{what} stop-loss {stop} at {leverage}x loses {-stop * leverage} of its "
                           f"margin, not under {STOP_BEFORE_LIQUIDATION}: it would sit at or past liquidation")


def increases(position: Decimal, signed_qty: Decimal) -> bool:
    """Whether an order of `signed_qty` makes |position| larger."""
    return signed_qty != 0 and (position == 0 or (position > 0) == (signed_qty > 0))


def check_not_averaging_down(position: Decimal, unrealized_pnl: Decimal, signed_qty: Decimal, what: str) -> None:
    """No martingale, no averaging down (even a 'modified' one): an order may not add to a position that is
    losing money."""
    if unrealized_pnl < 0 and position != 0 and increases(position, signed_qty):
        raise RedLineError("NoAveragingDown",
                           f"{what}: adding {signed_qty} to a losing position of {position} "
                           f"(unrealised {unrealized_pnl})")


def check_fixed_levels(position: Decimal, buys: Decimal, sells: Decimal, cap: Decimal, what: str) -> None:
    """A grid's fixed levels are not averaging down only while they stay fixed: with every resting buy (sell)
    filled, the position may reach at most `cap` (−`cap`), the levels' fixed size times their count a side. Any
    order beyond that adds to a position outside the levels it was laid with: refused."""
    if position + buys > cap or position - sells < -cap:
        raise RedLineError("NoAveragingDown",
                           f"{what}: position {position} with {buys} bought and {sells} sold on its resting orders "
                           f"would pass its fixed levels' {cap} either way")

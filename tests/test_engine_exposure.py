"""Exposure and deviation, per asset and in total; basket arithmetic."""

from __future__ import annotations

from decimal import Decimal

from hedgeops.api.hedgebook import Basket, Objective
from hedgeops.engine.hedge.exposure import AssetObservation, compute_exposure, target_hedge_qty
from hedgeops.engine.hedge.holdings import basket_units, next_token_price

from .engine_fixtures import exposure

D = Decimal


def test_seed_example_seventy_percent_hedge() -> None:
    # Seed 000: $15,000 capital, 70% hedged = $10,500 short. 2% under-hedged → $210 net exposure.
    e = exposure({"BTC": ("100000", "0.15", "-0.1029")}, ratio="0.7")
    a = e.get("BTC")
    assert a.target_hedge_qty == D("-0.105")
    assert a.target_notional == D("10500")
    assert a.net_quote == D("210")
    assert a.deviation == D("0.02")


def test_total_is_sum_of_absolute_nets_over_sum_of_targets() -> None:
    # SOL 1% over-hedged, ETH 3% under-hedged: they do not cancel in the total.
    e = exposure({"SOL": ("100", "100", "-101"), "ETH": ("1000", "10", "-9.7")})
    assert e.get("SOL").deviation == D("-0.01")
    assert e.get("ETH").deviation == D("0.03")
    assert e.total_abs_net_quote == D("100") + D("300")
    assert e.total_deviation == D("400") / D("20000")


def test_overrides_and_target_delta() -> None:
    obj = Objective(hedgeRatio=D("0.7"), hedgeRatioOverrides={"ETH": D("0.5")}, targetDelta={"BTC": D("0.2")})
    assert target_hedge_qty(obj, "SOL", D("10")) == D("-7.0")
    assert target_hedge_qty(obj, "ETH", D("10")) == D("-5.0")
    assert target_hedge_qty(obj, "BTC", D("1")) == D("-0.8")


def test_unhedged_book_is_fully_deviated_and_flat_book_is_not() -> None:
    e = compute_exposure([AssetObservation("SOL", D(150), D(10), D(0))], Objective())
    assert e.get("SOL").deviation == D(1) and e.total_deviation == D(1)
    flat = compute_exposure([AssetObservation("SOL", D(150), D(0), D(0))], Objective())
    assert flat.total_deviation == 0 and flat.get("SOL").deviation == 0


def test_weights_basket_units_carry_the_weights() -> None:
    b = Basket(tokenAmount=D(3750), tokenPriceQuote=D(4), weights={"SOL": D("0.45"), "BTC": D("0.16")})
    units = basket_units(b, D(4), {"SOL": D(150), "BTC": D(100000)})
    assert units["SOL"] * 150 == D(15000) * D("0.45")
    assert units["BTC"] * 100000 == D(15000) * D("0.16")


def test_constant_weight_pool_compounds_weighted_returns() -> None:
    w = {"SOL": D("0.5")}
    # SOL +10%: half the pool is SOL, so the token gains 5%; the SOL units shrink relative to a fixed hedge.
    assert next_token_price(D(4), w, {"SOL": D(100)}, {"SOL": D(110)}) == D("4.2")
    b = Basket(tokenAmount=D(100), tokenPriceQuote=D(4), weights=w)
    before = basket_units(b, D(4), {"SOL": D(100)})["SOL"]
    after = basket_units(b, D("4.2"), {"SOL": D(110)})["SOL"]
    assert after < before  # the pool sold SOL into the rally: the fixed hedge is now too short


def test_static_basket() -> None:
    b = Basket(tokenAmount=D(10), unitsPerToken={"SOL": D("0.02")})
    assert basket_units(b, D(0), {}) == {"SOL": D("0.20")}

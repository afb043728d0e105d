"""A book's observed instruments as delta positions (engine/hedge/delta.py observed_positions): a spot balance less
its reserve and never below zero, a future's position, an option's position by the delta the venue reported for it,
and nothing held counting zero without a greek to read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedgeops.api.instruments import DeltaInstrument
from hedgeops.engine.common.errors import DeltaCalculationError
from hedgeops.engine.hedge.delta import asset_deltas, observed_positions, position_delta
from hedgeops.model.orders import Position

D = Decimal
FUTURE, OPTION = "BTC/USDT:USDT-260327", "BTC/USD:BTC-260327-100000-C"
SPOT = DeltaInstrument(asset="BTC", kind="Spot", reserve=D("0.25"))  # type: ignore[arg-type]
FUT = DeltaInstrument(asset="BTC", kind="Future", symbol=FUTURE)  # type: ignore[arg-type]
OPT = DeltaInstrument(asset="BTC", kind="Option", symbol=OPTION)  # type: ignore[arg-type]


def test_spot_future_and_option_sum_into_the_asset_s_delta() -> None:
    positions = {FUTURE: Position(FUTURE, D("-0.3"), D(100_000), D(0)),
                 OPTION: Position(OPTION, D("0.5"), D("0.15"), D(0), delta=D("0.3"))}
    observed = observed_positions([SPOT, FUT, OPT], {"BTC": D(1), "USDT": D(5)}, positions)
    assert [position_delta(p) for p in observed] == [D("0.75"), D("-0.3"), D("0.3")]
    assert observed[2].option_delta == D("0.6")  # per unit: the venue's position delta over its size
    assert asset_deltas(observed) == {"BTC": D("0.75")}


def test_a_reserve_above_the_balance_counts_zero_and_nothing_held_counts_zero() -> None:
    observed = observed_positions([SPOT, FUT, OPT], {"BTC": D("0.1")}, {})
    assert [position_delta(p) for p in observed] == [0, 0, 0]  # no option held: no greek needed


@pytest.mark.parametrize("reported", [None, D("NaN"), D("0.9")])  # none, not a number, above 1 per unit
def test_an_option_held_without_a_usable_delta_is_refused_naming_it(reported: Decimal | None) -> None:
    positions = {OPTION: Position(OPTION, D("0.5"), D("0.15"), D(0), delta=reported)}
    [option] = observed_positions([OPT], {}, positions)
    with pytest.raises(DeltaCalculationError, match=OPTION):
        position_delta(option)


def test_instrument_rules_name_the_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="symbol"):
        DeltaInstrument(asset="BTC", kind="Option")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="no option symbol"):
        DeltaInstrument(asset="BTC", kind="Option", symbol=FUTURE)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="reserve"):
        DeltaInstrument(asset="BTC", kind="Future", symbol=FUTURE, reserve=D(1))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="base is not ETH"):
        DeltaInstrument(asset="ETH", kind="Future", symbol=FUTURE)  # type: ignore[arg-type]


@pytest.mark.parametrize(("instruments", "holdings", "message"), [
    ([{"asset": "ETH", "kind": "Spot"}], None, "ETH has no leg"),
    ([{"asset": "BTC", "kind": "Future", "symbol": FUTURE}] * 2, None, "named twice"),
    ([{"asset": "BTC", "kind": "Spot"}], {"source": "ExchangeBalance", "exchangeBalance": {"assets": ["BTC"]}},
     "would count twice"),
])
def test_a_book_s_instruments_are_checked_against_its_legs_and_holdings(
        instruments: list[dict[str, str]], holdings: dict[str, object] | None, message: str) -> None:
    from pydantic import ValidationError

    from hedgeops.api.hedgebook import HedgeBookSpec

    spec = {"holdings": holdings or {"source": "Static", "static": {"BTC": 1}}, "policyRef": {"name": "p"},
            "legs": [{"asset": "BTC", "symbol": "BTC/USDT:USDT"}], "instruments": instruments}
    with pytest.raises(ValidationError, match=message):
        HedgeBookSpec.model_validate(spec)


def test_an_instrument_past_its_expiry_counts_zero_whatever_the_venue_still_reports() -> None:
    from datetime import UTC, datetime, timedelta

    from hedgeops.engine.hedge.delta import expired

    expiry = datetime(2026, 3, 27, 8, tzinfo=UTC)  # OKX: 08:00 UTC on the day the symbol names
    assert FUT.expiry == OPT.expiry == expiry and SPOT.expiry is None
    positions = {FUTURE: Position(FUTURE, D("-0.3"), D(100_000), D(0)),
                 OPTION: Position(OPTION, D("0.5"), D("0.15"), D(0), delta=None)}
    before = expiry - timedelta(seconds=1)
    assert expired([SPOT, FUT, OPT], before) == [] and expired([SPOT, FUT, OPT], expiry) == [FUT, OPT]
    assert position_delta(observed_positions([FUT], {}, positions, before)[0]) == D("-0.3")
    # Expired: zero, and the option's missing greek is not needed for a position that is gone.
    assert [position_delta(p) for p in observed_positions([SPOT, FUT, OPT], {"BTC": D(1)}, positions, expiry)] \
        == [D("0.75"), 0, 0]

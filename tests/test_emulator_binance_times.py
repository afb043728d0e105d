"""Time parameters a date cannot hold (20 digits pass Binance's syntax) are Binance's -1130 on every endpoint that
takes them, never a 5xx with a traceback (a hostile review found seven)."""

from __future__ import annotations

import pytest

from .test_emulator_binance import call, rig  # noqa: F401  (the fixture)

HUGE, NEGATIVE = "99999999999999999999", "-99999999999999999999"


@pytest.mark.parametrize(("path", "params"), [
    ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "5m", "startTime": HUGE}),
    ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "5m", "endTime": HUGE}),
    ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "5m", "endTime": NEGATIVE}),
    ("/fapi/v1/markPriceKlines", {"symbol": "BTCUSDT", "interval": "1h", "startTime": HUGE}),
    ("/fapi/v1/fundingRate", {"symbol": "BTCUSDT", "startTime": HUGE}),
    ("/fapi/v1/fundingRate", {"symbol": "BTCUSDT", "endTime": NEGATIVE}),
])
async def test_a_time_no_date_can_hold_is_minus_1130(rig: tuple[object, ...], path: str,  # noqa: F811
                                                      params: dict[str, str]) -> None:
    url = rig[3]
    status, body = await call(str(url), "GET", path, params, signed=False)
    assert status == 400 and body["code"] == -1130, (status, body)

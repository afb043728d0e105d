"""`hedgeops local` on the example carry with seed 004's second layer (manifests/examples/fundingarbitrage-grid.yaml),
a real subprocess on the bundled data. On 2025-01-06 BTC's hourly ADX starts at 16.8 (a range): the grid is laid,
trades, and the price leaves its range around 05:25; after the cool-down it is laid again at 12:00 (ADX 20.3) and
broken out of again before 15:00, and by 21:00 ADX is above 25 (a trend) and no grid is laid. The carry opens ETH
at 0.01% funding meanwhile, on its 80% of the capital."""

from __future__ import annotations

import json

from .test_cli import hedgeops

EXAMPLE = "manifests/examples/fundingarbitrage-grid.yaml"


def test_the_grid_trades_in_local_mode_and_shows_in_the_summary() -> None:
    run = hedgeops("local", EXAMPLE, "--from", "2025-01-06T00:00", "--for", "1d", "--json")
    assert run.returncode == 0, run.stderr
    [carry] = json.loads(run.stdout)["fundingArbitrages"]
    assert carry["fundingArbitrage"] == "default/eth-carry-grid" and carry["state"] == "Ready"
    assert carry["phase"] == "Open" and carry["pairs"] == 1  # the first layer carries ETH
    grid = carry["grid"]
    assert grid["symbol"] == "BTC/USDT:USDT"
    assert grid["generations"] == 2 and grid["stops"] == 2  # laid twice, broken out of twice
    assert grid["phase"] == "Waiting" and grid["reason"] == "Trending" and grid["adx"] >= 25
    assert grid["position"] == 0 and grid["ordersResting"] == 0  # every stop closed everything
    assert grid["feesQuote"] > 0 and grid["pnlQuote"] != 0
    # The grid's own fills are the object's: far more than the carry's two entry legs.
    assert carry["fills"] > 10
    # A losing grid generation is a losing close for the object's breaker (three in a row would trip it).
    assert not carry["breakerTripped"]

"""`hedgeops local` on the example carry with seed 004's second layer (manifests/examples/fundingarbitrage-grid.yaml),
a real subprocess on the bundled data, 2025-03-24 08:00 to 2025-03-28 08:00 UTC:

- the contrarian trade: at 12:00 on the 24th SOL's 4-hour RSI is 74.7 while its daily close is under its 50-day EMA
  and ADX is 23.3: euphoria in a falling market, sold; SOL falls 6% and the take-profit closes it on the 28th;
- the grid: BTC's hourly ADX is above 25 (a trend) until the 26th, when it falls to 24.4 and the grid is laid; it
  trades the range until the price leaves it on the 28th, and the breakout stop closes everything."""

from __future__ import annotations

import json

from .test_cli import hedgeops

EXAMPLE = "manifests/examples/fundingarbitrage-grid.yaml"


def test_the_second_layer_trades_in_local_mode_and_shows_in_the_summary() -> None:
    run = hedgeops("local", EXAMPLE, "--from", "2025-03-24T08:00", "--for", "4d", "--json")
    assert run.returncode == 0, run.stderr
    [carry] = json.loads(run.stdout)["fundingArbitrages"]
    assert carry["fundingArbitrage"] == "default/eth-carry-grid" and carry["state"] == "Ready"
    assert carry["pairs"] == 1 and not carry["breakerTripped"]

    grid = carry["grid"]
    assert grid["symbol"] == "BTC/USDT:USDT"
    assert grid["generations"] == 1 and grid["stops"] == 1  # laid once, broken out of once
    assert grid["phase"] == "CoolingDown" and grid["position"] == 0 and grid["ordersResting"] == 0
    assert grid["feesQuote"] > 0 and grid["pnlQuote"] != 0

    contrarian = carry["contrarian"]
    assert contrarian["symbol"] == "SOL/USDT:USDT" and contrarian["trades"] == 1
    assert contrarian["phase"] == "CoolingDown" and contrarian["position"] == 0
    assert contrarian["pnlQuote"] > 0  # closed at its take-profit, 6% below the entry, less fees
    assert contrarian["fundingQuote"] != 0  # four days short through twelve settlements: the bills are its own

    # Both parts' fills and PnL are the object's: the carry bought nothing (ETH funding below its entry range).
    assert carry["fills"] > 10 and carry["fundingEarnedQuote"] == 0
    assert abs(carry["pnlQuote"] - grid["pnlQuote"] - contrarian["pnlQuote"]) < 1e-3

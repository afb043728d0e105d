"""Instrument rules for the paper venue, modelled on OKX USDT swaps (lot size × contract value).

OKX lists BTC-USDT-SWAP with ctVal 0.01 BTC, ETH-USDT-SWAP 0.1 ETH, SOL-USDT-SWAP 1 SOL, each with a
lot size of 0.01 contracts; converted to base units here because the engine works in base units."""

from __future__ import annotations

from decimal import Decimal

from hedgeops.engine.market import MarketRules

D = Decimal

PAPER_MARKETS: dict[str, MarketRules] = {
    "BTC/USDT:USDT": MarketRules("BTC/USDT:USDT", "BTC", "USDT", D("0.0001"), D("0.1"), D("0.0001")),
    "ETH/USDT:USDT": MarketRules("ETH/USDT:USDT", "ETH", "USDT", D("0.001"), D("0.01"), D("0.001")),
    "SOL/USDT:USDT": MarketRules("SOL/USDT:USDT", "SOL", "USDT", D("0.01"), D("0.01"), D("0.01")),
}

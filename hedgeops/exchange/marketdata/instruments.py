"""Instrument rules for the paper venue: OKX's USDT swaps (lot size × contract value) and spot pairs in base
units, the same rules the exchange emulator serves (swaps in contracts)."""

from __future__ import annotations

from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL
from hedgeops.model.market import MarketRules

PAPER_MARKETS: dict[str, MarketRules] = {symbol: inst.rules() for symbol, inst in BY_SYMBOL.items()}

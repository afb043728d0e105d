"""Instrument rules for the paper venue: OKX's USDT swaps (lot size × contract value), spot pairs in base units and
the synthetic dated BTC future, the same rules the exchange emulator serves (derivatives in contracts). Local mode's
paper venue lists no option: it has no venue greeks to read, and an option's delta is never guessed; the emulator's
accounts list the synthetic option too (it serves its greeks)."""

from __future__ import annotations

from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL
from hedgeops.model.market import MarketRules

EMULATOR_MARKETS: dict[str, MarketRules] = {symbol: inst.rules() for symbol, inst in BY_SYMBOL.items()}
PAPER_MARKETS: dict[str, MarketRules] = {symbol: inst.rules() for symbol, inst in BY_SYMBOL.items()
                                         if not inst.option}

"""The synthetic order book around a replayed price: its prices are real (the close ± ticks), its sizes are made
up (LEVEL_NOTIONAL a level). The emulator serves it and its takers walk it; the paper venue shows it."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from hedgeops.model.book import OrderBook
from hedgeops.model.market import MarketRules, Quote

BOOK_LEVELS = 20
LEVEL_NOTIONAL = Decimal(20_000)  # quote per level


def synthetic_book(quote: Quote, rules: MarketRules, levels: int = BOOK_LEVELS) -> OrderBook:
    """`levels` levels each side one tick apart from the quote's touch, about LEVEL_NOTIONAL each, in base units
    rounded to the market's amount step."""
    size = (LEVEL_NOTIONAL / quote.last / rules.amount_step).to_integral_value(ROUND_HALF_EVEN) * rules.amount_step
    steps = _steps(rules.price_step, levels)
    return OrderBook(tuple((quote.bid - s, size) for s in steps), tuple((quote.ask + s, size) for s in steps))


@lru_cache(maxsize=64)
def _steps(tick: Decimal, levels: int) -> tuple[Decimal, ...]:
    return tuple(tick * i for i in range(levels))

"""Money rounding does not depend on the ambient Decimal context. ccxt's decimal_to_precision sets the current
context's rounding to ROUND_HALF_UP and leaves it so, which once made the same replay give different figures
depending on whether a ccxt call had run earlier in the process."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, getcontext, localcontext

import ccxt

from hedgeops.engine.carry.pairs import q8 as carry_q8
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.exchange.paper.synthetic_book import synthetic_book
from hedgeops.model.market import Quote
from hedgeops.runtime.kinds.book_result import q8

HALF = Decimal("0.000000005")  # exactly half of the last place q8 keeps


def test_ccxt_really_leaves_half_up_behind() -> None:
    with localcontext():
        ccxt.decimal_to_precision("1.5", ccxt.ROUND, 0)
        assert getcontext().rounding == ROUND_HALF_UP


def test_rounding_is_half_even_whatever_ccxt_left_behind() -> None:
    quote = Quote("SOL/USDT:USDT", Decimal("150.00"), Decimal("150.01"), Decimal("150.005"),
                  None)  # type: ignore[arg-type]
    rules = PAPER_MARKETS["SOL/USDT:USDT"]
    before = (q8(HALF), carry_q8(HALF), synthetic_book(quote, rules))
    with localcontext() as ctx:
        ctx.rounding = ROUND_HALF_UP
        after = (q8(HALF), carry_q8(HALF), synthetic_book(quote, rules))
    assert before == after and before[0] == Decimal("0E-8")

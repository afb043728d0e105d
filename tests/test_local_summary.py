"""A carry's run figures are lifetime ones: a pair's status covers its current position only and starts again
from zero when it re-enters, so what closed positions made is banked, not lost (it once was: a month with three
round trips reported 0 PnL because the last position had just closed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hedgeops.api.funding import CarryLegStatus, FundingArbitrageStatus
from hedgeops.local.summary import CarryTally

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def status(*legs: tuple[str, str, str]) -> FundingArbitrageStatus:
    """legs: (funding, fees, pnl) of the ETH pair (none: the pair has left the status)."""
    rows = [CarryLegStatus(spot="ETH/USDT", perp="ETH/USDT:USDT", spotQty=D(1), perpQty=D(-1),
                           fundingEarnedQuote=D(f), feesQuote=D(fee), pnlQuote=D(p)) for f, fee, p in legs]
    return FundingArbitrageStatus(legs=rows, fundingEarnedQuote=sum((r.fundingEarnedQuote for r in rows), D(0)),
                                  feesQuote=sum((r.feesQuote for r in rows), D(0)),
                                  pnlQuote=sum((r.pnlQuote for r in rows), D(0)))


def test_closed_positions_are_banked_across_re_entries() -> None:
    tally = CarryTally("default/eth-carry", capital=1000.0)
    steps = [
        status(("0", "5", "-5")),  # entered: entry fees
        status(("12", "5", "7")),  # funding came in
        status(("12", "10", "2")),  # closed: exit fees; the position's figures are final
        status(("0", "0", "0")),  # reset for the next entry: the 2 made is banked
        status(("0", "5", "-5")),  # re-entered
        status(),  # the pair left the status: its -5 is banked too
    ]
    for i, st in enumerate(steps):
        tally.add(st, T0 + timedelta(hours=i))
    assert (tally.funding, tally.fees, tally.pnl) == (D(12), D(15), D(-3))
    assert [p for _, p in tally.pnl_path] == [-5.0, 7.0, 2.0, 2.0, -3.0, -3.0]
    assert tally.as_json()["performance"]["pnlQuote"] == -3.0

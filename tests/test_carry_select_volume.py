"""Guards autoSelect with unknown volume (Candidate.volume_quote None: a backtest's mark-priced years)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedgeops.api.funding import AutoSelect, Entry
from hedgeops.engine.carry.select import MAX_SCORED, Candidate, liquid, select

D = Decimal


def pair(name: str, volume: Decimal | None, rate: str | None = None) -> Candidate:
    return Candidate(f"{name}/USDT", f"{name}/USDT:USDT", volume, None if rate is None else D(rate))


@pytest.mark.parametrize("minimum", [D("1"), D("1e6"), D("1e30")])
def test_unknown_volume_passes_whatever_the_minimum(minimum: Decimal) -> None:
    rules = AutoSelect(minVolumeQuote=minimum)
    assert [c.perp for c in liquid([pair("U", None)], rules)] == ["U/USDT:USDT"]
    assert liquid([pair("T", minimum / 2)], rules) == []  # a known volume under the minimum is still refused


def test_unknown_volume_ranks_after_every_known_one() -> None:
    cands = [pair("A", None), pair("B", D(2e6)), pair("C", D(1e6)), pair("D", D(5e5)), pair("E", None)]
    scored = liquid(cands, AutoSelect(minVolumeQuote=D(1e6)))
    assert [c.perp for c in scored] == ["B/USDT:USDT", "C/USDT:USDT", "A/USDT:USDT", "E/USDT:USDT"]
    # Past MAX_SCORED the unknown ones are the ones left out.
    many = [pair("U", None)] + [pair(f"K{i:02d}", D(1e7 + i)) for i in range(MAX_SCORED)]
    assert all(c.volume_quote is not None for c in liquid(many, AutoSelect()))
    assert liquid([pair("P", None, "0.001")], AutoSelect(), within=[("Q/USDT", "Q/USDT:USDT")]) == []


def test_select_orders_by_funding_rate_then_known_volume_first() -> None:
    scored = liquid([pair("A", None, "0.0005"), pair("B", D(5e7), "0.0003"), pair("C", None, "0.0003"),
                     pair("D", D(9e7), "0.0002"), pair("E", None, "0.05")],  # a squeeze, out of the entry range
                    AutoSelect(minVolumeQuote=D(1e6)))
    picked = select(scored, AutoSelect(maxSymbols=4), Entry(), held=[])
    assert [c.perp for c in picked] == ["A/USDT:USDT", "B/USDT:USDT", "C/USDT:USDT", "D/USDT:USDT"]
    picked = select(scored, AutoSelect(maxSymbols=2), Entry(), held=[("C/USDT", "C/USDT:USDT")])
    assert [c.perp for c in picked] == ["C/USDT:USDT", "A/USDT:USDT"]  # held first, counted in maxSymbols

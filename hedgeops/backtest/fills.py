"""How a bar-replay fills orders, no kinder than an exchange: a maker order waits its timeout and fills only if
the price trades through it in that time; a taker order pays half the spread and walks a book sized from a
real one.

Inside a bar only the open, high, low and close are known. The path is taken as open → the nearer extreme
→ the other extreme → close, and a wait of a fraction f of the bar as seeing the first √f of that path
(`path_fraction`)."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def bar_path(o: float, h: float, lo: float, c: float) -> tuple[float, float, float, float]:
    """The four points the price is taken to pass through, nearer extreme first."""
    return (o, h, lo, c) if abs(h - o) < abs(o - lo) else (o, lo, h, c)


def along(path: Sequence[float], fraction: float) -> tuple[float, float, float]:
    """(lowest, highest, price) over the first `fraction` (0–1) of the path's length."""
    legs = [abs(b - a) for a, b in itertools.pairwise(path)]
    budget = sum(legs) * min(max(fraction, 0.0), 1.0)
    low = high = price = path[0]
    for (a, b), length in zip(itertools.pairwise(path), legs, strict=True):
        if budget <= 0:
            break
        step = min(length, budget)
        price = a + (step if b >= a else -step)
        low, high = min(low, price), max(high, price)
        budget -= step
    return low, high, price


def path_fraction(wait: float) -> float:
    """How much of a bar's path a wait of `wait` bars (0–1) sees. A random walk's range grows with the square
    root of time, so the first tenth of a bar covers about a third of its path, not a tenth (checked against
    the 1-minute files: tests/test_backtest_basket.py)."""
    return math.sqrt(min(max(wait, 0.0), 1.0))


@dataclass(frozen=True)
class BookProfile:
    """Cumulative notional (quote) resting on one side within each distance of the mid (basis points), and
    the spread in ticks; from a real order book (one tick: liquid perps quote at the tick)."""

    distance_bps: tuple[float, ...]
    cumulative: tuple[float, ...]
    spread_ticks: int = 1

    def scaled(self, depth: float) -> BookProfile:
        """The same shape with `depth` times the notional (a thinner or deeper market)."""
        return BookProfile(self.distance_bps, tuple(x * depth for x in self.cumulative), self.spread_ticks)

    def walk_bps(self, notional: float) -> float:
        """Average distance beyond the touch, in basis points, paid by a taker of `notional`: the integral
        of the marginal level's distance over the notional, the profile taken as linear between points."""
        if notional <= 0:
            return 0.0
        area, done = 0.0, 0.0
        prev_n, prev_d = self.cumulative[0], 0.0
        if notional <= prev_n:
            return 0.0
        done = prev_n
        for n, d in zip(self.cumulative[1:], self.distance_bps[1:], strict=True):
            take = min(notional, n) - done
            if take <= 0:
                break
            # Marginal distance rises linearly from prev_d at prev_n to d at n.
            d_end = prev_d + (d - prev_d) * (done + take - prev_n) / (n - prev_n)
            d_start = prev_d + (d - prev_d) * (done - prev_n) / (n - prev_n)
            area += take * (d_start + d_end) / 2
            done += take
            prev_n, prev_d = n, d
        if notional > done:
            area += (notional - done) * self.distance_bps[-1]
        return area / notional


def load_book_profile(path: Path) -> BookProfile:
    """The profile `scripts/book_profile.py` derived from the bundled real book sample."""
    doc = json.loads(path.read_text())
    return BookProfile(tuple(float(d) for d in doc["distance_bps"]),
                       tuple(float(x) for x in doc["cumulative_notional_per_side"]),
                       max(1, round(float(doc["median_spread"]) / float(doc["tick"]))))


@dataclass(frozen=True)
class TakerFill:
    price: float
    slippage: float  # quote paid beyond the mid: half the spread and the walk


def taker_fill(mid: float, buy: bool, amount: float, book: BookProfile, tick: float) -> TakerFill:
    """A market order of `amount` units at `mid`: the far touch (half the spread away) and then down the book."""
    half = tick * book.spread_ticks / 2
    walk = mid * book.walk_bps(amount * mid) / 1e4
    extra = half + walk
    return TakerFill(mid + extra if buy else mid - extra, extra * amount)

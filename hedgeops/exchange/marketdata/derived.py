"""SYNTHETIC series: one dated BTC future and one BTC option, derived from the bundled real BTC perp candles by a
stated rule, because no real dated-future or option data is bundled. Nothing here is market data of those
instruments; every price is computed from the real underlying:

- Expiry: OKX's quarterly expiry (the last Friday of March, June, September or December, 08:00 UTC) that first
  follows the end of the bundled data: 2026-03-27 08:00 UTC. Both series are therefore live, and never settle,
  over the whole replayable window.
- The dated future `BTC-USDT-260327` (ccxt `BTC/USDT:USDT-260327`) trades at the perp's price: carry basis
  taken as zero (`FUTURE_BASIS`).
- The option `BTC-USD-260327-100000-C` (ccxt `BTC/USD:BTC-260327-100000-C`), OKX's coin-margined European call:
  strike 100,000 = the median of the bundled BTC perp 5-minute closes (99,415.9) rounded to the nearest 10,000.
  Its price (in BTC, as OKX quotes it) is Black-Scholes on the real perp price with no interest rate, the time
  left to expiry, and a volatility equal to the annualised realised volatility of the perp's hourly closes over
  the 30 days before the UTC day being priced (`realised_vol`); price in BTC = call value in USD ÷ underlying.
- Neither series has traded volume (its 24 h volume is zero): nothing of theirs was recorded.

The venue's option greeks (OKX's positions `deltaBS`/`deltaPA` and `public/opt-summary`) come from the same model
(`option_greeks`), so what the emulator reports and what it trades at agree."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # replay imports this module lazily: no import cycle at run time
    from hedgeops.exchange.marketdata.replay import Bar, Candle, CandleSeries

UNDERLYING = "BTC/USDT:USDT"
EXPIRY = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
STRIKE = Decimal(100_000)
FUTURE_SYMBOL = "BTC/USDT:USDT-260327"
OPTION_SYMBOL = "BTC/USD:BTC-260327-100000-C"
FUTURE_BASIS = Decimal(0)  # the future's price = the perp's × (1 + basis)
FUTURE_TICK = Decimal("0.1")
OPTION_TICK = Decimal("0.0005")
VOL_WINDOW = timedelta(days=30)
HOUR_MS = 3_600_000
YEAR_S = 365 * 86_400
SYNTHETIC_NOTE = ("synthetic: derived from the real BTC perp candles (future = perp price; option = Black-Scholes on "
                  "the perp with 30-day trailing realised volatility), not market data of the instrument")


def realised_vol(series: CandleSeries, at: datetime) -> float:
    """Annualised realised volatility of the series' hourly closes over the 30 days before `at`'s UTC day (the same
    figure all day long; from the data's first day on, the days it has)."""
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    return _vol_of_day(series, int(day.timestamp() * 1000))


_VOLS: dict[tuple[str, int, int], float] = {}


def _vol_of_day(series: CandleSeries, day_ms: int) -> float:
    key = (series.symbol, series.ts[0], day_ms)  # not the object: the emulator wraps the series anew per call
    found = _VOLS.get(key)
    if found is not None:
        return found
    start = max(day_ms - int(VOL_WINDOW.total_seconds() * 1000), series.ts[0])
    closes: list[float] = []
    t = -(-start // HOUR_MS) * HOUR_MS  # the first whole hour in the window
    while t <= day_ms:
        i = bisect.bisect_right(series.te, t) - 1  # the last bar closed by the hour
        if i >= 0:
            closes.append(series.c[i])
        t += HOUR_MS
    returns = [math.log(b / a) for a, b in itertools.pairwise(closes) if a > 0 and b > 0]
    if len(returns) < 24:  # the data's first day: a day of 5-minute bars stands in
        i = bisect.bisect_right(series.te, day_ms + 86_400_000)
        bars = list(series.c[max(0, i - 288):i])
        returns = [math.log(b / a) for a, b in itertools.pairwise(bars) if a > 0 and b > 0]
        per_year = YEAR_S / 300
    else:
        per_year = YEAR_S / 3600
    mean = sum(returns) / len(returns)
    vol = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1) * per_year)
    _VOLS[key] = vol
    return vol


@dataclass(frozen=True)
class OptionGreeks:
    """The synthetic option's mark and greeks at one moment, per 1 BTC of underlying. OKX's conventions:
    `delta_bs` Black-Scholes (the USD value's), `delta_pa` price-adjusted (in coins: delta_bs − the premium in
    BTC), gamma/theta/vega Black-Scholes in USD."""

    price_btc: Decimal
    price_usd: Decimal
    delta_bs: Decimal
    delta_pa: Decimal
    gamma_bs: Decimal
    theta_bs: Decimal  # per day
    vega_bs: Decimal  # per 1.00 of volatility
    vol: Decimal
    forward: Decimal


def _n(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _q(x: float, places: str = "0.0000000001") -> Decimal:
    return Decimal(repr(x)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def option_greeks(spot: Decimal, at: datetime, vol: float) -> OptionGreeks:
    """Black-Scholes (no rates, no carry) for the synthetic call at `spot` and `at` with volatility `vol`. At or past
    expiry: the intrinsic value, delta 1 in the money and 0 out of it."""
    s, k = float(spot), float(STRIKE)
    t = max((EXPIRY - at).total_seconds(), 0.0) / YEAR_S
    if t <= 0 or vol <= 0 or s <= 0:
        call = max(s - k, 0.0)
        delta, gamma, theta, vega = (1.0 if s > k else 0.0), 0.0, 0.0, 0.0
    else:
        root = vol * math.sqrt(t)
        d1 = (math.log(s / k) + vol * vol * t / 2) / root
        d2 = d1 - root
        call = s * _n(d1) - k * _n(d2)
        delta, gamma = _n(d1), _pdf(d1) / (s * root)
        vega = s * _pdf(d1) * math.sqrt(t)
        theta = -s * _pdf(d1) * vol / (2 * math.sqrt(t)) / 365
    price_btc = call / s if s > 0 else 0.0
    return OptionGreeks(_q(price_btc, "0.00000001"), _q(call, "0.01"), _q(delta), _q(delta - price_btc), _q(gamma),
                        _q(theta), _q(vega), _q(vol), Decimal(spot))


def _tick(x: Decimal, tick: Decimal) -> Decimal:
    return (x / tick).to_integral_value(ROUND_HALF_EVEN) * tick


class DerivedSeries:
    """A synthetic series: the underlying's bars with every price mapped by the instrument's rule (monotonic in the
    underlying's price, so highs stay highs), and no traded volume. Lookups as CandleSeries answers them."""

    def __init__(self, symbol: str, underlying: CandleSeries) -> None:
        self.symbol = symbol
        self.underlying = underlying
        self.option = symbol == OPTION_SYMBOL
        # The emulator quotes every instrument on each balance and positions request: without this, the option's
        # four Black-Scholes prices (and a 30-day volatility) were recomputed for the same bar on every one of them.
        self._memo: dict[Bar, Bar] = {}

    def __getattr__(self, name: str) -> Any:  # ts, te, step_ms, first, last_known, periods, step_at, index_at ...
        return getattr(self.underlying, name)

    def price(self, underlying_price: Decimal, at: datetime) -> Decimal:
        """The instrument's price when the underlying trades at `underlying_price` at `at`."""
        if not self.option:
            return _tick(underlying_price * (1 + FUTURE_BASIS), FUTURE_TICK)
        g = option_greeks(underlying_price, at, realised_vol(self.underlying, at))
        return max(_tick(g.price_btc, OPTION_TICK), OPTION_TICK)

    def _bar(self, bar: Bar | None) -> Bar | None:
        if bar is None:
            return None
        derived = self._memo.get(bar)
        if derived is None:
            from hedgeops.exchange.marketdata.replay import Bar

            at = bar.end
            derived = Bar(bar.start, bar.end, self.price(bar.open, at), self.price(bar.high, at),
                          self.price(bar.low, at), self.price(bar.close, at))
            if len(self._memo) >= 4096:  # a replay walks forward: old bars are not asked for again
                self._memo.clear()
            self._memo[bar] = derived
        return derived

    def last_closed(self, at: datetime) -> Bar | None:
        return self._bar(self.underlying.last_closed(at))

    def current(self, at: datetime) -> Bar | None:
        return self._bar(self.underlying.current(at))

    def bar_at(self, i: int) -> Bar:
        bar = self._bar(self.underlying.bar_at(i))
        assert bar is not None
        return bar

    def __len__(self) -> int:
        return len(self.underlying)

    def bars_between(self, after: datetime, until: datetime) -> Iterator[Bar]:
        for bar in self.underlying.bars_between(after, until):
            mapped = self._bar(bar)
            assert mapped is not None
            yield mapped

    def range_between(self, start_ms: int, end_ms: int) -> tuple[Decimal, Decimal, Decimal] | None:
        got = self.underlying.range_between(start_ms, end_ms)
        if got is None:
            return None
        at = datetime.fromtimestamp(end_ms / 1000, UTC)
        return self.price(got[0], at), self.price(got[1], at), self.price(got[2], at)

    def aggregate(self, start_ms: int, end_ms: int, now_ms: int) -> Candle | None:
        from hedgeops.exchange.marketdata.replay import Candle

        c = self.underlying.aggregate(start_ms, end_ms, now_ms)
        if c is None:
            return None
        at = datetime.fromtimestamp(min(end_ms, now_ms) / 1000, UTC)
        return Candle(c.start_ms, self.price(c.open, at), self.price(c.high, at), self.price(c.low, at),
                      self.price(c.close, at), Decimal(0), Decimal(0), c.confirmed)

    def volume_at(self, i: int) -> tuple[Decimal, Decimal]:
        return Decimal(0), Decimal(0)

    def volume_24h(self, at: datetime) -> tuple[Decimal, Decimal]:
        return Decimal(0), Decimal(0)

    def has_volume(self, at: datetime) -> bool:
        return False


DERIVED = {FUTURE_SYMBOL: UNDERLYING, OPTION_SYMBOL: UNDERLYING}

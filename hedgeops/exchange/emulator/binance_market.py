"""Binance USDⓈ-M market data from the replay: exchangeInfo, depth, tickers, premium index, funding, klines."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from aiohttp import web

from hedgeops.exchange.emulator.binance_rules import (
    INTERVALS,
    PERPS,
    ZERO,
    BinanceBase,
    BinanceError,
    BinancePerp,
    D,
    _at,
    _fixed,
    _given,
    _int,
    _limit,
    _ms,
    _num,
    _perp,
    bisect_index,
    missing,
)
from hedgeops.exchange.marketdata.instruments import PAPER_MARKETS
from hedgeops.exchange.paper.synthetic_book import synthetic_book


class BinanceMarket(BinanceBase):
    # ---- public --------------------------------------------------------------------------------------------

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def server_time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response({
            "timezone": "UTC", "serverTime": int(time.time() * 1000), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [p.json() for p in PERPS.values()],
        })

    async def depth(self, request: web.Request) -> web.Response:
        params = _given(request)
        perp = _perp(params)
        assert perp is not None
        levels = _limit(params, 500, 1000)
        q = self._quote(perp)
        book = synthetic_book(q, PAPER_MARKETS[perp.ccxt], levels)
        now = self._now_ms()
        return web.json_response({
            "lastUpdateId": now, "E": now, "T": now,
            "bids": [[_num(p), _num(s)] for p, s in book.bids], "asks": [[_num(p), _num(s)] for p, s in book.asks]})

    def _24hr(self, perp: BinancePerp) -> dict[str, Any]:
        q = self._quote(perp)
        now = self.emu.clock()
        series = self.emu.replay.series(perp.ccxt)
        bars = list(series.bars_between(now - timedelta(days=1), now))
        open_ = bars[0].open if bars else q.last
        high = max((b.high for b in bars), default=q.last)
        low = min((b.low for b in bars), default=q.last)
        base, quote = series.volume_24h(now)
        change = q.last - open_
        return {"symbol": perp.symbol, "priceChange": _num(change),
                "priceChangePercent": _fixed(change / open_ * 100 if open_ else ZERO, 3),
                "weightedAvgPrice": _num((quote / base).quantize(perp.tick)) if base else _num(q.last),
                "lastPrice": _num(q.last), "lastQty": _num(perp.step), "openPrice": _num(open_),
                "highPrice": _num(high), "lowPrice": _num(low), "volume": _num(base), "quoteVolume": _num(quote),
                "openTime": _ms(now - timedelta(days=1)), "closeTime": _ms(now), "firstId": 0, "lastId": 0,
                "count": 0}

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        return self._each(request, self._24hr)

    async def book_ticker(self, request: web.Request) -> web.Response:
        def row(perp: BinancePerp) -> dict[str, Any]:
            q = self._quote(perp)
            size = _num(synthetic_book(q, PAPER_MARKETS[perp.ccxt], 1).bids[0][1])
            return {"symbol": perp.symbol, "bidPrice": _num(q.bid), "bidQty": size, "askPrice": _num(q.ask),
                    "askQty": size, "time": self._now_ms(), "lastUpdateId": self._now_ms()}
        return self._each(request, row)

    async def ticker_price(self, request: web.Request) -> web.Response:
        return self._each(request, lambda p: {"symbol": p.symbol, "price": _num(self._quote(p).last),
                                              "time": self._now_ms()})

    def _premium(self, perp: BinancePerp) -> dict[str, Any]:
        now = self.emu.clock()
        mark = self._quote(perp).last
        nxt = self.emu.funding.next_after(perp.ccxt, now)
        if nxt is None:
            raise BinanceError(-1, f"No funding rate for {perp.symbol} after {now.isoformat()} in the data", 503)
        return {"symbol": perp.symbol, "markPrice": _fixed(mark, 8), "indexPrice": _fixed(mark, 8),
                "estimatedSettlePrice": _fixed(mark, 8), "lastFundingRate": _fixed(nxt.rate, 8),
                "interestRate": "0.00010000", "nextFundingTime": _ms(nxt.at), "time": _ms(now)}

    async def premium_index(self, request: web.Request) -> web.Response:
        return self._each(request, self._premium)

    async def funding_rate(self, request: web.Request) -> web.Response:
        """Settlements, oldest first: the last `limit` up to now, or from `startTime` on."""
        params = _given(request)
        perp = _perp(params)
        assert perp is not None
        limit = _limit(params, 100, 1000)
        now = self.emu.clock()
        start, end = _int(params, "startTime"), _int(params, "endTime")
        until = min(now, _at(end)) if end is not None else now
        if start is not None:
            rows = self.emu.funding.between(perp.ccxt, _at(start - 1), until)[:limit]
        else:
            rows = list(reversed(self.emu.funding.last_before(perp.ccxt, until, limit)))
        series = self.emu.replay.series(perp.ccxt)
        out = []
        for s in rows:
            bar = series.last_closed(s.at)
            out.append({"symbol": perp.symbol, "fundingRate": _fixed(s.rate, 8), "fundingTime": _ms(s.at),
                        "markPrice": _fixed(bar.close, 8) if bar else ""})
        return web.json_response(out)

    async def funding_info(self, request: web.Request) -> web.Response:
        return web.json_response([{"symbol": p.symbol, "adjustedFundingRateCap": "0.03000000",
                                   "adjustedFundingRateFloor": "-0.03000000", "fundingIntervalHours": 8,
                                   "disclaimer": False} for p in PERPS.values()])

    async def klines(self, request: web.Request) -> web.Response:
        """Candles of the replayed data aggregated to `interval` (a multiple of the data's own step): the closed
        ones, then the one under way (its closed bars so far, or the latest price alone)."""
        params = _given(request)
        perp = _perp(params, required=False) or PERPS.get(params.get("pair", ""))
        if perp is None:
            raise missing("symbol") if not params.get("symbol") and not params.get("pair") else BinanceError(
                -1121, "Invalid symbol.")
        interval = params.get("interval")
        if not interval:
            raise missing("interval")
        seconds = INTERVALS.get(interval)
        if seconds is None:
            raise BinanceError(-1120, "Invalid interval.")
        limit = _limit(params, 500, 1500)
        series = self.emu.replay.series(perp.ccxt)
        now = self.emu.clock()
        step = series.step_at(now)
        if seconds % step:
            raise BinanceError(-1120, f"Invalid interval: the replayed candles are {step // 60}m")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        until = min(now, _at(end + 1)) if end is not None else now
        span = timedelta(seconds=seconds)
        since = _at(start) if start is not None else until - span * (limit + 1)
        if start is not None:  # from the first candle the data has, and no more bars read than `limit` need
            since = max(since, series.first)
            until = min(until, since + span * (limit + 1))
        out: list[list[Any]] = []
        rows: dict[int, list[Any]] = {}
        ms = seconds * 1000
        for bar in series.bars_between(since - span, until):
            i = bisect_index(series, bar.start)
            vol = D(repr(series.cum_base[i + 1] - series.cum_base[i]))
            qvol = D(repr(series.cum_quote[i + 1] - series.cum_quote[i]))
            bucket = _ms(bar.start) // ms * ms
            row = rows.get(bucket)
            if row is None:
                row = rows[bucket] = [bucket, bar.open, bar.high, bar.low, bar.close, vol, bucket + ms - 1, qvol,
                                      0, ZERO, ZERO, "0"]
                out.append(row)
            else:
                row[2], row[3], row[4] = max(row[2], bar.high), min(row[3], bar.low), bar.close
                row[5] += vol
                row[7] += qvol
        if until == now:  # the candle under way ends the list, as on Binance: what is known of it so far
            bucket = _ms(now) // ms * ms
            if bucket not in rows:
                last = self._quote(perp).last
                out.append([bucket, last, last, last, last, ZERO, bucket + ms - 1, ZERO, 0, ZERO, ZERO, "0"])
        done = [r for r in out if r[0] <= _ms(until) and (start is None or r[0] >= start)]
        done = done[:limit] if start is not None else done[-limit:]
        return web.json_response([[r[0], _num(r[1]), _num(r[2]), _num(r[3]), _num(r[4]), _fixed(r[5], 3), r[6],
                                   _fixed(r[7], 4), 0, "0", "0", "0"] for r in done])


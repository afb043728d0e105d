"""OKX's public and market endpoints: time, instruments, tickers, books, candles and funding rates, all on the
replay clock and the replayed real prices."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from aiohttp import web

from hedgeops.exchange.emulator.okx_common import (
    MAX_CANDLES,
    MAX_ROWS,
    OkxBase,
    OkxError,
    _bar,
    _inst,
    _inst_type,
    _int,
    _levels,
    _ms,
    _ms_param,
    _num,
    ok,
    price_limit,
)
from hedgeops.exchange.emulator.okx_derivatives import DerivativeRoutes, of_family
from hedgeops.exchange.marketdata.okx_instruments import OKX_SWAPS, OkxInstrument


class MarketRoutes(DerivativeRoutes, OkxBase):
    """GET /api/v5/public/* and /api/v5/market/*."""

    async def time(self, request: web.Request) -> web.Response:
        return ok([{"ts": str(self._now())}])  # the replay clock, as every other stamp

    async def instruments(self, request: web.Request) -> web.Response:
        kind = _inst_type(request.query, required=True)
        wanted = request.query.get("instId", "")
        return ok([i.json() for i in of_family(kind, request.query)
                   if i.inst_type == kind and (not wanted or i.inst_id == wanted)])

    def _ticker(self, inst: OkxInstrument) -> dict[str, str]:
        q = self.emu.quote(inst)
        size = _num((Decimal(20_000) / q.last / inst.ct_val).quantize(inst.lot_sz, rounding=ROUND_HALF_EVEN))
        base, quote = self.emu.volume_24h(inst)
        # OKX's units: spot vol24h in base and volCcy24h in quote; swaps vol24h in contracts, volCcy24h in base.
        contracts = inst.to_contracts(base).quantize(inst.lot_sz, rounding=ROUND_HALF_EVEN)
        vol, vol_ccy = (base, quote) if inst.spot else (contracts, base)
        now = self._now()
        series = self.emu.replay.series(inst.symbol)
        day = series.range_between(now - 86_400_000, now)
        open24, high24, low24 = (q.last, q.last, q.last) if day is None else day
        sod0 = series.range_between(now - now % 86_400_000, now)
        sod8 = series.range_between(now - (now + 8 * 3_600_000) % 86_400_000, now)
        tick = inst.tick_sz
        return {"instType": inst.inst_type, "instId": inst.inst_id, "last": _num(q.last), "lastSz": "1",
                "askPx": _num(q.ask), "askSz": size, "bidPx": _num(q.bid), "bidSz": size,
                "open24h": _num(open24.quantize(tick)), "high24h": _num(max(high24, q.last).quantize(tick)),
                "low24h": _num(min(low24, q.last).quantize(tick)), "volCcy24h": _num(vol_ccy), "vol24h": _num(vol),
                "sodUtc0": _num((sod0[0] if sod0 else q.last).quantize(tick)),
                "sodUtc8": _num((sod8[0] if sod8 else q.last).quantize(tick)), "ts": str(now)}

    async def public_price_limit(self, request: web.Request) -> web.Response:
        """OKX's price limit of one instrument: the highest buy and lowest sell price an order may have now (the
        band place-order enforces with 51006)."""
        inst = _inst(request.query.get("instId"))
        buy, sell = price_limit(self.emu, inst)
        return ok([{"instType": inst.inst_type, "instId": inst.inst_id, "buyLmt": _num(buy), "sellLmt": _num(sell),
                    "ts": str(self._now()), "enabled": True}])

    async def ticker(self, request: web.Request) -> web.Response:
        return ok([self._ticker(_inst(request.query.get("instId")))])

    async def tickers(self, request: web.Request) -> web.Response:
        kind = _inst_type(request.query, required=True)
        return ok([self._ticker(i) for i in of_family(kind, request.query) if i.inst_type == kind])

    async def books(self, request: web.Request) -> web.Response:
        inst = _inst(request.query.get("instId"))
        depth = max(1, _int(request.query, "sz", 1, 400))
        bids, asks = self.emu.book(inst, depth)
        return ok([{"asks": _levels(asks), "bids": _levels(bids), "ts": str(self._now())}])

    async def candles(self, request: web.Request) -> web.Response:
        """Real replayed bars aggregated to OKX's bar sizes, newest first; the bar under way shows only what is
        known (confirm "0"); never a bar that has not begun. Bars finer than the data are refused (51000)."""
        inst = _inst(request.query.get("instId"))
        length, offset = _bar(request.query.get("bar", "") or "1m")
        limit = max(1, _int(request.query, "limit", MAX_ROWS, MAX_CANDLES))
        after, before = _ms_param(request.query, "after"), _ms_param(request.query, "before")
        series = self.emu.replay.series(inst.symbol)
        if length % series.step_ms:
            raise OkxError("51000", f"Parameter bar error: the replayed data has {series.step_ms // 60_000}m bars")
        now = self._now()
        top = now if after is None else min(now, after - 1)
        start = top - (top - offset) % length
        first = series.ts[0]
        rows: list[list[str]] = []
        tick = inst.tick_sz
        while len(rows) < limit and start + length > first and (before is None or start > before):
            c = series.aggregate(start, start + length, now)
            if c is not None:
                vol_base = c.volume.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
                vol_quote = c.volume_quote.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
                contracts = inst.to_contracts(vol_base).quantize(inst.lot_sz, rounding=ROUND_HALF_EVEN)
                vol, vol_ccy = (vol_base, vol_quote) if inst.spot else (contracts, vol_base)
                rows.append([str(start), *(_num(p.quantize(tick, rounding=ROUND_HALF_EVEN))
                                           for p in (c.open, c.high, c.low, c.close)),
                             _num(vol), _num(vol_ccy), _num(vol_quote), "1" if c.confirmed else "0"])
            start -= length
        return ok(rows)

    def _funding_row(self, inst: OkxInstrument) -> dict[str, str]:
        now = self.emu.clock()
        nxt = self.emu.funding.next_after(inst.symbol, now)
        if nxt is None:
            raise OkxError("51001", "No funding rate for this instrument at this time")
        after = self.emu.funding.next_after(inst.symbol, nxt.at)
        last = self.emu.funding.last_before(inst.symbol, now, 1)
        # The bundled data holds each settlement's rate and nothing of OKX's formula inputs (caps, interest rate,
        # impact value, premium): those are "" rather than invented.
        return {"instType": "SWAP", "instId": inst.inst_id, "method": "current_period", "formulaType": "withRate",
                "fundingRate": _num(nxt.rate), "nextFundingRate": "", "fundingTime": _ms(nxt.at),
                "nextFundingTime": _ms(after.at) if after else _ms(nxt.at), "minFundingRate": "",
                "maxFundingRate": "", "interestRate": "", "impactValue": "", "settState": "settled",
                "settFundingRate": _num(last[0].rate) if last else "", "premium": "",
                "ts": _ms(now)}

    async def funding_rate(self, request: web.Request) -> web.Response:
        """The rate that settles next (the real one: OKX shows its estimate converging to it)."""
        wanted = request.query.get("instId")
        insts = list(OKX_SWAPS.values()) if wanted == "ANY" else [_inst(wanted)]
        if any(i.inst_type != "SWAP" for i in insts):  # only perpetual swaps fund
            raise OkxError("51000", "Parameter instId error")
        return ok([self._funding_row(i) for i in insts])

    async def funding_rate_history(self, request: web.Request) -> web.Response:
        inst = _inst(request.query.get("instId"))
        if inst.inst_type != "SWAP":
            raise OkxError("51000", "Parameter instId error")
        limit = max(1, _int(request.query, "limit", 400, 400))  # OKX: at most 400, 400 by default
        after, before = _ms_param(request.query, "after"), _ms_param(request.query, "before")
        now = self.emu.clock()
        top = now if after is None else min(now, datetime.fromtimestamp((after - 1) / 1000, now.tzinfo))
        rows = self.emu.funding.last_before(inst.symbol, top, limit)
        return ok([{"instType": "SWAP", "instId": inst.inst_id, "formulaType": "withRate", "fundingRate": _num(r.rate),
                    "realizedRate": _num(r.rate), "fundingTime": _ms(r.at), "method": "current_period"}
                   for r in rows if before is None or int(r.at.timestamp() * 1000) > before])


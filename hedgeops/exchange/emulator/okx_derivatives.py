"""OKX's dated futures and options in the emulator: instrument-family filters (OKX requires one for OPTION), the
option summary (public/opt-summary) and mark prices (public/mark-price), and the greeks an option position reports.
The one dated future and the one option served are SYNTHETIC (marketdata/derived.py): derived from the real BTC perp
candles by a stated rule, never market data of those instruments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from aiohttp import web

from hedgeops.exchange.emulator.okx_common import OkxBase, OkxError, _inst, _inst_type, _num, _q, ok
from hedgeops.exchange.marketdata.derived import UNDERLYING, OptionGreeks, option_greeks, realised_vol
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL, OKX_INSTRUMENTS, OkxInstrument

ZERO = Decimal(0)


def of_family(kind: str | None, query: Mapping[str, str]) -> Iterable[OkxInstrument]:
    """The instruments a public call's uly / instFamily asks for; OKX requires one of them for OPTION (50014)."""
    family = query.get("instFamily", "") or query.get("uly", "")
    if kind == "OPTION" and not family:
        raise OkxError("50014", "Parameter instFamily can not be empty")
    return [i for i in OKX_INSTRUMENTS.values() if not family or (not i.spot and i.family == family)]


class DerivativeRoutes(OkxBase):
    """GET /api/v5/public/opt-summary and /api/v5/public/mark-price; the option greeks positions report."""

    def greeks(self, inst: OkxInstrument) -> OptionGreeks | None:
        """The option's greeks now, on the underlying's current price (None under the no-greeks fault)."""
        if self.emu.faults.no_greeks:
            return None
        now = self.emu.clock()
        spot = self.emu.quote(BY_SYMBOL[UNDERLYING]).last
        return option_greeks(spot, now, realised_vol(self.emu.replay.series(UNDERLYING), now))

    def mark(self, inst: OkxInstrument) -> Decimal:
        return self.emu.quote(inst).last

    async def opt_summary(self, request: web.Request) -> web.Response:
        """Per option of the family (and expiry, YYMMDD): greeks per unit of the underlying, OKX's fields."""
        family = request.query.get("instFamily", "") or request.query.get("uly", "")
        if not family:
            raise OkxError("50014", "Parameter instFamily can not be empty")
        expiry = request.query.get("expTime", "")
        rows = []
        for inst in of_family("OPTION", {"instFamily": family}):
            if not inst.option or (expiry and inst.expiry is not None and f"{inst.expiry:%y%m%d}" != expiry):
                continue
            g = self.greeks(inst)
            rows.append(self._summary(inst, g, self.emu.now_ms()))
        return ok(rows)

    @staticmethod
    def _summary(inst: OkxInstrument, g: OptionGreeks | None, now_ms: int) -> dict[str, str]:
        if g is None:
            blank = ("delta", "gamma", "vega", "theta", "deltaBS", "gammaBS", "thetaBS", "vegaBS", "lever", "markVol",
                     "bidVol", "askVol", "realVol", "volLv", "fwdPx")
            return {"instType": "OPTION", "instId": inst.inst_id, "uly": inst.family, **dict.fromkeys(blank, ""),
                    "ts": str(now_ms)}
        spot = g.forward
        return {"instType": "OPTION", "instId": inst.inst_id, "uly": inst.family, "delta": _num(g.delta_pa),
                "gamma": _q(g.gamma_bs * spot), "vega": _q(g.vega_bs / spot), "theta": _q(g.theta_bs / spot),
                "deltaBS": _num(g.delta_bs), "gammaBS": _num(g.gamma_bs), "thetaBS": _num(g.theta_bs),
                "vegaBS": _num(g.vega_bs), "lever": _q(spot / g.price_usd, "0.0001") if g.price_usd else "0",
                "markVol": _num(g.vol), "bidVol": _num(g.vol), "askVol": _num(g.vol), "realVol": _num(g.vol),
                "volLv": _num(g.vol), "fwdPx": _num(spot), "ts": str(now_ms)}

    async def mark_price(self, request: web.Request) -> web.Response:
        """The mark of every derivative asked for: the replayed (or derived) price, as the paper account marks."""
        kind = _inst_type(request.query, required=True)
        if kind == "SPOT":
            raise OkxError("51000", "Parameter instType error")
        wanted = request.query.get("instId", "")
        insts = [_inst(wanted)] if wanted else list(of_family(kind, request.query))
        now = str(self.emu.now_ms())
        return ok([{"instType": i.inst_type, "instId": i.inst_id, "markPx": _num(self.mark(i)), "ts": now}
                   for i in insts if i.inst_type == kind])

    def option_position(self, inst: OkxInstrument, qty: Decimal, entry: Decimal,
                        now: datetime) -> dict[str, str]:
        """The fields of an option position row that differ from a swap's: value, greeks of the whole position in
        coins of the underlying (OKX: deltaBS Black-Scholes, deltaPA price-adjusted), no margin (bought in full)."""
        g = self.greeks(inst)
        mark = self.mark(inst)
        spot = self.emu.quote(BY_SYMBOL[UNDERLYING]).last

        def greek(x: Decimal | None) -> str:
            return "" if x is None else _q(x * qty)

        return {"optVal": _q(qty * mark), "markPx": _num(mark), "idxPx": _num(spot), "upl": _q(qty * (mark - entry)),
                "availPos": _num(inst.to_contracts(qty)), "imr": "0", "mmr": "0", "lever": "", "ccy": inst.settle,
                "notionalUsd": _q(abs(qty) * spot), "usdPx": _num(spot),
                "deltaBS": greek(g.delta_bs if g else None), "deltaPA": greek(g.delta_pa if g else None),
                "gammaBS": greek(g.gamma_bs if g else None), "gammaPA": greek(g.gamma_bs * spot if g else None),
                "thetaBS": greek(g.theta_bs if g else None), "thetaPA": greek(g.theta_bs / spot if g else None),
                "vegaBS": greek(g.vega_bs if g else None), "vegaPA": greek(g.vega_bs / spot if g else None)}

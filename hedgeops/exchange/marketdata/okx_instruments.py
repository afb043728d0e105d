"""OKX USDT swaps and spot pairs as OKX lists them (contract value, lot size, tick size) and their conversion to
the base units the rest of HedgeOps works in. The emulator serves these; the paper venue uses the same rules."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgeops.model.market import MarketRules

D = Decimal


@dataclass(frozen=True)
class OkxInstrument:
    """One OKX instrument: swap sizes are in contracts of ct_val base units each, spot sizes in base units."""

    inst_id: str
    base: str
    quote: str
    ct_val: Decimal
    lot_sz: Decimal
    min_sz: Decimal
    tick_sz: Decimal
    lever: int = 50
    inst_type: str = "SWAP"

    @property
    def spot(self) -> bool:
        return self.inst_type == "SPOT"

    @property
    def symbol(self) -> str:
        """The ccxt unified symbol."""
        return f"{self.base}/{self.quote}" if self.spot else f"{self.base}/{self.quote}:{self.quote}"

    def rules(self) -> MarketRules:
        return MarketRules(self.symbol, self.base, self.quote, self.lot_sz * self.ct_val, self.tick_sz,
                           self.min_sz * self.ct_val, linear_swap=not self.spot)  # OKX's USDT swaps are linear

    def to_base(self, contracts: Decimal) -> Decimal:
        return contracts * self.ct_val

    def to_contracts(self, base_qty: Decimal) -> Decimal:
        return base_qty / self.ct_val

    def json(self) -> dict[str, Any]:
        """GET /api/v5/public/instruments row: every field OKX documents, strings as OKX sends them (booleans, the
        quote-currency list and the integer instIdCode as theirs)."""
        return {**self._listing(), "category": "", "auctionEndTime": "", "contTdSwTime": "", "preMktSwTime": "",
                "openType": "", "ruleType": "normal",
                "maxLmtAmt": "20000000", "maxMktAmt": "" if not self.spot else "1000000", "maxTwapSz": "",
                "maxIcebergSz": "", "maxTriggerSz": "", "maxStopSz": "", "futureSettlement": False,
                "tradeQuoteCcyList": [self.quote] if self.spot else [], "instIdCode": self.code}

    @property
    def code(self) -> int:
        """A stable numeric code per instrument (OKX's instIdCode is a number of its own)."""
        return int(sum(ord(c) * pow(31, n) for n, c in enumerate(self.inst_id))) % 1_000_000

    def _listing(self) -> dict[str, Any]:
        if self.spot:
            return {
                "instType": "SPOT", "instId": self.inst_id, "uly": "", "instFamily": "", "baseCcy": self.base,
                "quoteCcy": self.quote, "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "ctType": "",
                "lotSz": str(self.lot_sz), "minSz": str(self.min_sz), "tickSz": str(self.tick_sz), "lever": "",
                "state": "live", "listTime": "1548133413000", "expTime": "", "maxLmtSz": "10000000000",
                "maxMktSz": "1000000", "alias": "", "optType": "", "stk": "",
            }
        return {
            "instType": "SWAP", "instId": self.inst_id, "uly": f"{self.base}-{self.quote}",
            "instFamily": f"{self.base}-{self.quote}", "baseCcy": "", "quoteCcy": "", "settleCcy": self.quote,
            "ctVal": str(self.ct_val), "ctMult": "1", "ctValCcy": self.base, "ctType": "linear",
            "lotSz": str(self.lot_sz), "minSz": str(self.min_sz), "tickSz": str(self.tick_sz),
            "lever": str(self.lever), "state": "live", "listTime": "1611916828000", "expTime": "",
            "maxLmtSz": "100000000", "maxMktSz": "1000000", "alias": "", "optType": "", "stk": "",
        }


# OKX's listings (public/instruments, instType=SWAP): BTC 0.01 BTC a contract, ETH 0.1, SOL 1; lots of 0.01.
OKX_SWAPS: dict[str, OkxInstrument] = {i.inst_id: i for i in (
    OkxInstrument("BTC-USDT-SWAP", "BTC", "USDT", D("0.01"), D("0.01"), D("0.01"), D("0.1"), 100),
    OkxInstrument("ETH-USDT-SWAP", "ETH", "USDT", D("0.1"), D("0.01"), D("0.01"), D("0.01"), 100),
    OkxInstrument("SOL-USDT-SWAP", "SOL", "USDT", D("1"), D("0.01"), D("0.01"), D("0.01"), 50),
)}
# OKX's spot listings: sizes in base units, lots of 1e-8 BTC / 1e-6 ETH and SOL.
OKX_SPOT: dict[str, OkxInstrument] = {i.inst_id: i for i in (
    OkxInstrument("BTC-USDT", "BTC", "USDT", D(1), D("0.00000001"), D("0.00001"), D("0.1"), 0, "SPOT"),
    OkxInstrument("ETH-USDT", "ETH", "USDT", D(1), D("0.000001"), D("0.0001"), D("0.01"), 0, "SPOT"),
    OkxInstrument("SOL-USDT", "SOL", "USDT", D(1), D("0.000001"), D("0.001"), D("0.01"), 0, "SPOT"),
)}
OKX_INSTRUMENTS: dict[str, OkxInstrument] = {**OKX_SWAPS, **OKX_SPOT}
BY_SYMBOL: dict[str, OkxInstrument] = {i.symbol: i for i in OKX_INSTRUMENTS.values()}

"""OKX USDT swaps and spot pairs as OKX lists them (contract value, lot size, tick size) and their conversion to
the base units the rest of HedgeOps works in, plus one SYNTHETIC dated BTC future and one SYNTHETIC BTC option
(marketdata/derived.py: derived from the real perp candles, not market data). The emulator serves them all; the
paper venue of local mode lists all but the option (it has no venue greeks to read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.exchange.marketdata.derived import EXPIRY, FUTURE_TICK, OPTION_TICK, STRIKE
from hedgeops.model.market import MarketRules

D = Decimal
LIST_MS = "1735603200000"  # 2024-12-31 00:00 UTC, the first bundled bar: the synthetic series are listed from then


@dataclass(frozen=True)
class OkxInstrument:
    """One OKX instrument: derivative sizes are in contracts of ct_val × ct_mult base units each (OKX's options carry
    the size in ctMult: a BTC option is ctVal 1 × ctMult 0.01 BTC), spot sizes in base units."""

    inst_id: str
    base: str
    quote: str
    ct_val: Decimal
    lot_sz: Decimal
    min_sz: Decimal
    tick_sz: Decimal
    lever: int = 50
    inst_type: str = "SWAP"
    expiry: datetime | None = None  # FUTURES and OPTION
    strike: Decimal | None = None  # OPTION
    opt_type: str = ""  # OPTION: C or P
    ct_mult: Decimal = Decimal(1)

    @property
    def spot(self) -> bool:
        return self.inst_type == "SPOT"

    @property
    def option(self) -> bool:
        return self.inst_type == "OPTION"

    @property
    def settle(self) -> str:
        """The settlement currency: the quote for spot, swaps and USDT futures; the base for coin-margined options."""
        return self.base if self.option else self.quote

    @property
    def family(self) -> str:
        """OKX's instrument family (and underlying, uly): BTC-USDT, BTC-USD."""
        return f"{self.base}-{self.quote}"

    @property
    def symbol(self) -> str:
        """The ccxt unified symbol."""
        if self.spot:
            return f"{self.base}/{self.quote}"
        dated = f"-{self.expiry:%y%m%d}" if self.expiry else ""
        if self.option:
            return f"{self.base}/{self.quote}:{self.settle}{dated}-{self.strike}-{self.opt_type}"
        return f"{self.base}/{self.quote}:{self.quote}{dated}"

    @property
    def size(self) -> Decimal:
        """Base units in one contract (1 for spot)."""
        return self.ct_val * self.ct_mult

    def rules(self) -> MarketRules:
        # OKX's USDT swaps are linear perpetuals; its dated futures and options are not.
        return MarketRules(self.symbol, self.base, self.quote, self.lot_sz * self.size, self.tick_sz,
                           self.min_sz * self.size, linear_swap=self.inst_type == "SWAP")

    def to_base(self, contracts: Decimal) -> Decimal:
        return contracts * self.size

    def to_contracts(self, base_qty: Decimal) -> Decimal:
        return base_qty / self.size

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

    def _exp_ms(self) -> str:
        return str(int(self.expiry.timestamp() * 1000)) if self.expiry else ""

    def _listing(self) -> dict[str, Any]:
        if self.spot:
            return {
                "instType": "SPOT", "instId": self.inst_id, "uly": "", "instFamily": "", "baseCcy": self.base,
                "quoteCcy": self.quote, "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "ctType": "",
                "lotSz": str(self.lot_sz), "minSz": str(self.min_sz), "tickSz": str(self.tick_sz), "lever": "",
                "state": "live", "listTime": "1548133413000", "expTime": "", "maxLmtSz": "10000000000",
                "maxMktSz": "1000000", "alias": "", "optType": "", "stk": "",
            }
        if self.option:
            return {
                "instType": "OPTION", "instId": self.inst_id, "uly": self.family, "instFamily": self.family,
                "baseCcy": "", "quoteCcy": "", "settleCcy": self.settle, "ctVal": str(self.ct_val),
                "ctMult": str(self.ct_mult), "ctValCcy": self.base, "ctType": "", "lotSz": str(self.lot_sz),
                "minSz": str(self.min_sz), "tickSz": str(self.tick_sz), "lever": "", "state": "live",
                "listTime": LIST_MS, "expTime": self._exp_ms(), "maxLmtSz": "10000", "maxMktSz": "", "alias": "",
                "optType": self.opt_type, "stk": str(self.strike),
            }
        return {
            "instType": self.inst_type, "instId": self.inst_id, "uly": self.family, "instFamily": self.family,
            "baseCcy": "", "quoteCcy": "", "settleCcy": self.quote, "ctVal": str(self.ct_val), "ctMult": "1",
            "ctValCcy": self.base, "ctType": "linear", "lotSz": str(self.lot_sz), "minSz": str(self.min_sz),
            "tickSz": str(self.tick_sz), "lever": str(self.lever), "state": "live",
            "listTime": LIST_MS if self.expiry else "1611916828000", "expTime": self._exp_ms(),
            "maxLmtSz": "100000000", "maxMktSz": "1000000", "alias": "quarter" if self.expiry else "", "optType": "",
            "stk": "",
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
# SYNTHETIC series (marketdata/derived.py), on OKX's terms: the BTC-USDT dated future sized as the BTC-USDT swap
# (0.01 BTC a contract, lots of 0.01, tick 0.1); the coin-margined BTC-USD call as OKX lists BTC options (ctVal 1 ×
# ctMult 0.01 BTC a contract, lots of 1, priced in BTC with a tick of 0.0005).
OKX_FUTURES: dict[str, OkxInstrument] = {i.inst_id: i for i in (
    OkxInstrument(f"BTC-USDT-{EXPIRY:%y%m%d}", "BTC", "USDT", D("0.01"), D("0.01"), D("0.01"), FUTURE_TICK, 100,
                  "FUTURES", EXPIRY),
)}
OKX_OPTIONS: dict[str, OkxInstrument] = {i.inst_id: i for i in (
    OkxInstrument(f"BTC-USD-{EXPIRY:%y%m%d}-{STRIKE}-C", "BTC", "USD", D(1), D(1), D(1), OPTION_TICK, 0, "OPTION",
                  EXPIRY, STRIKE, "C", D("0.01")),
)}
OKX_INSTRUMENTS: dict[str, OkxInstrument] = {**OKX_SWAPS, **OKX_SPOT, **OKX_FUTURES, **OKX_OPTIONS}
BY_SYMBOL: dict[str, OkxInstrument] = {i.symbol: i for i in OKX_INSTRUMENTS.values()}

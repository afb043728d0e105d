"""The OKX dialect's shared pieces: OKX's envelope and error, number and parameter parsing as OKX answers
them (51000/50014 and kin), and the base every route group shares (the account of a signed request, JSON
bodies, the replay clock)."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from hedgeops.exchange.emulator.state import Account, Emulator
from hedgeops.exchange.marketdata.derived import UNDERLYING, option_greeks, realised_vol
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL, OKX_INSTRUMENTS, OkxInstrument
from hedgeops.exchange.paper.account import MAINTENANCE_MARGIN_RATE
from hedgeops.model.orders import Fill, OrderState, OrderStatus

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE = Decimal(1)
PUBLIC = ("/api/v5/public/", "/api/v5/market/")
_ORDER_PATHS = ("/api/v5/trade/order", "/api/v5/trade/batch-orders")
MAX_SKEW_SECONDS = 30
CLORDID = re.compile(r"^[A-Za-z0-9]{1,32}$")
# A final order whose clOrdId is used again is kept under "<clOrdId>#<ordId>": `#` is outside the clOrdId alphabet,
# so no order sent can take that key, and the order is still found by its ordId.
ARCHIVED = "#"
TAG = re.compile(r"^[A-Za-z0-9]{0,16}$")
API_KEY = web.RequestKey("api_key", str)
ALL_SYMBOLS = sorted(i.symbol for i in OKX_INSTRUMENTS.values())
MAX_ROWS = 100
MAX_CANDLES = 300
MAX_EXPONENT = 30  # a size or price beyond 1e±30 is no number a market trades
MMR_RATE = MAINTENANCE_MARGIN_RATE  # the paper account's, at which it liquidates: the mgnRatio shown reaches 1 there
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
# Bill ids by kind: transfers (type 1), trades (type 2), funding fees (type 8).
TRANSFER_BILL, TRADE_BILL, FUNDING_BILL = 100_000_000_000, 200_000_000_000, 800_000_000_000
# OKX's bar sizes (seconds, and the hours the bar's day starts after UTC midnight: OKX aligns 6H and longer to
# Hong Kong time unless the bar ends in "utc").
_BAR_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1H": 3600, "2H": 7200, "4H": 14400,
                "6H": 21600, "12H": 43200, "1D": 86400, "2D": 172800, "3D": 259200, "1W": 604800}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# OKX's price limit (GET /public/price-limit; a priced order beyond it is refused with 51006): a buy may be priced at
# most buyLmt, a sell at least sellLmt. OKX sets the band per instrument and moves it with the market (for swaps and
# futures around the index, with per-instrument X/Y/Z parameters it publishes on /trade-market/info/swap; it does
# not disclose the full rule). The emulator has one price per instrument, so its band is around that: ±5% of the
# current price for spot, swaps and the dated future. 5% is the figure OKX uses for a new contract's first minutes
# and the widest cap commonly seen on liquid pairs (OKX has tightened BTC/ETH perps to about ±1-2% at times): it
# refuses every order OKX would surely refuse (a buy at 2× the market) without refusing the ordinary near-the-market
# orders a strategy sends. A module constant: a test may tighten it. Options follow OKX's published option rule,
# mark ± max(0.004, 0.016 × |delta|) in the coin (adjustment coefficient 1).
PRICE_LIMIT_BAND = Decimal("0.05")
OPTION_LIMIT_FLOOR, OPTION_LIMIT_DELTA = Decimal("0.004"), Decimal("0.016")


class OkxError(Exception):
    """An OKX error answer: code, message, HTTP status."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def ok(data: list[Any], code: str = "0", msg: str = "", **extra: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "data": data, **extra})


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def _num(x: Decimal) -> str:
    return format(x.normalize(), "f") if x else "0"


def _opt(x: Decimal | None) -> str:
    return "" if x is None else _num(x)


def _q(x: Decimal, places: str = "0.00000001") -> str:
    """A derived figure (margin, ratios) to 8 places, as OKX prints them."""
    return _num(x.quantize(Decimal(places), rounding=ROUND_HALF_EVEN))


def _dec(raw: Any, name: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise OkxError("51000", f"Parameter {name} error")
    try:
        d = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise OkxError("51000", f"Parameter {name} error") from None
    if not d.is_finite() or (d and abs(d.adjusted()) > MAX_EXPONENT):
        raise OkxError("51000", f"Parameter {name} error")
    return d


def _int(query: Mapping[str, str], name: str, default: int, top: int) -> int:
    """A whole-number query parameter (OKX's 51000 for anything else); at most `top`."""
    raw = query.get(name, "")
    if raw == "":
        return default
    if not re.fullmatch(r"\d{1,15}", raw):
        raise OkxError("51000", f"Parameter {name} error")
    return min(int(raw), top)


def _ms_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name, "")
    if raw == "":
        return None
    if not re.fullmatch(r"\d{1,15}", raw):
        raise OkxError("51000", f"Parameter {name} error")
    return int(raw)


def _levels(levels: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    return [[_num(p), _num(s), "0", "1"] for p, s in levels]


def _raw(header: str) -> bytes:
    """A header's bytes as sent: compare_digest refuses non-ASCII str, and aiohttp decodes headers as UTF-8 with
    surrogateescape, so this is exact even for bytes that are not UTF-8."""
    return header.encode("utf-8", "surrogateescape")


def _inst(inst_id: Any) -> OkxInstrument:
    if inst_id is None or inst_id == "":
        raise OkxError("50014", "Parameter instId can not be empty")
    inst = OKX_INSTRUMENTS.get(str(inst_id))
    if inst is None:
        raise OkxError("51001", "Instrument ID does not exist")
    return inst


def _inst_type(query: Mapping[str, str], required: bool) -> str | None:
    kind = query.get("instType", "")
    if kind == "":
        if required:
            raise OkxError("50014", "Parameter instType can not be empty")
        return None
    if kind not in INST_TYPES:
        raise OkxError("51000", "Parameter instType error")
    return kind


def _bar(text: str) -> tuple[int, int]:
    """OKX's bar parameter: (length, offset of its alignment from UTC), both in ms."""
    utc = text.endswith("utc")
    base = text[:-3] if utc else text
    seconds = _BAR_SECONDS.get(base)
    if seconds is None or (utc and seconds < 21600):
        raise OkxError("51000", "Parameter bar error")
    offset = 0 if utc or seconds < 21600 else -8 * 3600  # Hong Kong midnight is 16:00 UTC
    if base == "1W":
        offset += 4 * 86400  # weeks start on Monday; the epoch was a Thursday
    return seconds * 1000, offset * 1000


def _cl_ord_id(key: str) -> str:
    """The clOrdId an order was sent with, for the key it is kept under (an archived one's suffix dropped)."""
    return key.split(ARCHIVED, 1)[0]


def _status(state: OrderState) -> str:
    if state.status == OrderStatus.CLOSED:
        return "filled"
    if state.status in (OrderStatus.CANCELED, OrderStatus.REJECTED):
        return "canceled"
    return "partially_filled" if state.filled else "live"


def price_limit(emu: Emulator, inst: OkxInstrument) -> tuple[Decimal, Decimal]:
    """OKX's price limit for `inst` now: (buyLmt, sellLmt), on the instrument's tick (the band rounded inwards)."""
    last = emu.quote(inst).last
    if inst.option:
        delta = Decimal(1)  # the widest band when the greeks are withheld (the no-greeks fault)
        if not emu.faults.no_greeks:
            now = emu.clock()
            spot = emu.quote(BY_SYMBOL[UNDERLYING]).last
            delta = option_greeks(spot, now, realised_vol(emu.replay.series(UNDERLYING), now)).delta_bs
        width = max(OPTION_LIMIT_FLOOR, OPTION_LIMIT_DELTA * abs(delta))
        high, low = last + width, last - width
    else:
        high, low = last * (1 + PRICE_LIMIT_BAND), last * (1 - PRICE_LIMIT_BAND)
    tick = inst.tick_sz
    buy = (high / tick).to_integral_value(ROUND_FLOOR) * tick
    sell = max((low / tick).to_integral_value(ROUND_CEILING) * tick, tick)
    return buy, sell


class OkxBase:
    """What every OKX route group needs: the emulator, the account behind a signed request, bodies as OKX
    reads them and the replay clock."""

    emu: Emulator

    def _account(self, request: web.Request) -> Account:
        return self.emu.account(request[API_KEY])

    @staticmethod
    async def _json(request: web.Request) -> Any:
        try:
            text = await request.text()
        except UnicodeDecodeError:
            raise OkxError("50002", "Json data format error") from None
        if not text.strip():
            raise OkxError("50000", "Body can not be empty")
        try:
            body = json.loads(text, parse_constant=lambda _: None)  # NaN/Infinity are no JSON numbers
        except (json.JSONDecodeError, RecursionError):
            raise OkxError("50002", "Json data format error") from None
        if body is None:
            raise OkxError("50000", "Body can not be empty")
        return body

    async def _object(self, request: web.Request) -> dict[str, Any]:
        body = await self._json(request)
        if not isinstance(body, dict):
            raise OkxError("50002", "Json data format error")
        return body

    async def _items(self, request: web.Request, most: int) -> list[dict[str, Any]]:
        body = await self._json(request)
        if not isinstance(body, list) or not 1 <= len(body) <= most:
            raise OkxError("51000", "Parameter batch error")
        if not all(isinstance(o, dict) for o in body):
            raise OkxError("50002", "Json data format error")
        return body

    def _now(self) -> int:
        return self.emu.now_ms()

    def _visible(self, acct: Account, cl_ord_id: str) -> bool:
        delay = self.emu.faults.show_delay_seconds
        return delay <= 0 or time.time() * 1000 - acct.created_ms.get(cl_ord_id, 0) >= delay * 1000

    @staticmethod
    def _fills_by_order(acct: Account) -> Mapping[str, list[Fill]]:
        return acct.venue.account.fills_by_order


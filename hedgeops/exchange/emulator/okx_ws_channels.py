"""The OKX v5 websocket channels the emulator serves, and what each pushes. Public: `tickers`, `books5` and
`books` (a snapshot, then incremental updates with seqId/prevSeqId and OKX's CRC32 checksum), and `funding-rate`
(a perpetual swap's row, on change and at least every FUNDING_HEARTBEAT_MS of replay time). Private: `account`,
`positions` (a snapshot on subscribing, then a push on every account event) and `orders` (a push per order that
changed). Every row is built by the same code the REST endpoints answer with, from the same replay and matching
core: a push never says anything a REST call at that instant would not."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp.test_utils import make_mocked_request

from hedgeops.exchange.emulator.okx_common import (
    API_KEY,
    ARCHIVED,
    INST_TYPES,
    ZERO,
    OkxError,
    _cl_ord_id,
    _levels,
    _num,
)
from hedgeops.exchange.emulator.state import Account
from hedgeops.exchange.marketdata.okx_instruments import BY_SYMBOL, OKX_INSTRUMENTS, OkxInstrument
from hedgeops.model.orders import OrderStatus

if TYPE_CHECKING:
    from hedgeops.exchange.emulator.okx_http import EmulatorApp

PUBLIC_CHANNELS = {"tickers": 0, "books5": 5, "books": 400}  # channel -> book depth pushed (0: no book)
FUNDING_CHANNEL = "funding-rate"
# OKX: "data will be pushed in 30s to 90s" even when nothing changed. Here: every 60 s of replay time at least, so a
# client can tell a live funding channel from a dead one.
FUNDING_HEARTBEAT_MS = 60_000
PRIVATE_CHANNELS = ("account", "positions", "orders")
KEY_FIELDS = ("channel", "instType", "instFamily", "instId", "ccy")  # the arguments the channels read
CHECKSUM_LEVELS = 25  # OKX's checksum covers the best 25 bids and asks
Levels = list[list[str]]


class ArgError(Exception):
    """A subscription argument OKX refuses: its code and message."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def _missing(arg: Mapping[str, Any], name: str) -> ArgError:
    return ArgError("60027", f"Parameter {name} can not be empty.") if arg.get(name) in (None, "") else _absent(arg)


def _absent(arg: Mapping[str, Any]) -> ArgError:
    """OKX's 60018, naming the channel and instrument as OKX's own message does."""
    where = ",".join(f"{k}:{arg[k]}" for k in ("channel", "instType", "instId") if arg.get(k) not in (None, ""))
    return ArgError("60018", f"Wrong URL or {where} doesn't exist. Please use the correct URL, channel and "
                             "parameters referring to API document.")


def uid_of(api_key: str) -> str:
    """The account's uid as OKX echoes it in private pushes: a stable number per key (never the key itself)."""
    return str(zlib.crc32(api_key.encode()) + 100_000_000_000)


@dataclass(eq=False)
class Sub:
    """One subscription on one connection: the argument as the client sent it (echoed in every push, with the uid
    for private channels) and what was last pushed, to push only what changed."""

    channel: str
    arg: dict[str, str]
    inst: OkxInstrument | None = None
    inst_type: str = "ANY"
    family: str = ""  # instFamily: the orders and positions of one family only
    last: Any = None
    seq: int = 0
    orders: dict[str, tuple[OrderStatus, Decimal]] = field(default_factory=dict)
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    book: dict[str, Levels] | None = None
    pushed_ms: int = 0  # replay time of the last push (funding-rate's heartbeat)

    @property
    def key(self) -> str:
        """What names the subscription: the fields a channel reads. A field no channel reads makes no second
        subscription, so one connection holds at most one per channel and argument served (a few hundred)."""
        return json.dumps({k: self.arg.get(k, "") for k in KEY_FIELDS}, sort_keys=True)


def parse_arg(raw: Any, private_url: bool) -> Sub:
    """One `args` item of a subscribe or unsubscribe, checked as OKX checks it (ArgError otherwise). Only plain
    string fields are kept: the argument is echoed back as sent."""
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ArgError("60012", f"Illegal request: {json.dumps(raw)}")
    arg: dict[str, str] = dict(raw)
    channel = arg.get("channel", "")
    if not channel:
        raise ArgError("60027", "Parameter channel can not be empty.")
    if channel in PUBLIC_CHANNELS:
        if private_url:  # OKX serves market channels on /public only
            raise _absent(arg)
        inst = OKX_INSTRUMENTS.get(arg.get("instId", ""))
        if inst is None:
            raise _missing(arg, "instId")
        return Sub(channel, arg, inst)
    if channel == FUNDING_CHANNEL:
        if private_url:
            raise _absent(arg)
        inst = OKX_INSTRUMENTS.get(arg.get("instId", ""))
        if inst is None or inst.inst_type != "SWAP":  # only perpetual swaps fund (REST's funding-rate: 51000)
            raise _missing(arg, "instId")
        return Sub(channel, arg, inst)
    if channel not in PRIVATE_CHANNELS or not private_url:
        raise _absent(arg)
    inst_type = arg.get("instType", "")
    if channel != "account" and ((channel == "positions" and inst_type == "SPOT")
                                 or inst_type not in (*INST_TYPES, "ANY")):
        raise _missing(arg, "instType")
    family = arg.get("instFamily", "")
    if family and (channel == "account" or not any(
            i.family == family and not i.spot for i in OKX_INSTRUMENTS.values())):  # derivatives have families
        raise _absent(arg)
    wanted = arg.get("instId", "")
    inst = None
    if wanted:
        inst = OKX_INSTRUMENTS.get(wanted)
        if inst is None or inst_type not in ("ANY", inst.inst_type) or (family and inst.family != family):
            raise _absent(arg)
    if channel == "account" and arg.get("ccy", "") not in ("", "USDT", "BTC", "ETH", "SOL"):
        raise _absent(arg)
    return Sub(channel, arg, inst, inst_type or "ANY", family)


def checksum(bids: Levels, asks: Levels) -> int:
    """OKX's book checksum: CRC32 over the best 25 levels interleaved bid:size:ask:size, as a signed 32-bit int."""
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts += bids[i][:2]
        if i < len(asks):
            parts += asks[i][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _diff(old: Levels, new: Levels, descending: bool) -> Levels:
    """The levels of `new` that differ from `old`; a level gone is sent with size 0, as OKX sends it."""
    before = {lv[0]: lv for lv in old}
    after = {lv[0]: lv for lv in new}
    out = [lv for p, lv in after.items() if before.get(p) != lv]
    out += [[p, "0", "0", "0"] for p in before if p not in after]
    return sorted(out, key=lambda lv: Decimal(lv[0]), reverse=descending)


class Channels:
    """The pushes of every channel, built from the app's own REST row builders."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.emu = app.emu
        self._seq = 1_000

    # ---- public -----------------------------------------------------------------------------------------------

    def public(self, sub: Sub, first: bool) -> dict[str, Any] | None:
        """The next push of a public channel (None: nothing to push)."""
        return self.funding(sub, first) if sub.channel == FUNDING_CHANNEL else self.market(sub, first)

    def funding(self, sub: Sub, first: bool) -> dict[str, Any] | None:
        """The swap's funding row, REST's own (`GET /api/v5/public/funding-rate`): on subscribing, whenever it
        changes (the replay crossed a settlement: the next rate and times move), and at least every
        FUNDING_HEARTBEAT_MS of replay time while nothing changes, as OKX pushes it every 30 to 90 s."""
        assert sub.inst is not None
        now = self.emu.now_ms()
        try:
            row = self.app._funding_row(sub.inst)
        except OkxError:  # no settlement left in the data: REST answers 51001; the channel has nothing to say
            return None
        changed = {k: v for k, v in row.items() if k != "ts"}  # ts moves with every tick: not a change
        if not first and changed == sub.last and now - sub.pushed_ms < FUNDING_HEARTBEAT_MS:
            return None
        sub.last, sub.pushed_ms = changed, now
        return {"arg": sub.arg, "data": [row]}

    def market(self, sub: Sub, first: bool) -> dict[str, Any] | None:
        """The next push of a market channel: on subscribing, then whenever the replayed price moved."""
        assert sub.inst is not None
        q = self.emu.quote(sub.inst)
        moved = (q.bid, q.ask, q.last)
        if not first and moved == sub.last:
            return None
        sub.last = moved
        now = str(self.emu.now_ms())
        if sub.channel == "tickers":
            return {"arg": sub.arg, "data": [self.app._ticker(sub.inst)]}
        bids_raw, asks_raw = self.emu.book(sub.inst, PUBLIC_CHANNELS[sub.channel])
        bids, asks = _levels(bids_raw), _levels(asks_raw)
        self._seq += 1
        if sub.channel == "books5":
            return {"arg": sub.arg, "data": [{"asks": asks, "bids": bids, "instId": sub.inst.inst_id, "ts": now,
                                              "seqId": self._seq}]}
        prev, book = (-1, None) if first else (sub.seq, sub.book)
        sub.seq = self._seq
        sub.book = {"bids": bids, "asks": asks}
        data = {"asks": asks, "bids": bids} if book is None else {
            "asks": _diff(book["asks"], asks, False), "bids": _diff(book["bids"], bids, True)}
        return {"arg": sub.arg, "action": "snapshot" if book is None else "update",
                "data": [{**data, "ts": now, "checksum": checksum(bids, asks), "prevSeqId": prev,
                          "seqId": self._seq}]}

    # ---- private ----------------------------------------------------------------------------------------------

    def event_of(self, acct: Account) -> tuple[Any, ...]:
        """What changes when the account has an event (an order placed, cancelled or filled, a funding fee, a
        transfer, a leverage change): pushes follow it, not the mark's every tick (OKX's event pushes). An order
        the show-delay fault still hides becomes an event when it shows."""
        paper = acct.venue.account
        return (len(paper.fills), len(paper.bills), len(acct.transfer_log), paper.quote_balance,
                tuple((cl, s.status, s.filled, self.app._visible(acct, cl)) for cl, s in paper.orders.items()
                      if cl in acct.ord_ids),
                tuple(sorted(acct.leverage.items())))

    async def _rest(self, api_key: str, path: str, handler_name: str) -> list[dict[str, Any]]:
        """A REST endpoint's rows for this key, from its very handler (one source for both faces)."""
        request = make_mocked_request("GET", path)
        request[API_KEY] = api_key
        response = await getattr(self.app, handler_name)(request)
        body = json.loads(response.body)
        rows: list[dict[str, Any]] = body["data"]
        return rows

    async def account(self, sub: Sub, api_key: str, first: bool) -> dict[str, Any]:
        ccy = sub.arg.get("ccy", "")
        rows = await self._rest(api_key, "/api/v5/account/balance" + (f"?ccy={ccy}" if ccy else ""), "balance")
        return {"arg": {**sub.arg, "uid": uid_of(api_key)}, "eventType": "snapshot" if first else "event_update",
                "curPage": 1, "lastPage": True, "data": rows}

    async def positions(self, sub: Sub, api_key: str, first: bool) -> dict[str, Any] | None:
        query = "" if sub.inst_type == "ANY" else f"instType={sub.inst_type}"
        if sub.inst is not None:
            query += ("&" if query else "") + f"instId={sub.inst.inst_id}"
        rows = await self._rest(api_key, "/api/v5/account/positions" + (f"?{query}" if query else ""), "positions")
        now = {r["instId"]: r for r in rows
               if not sub.family or OKX_INSTRUMENTS[r["instId"]].family == sub.family}
        changed = [r for i, r in now.items() if first or _pos_key(sub.positions.get(i)) != _pos_key(r)]
        # A position closed is pushed once more with pos 0 (REST lists it no more; OKX's push says it closed), with
        # the trade that closed it as its last.
        last_trade = {f.symbol: f.trade_id for f in self.emu.account(api_key).venue.account.fills}
        changed += [{**r, "pos": "0", "availPos": "", "upl": "0", "notionalUsd": "0", "imr": "0", "mmr": "0",
                     "uTime": str(self.emu.now_ms()),
                     "tradeId": last_trade.get(OKX_INSTRUMENTS[i].symbol, r.get("tradeId", ""))}
                    for i, r in sub.positions.items() if i not in now]
        sub.positions = now
        if not first and not changed:
            return None
        return {"arg": {**sub.arg, "uid": uid_of(api_key)}, "eventType": "snapshot" if first else "event_update",
                "curPage": 1, "lastPage": True, "data": changed}

    def orders(self, sub: Sub, api_key: str, acct: Account) -> list[dict[str, Any]]:
        """A push for every order (of the subscription's instType/instId) whose state or fill changed since the
        last; subscribing pushes nothing (OKX's orders channel has no snapshot)."""
        fills = self.app._fills_by_order(acct)
        out = []
        for cl, state in acct.venue.account.orders.items():
            if ARCHIVED in cl and cl not in sub.orders and _cl_ord_id(cl) in sub.orders:
                # A final order whose clOrdId was used again (archived before the new one is kept, so met first):
                # what was told of it under that id is its own, and the new order is news.
                sub.orders[cl] = sub.orders.pop(_cl_ord_id(cl))
            if cl not in acct.ord_ids or not self.app._visible(acct, cl):
                continue
            inst = BY_SYMBOL[state.symbol]
            if ((sub.inst_type != "ANY" and inst.inst_type != sub.inst_type) or (sub.inst not in (None, inst))
                    or (sub.family and (inst.spot or inst.family != sub.family))):
                continue
            now = (state.status, state.filled)
            was = sub.orders.get(cl)
            sub.orders[cl] = now
            if was == now:
                continue
            own = fills.get(cl, [])
            row = self.app._order_json(acct, state, own)
            new_fill = own[-1] if own and (was is None or was[1] != state.filled) else None
            row.update({"fillFee": "0" if new_fill is None else _num(-new_fill.fee_quote), "fillFeeCcy": inst.settle,
                        "execType": "" if new_fill is None else ("M" if new_fill.maker else "T"),
                        "fillPnl": "0" if new_fill is None else _num(
                            acct.venue.account.fill_book.get(new_fill.trade_id, (ZERO, ZERO))[0]),
                        "fillNotionalUsd": "", "notionalUsd": "", "amendResult": "", "reqId": "",
                        "code": "0", "msg": "", "amendSource": "", "lastPx": _num(self.emu.quote(inst).last)})
            arg = {**sub.arg, "uid": uid_of(api_key)}
            if new_fill is not None and state.status is OrderStatus.CANCELED:
                # A fill and the end of the order's rest (an IOC or market remainder, a cancel racing a fill): OKX
                # pushes the fill (state partially_filled), then the cancel with no fill of its own; a client
                # reading both at once (ccxt merges them into one cached order) sees the fill only in the first.
                out.append({"arg": arg, "data": [{**row, "state": "partially_filled"}]})
                new_fill = None
                row = {**row, "fillFee": "0", "execType": "", "fillPnl": "0"}
            if new_fill is None:  # OKX's fill fields describe the fill this push reports, if any
                row.update({"fillPx": "", "fillSz": "0", "fillTime": "", "tradeId": ""})
            out.append({"arg": arg, "data": [row]})
        return out

    def seen_orders(self, sub: Sub, acct: Account) -> None:
        """What the orders channel counts as already told when it is subscribed: every order as it stands."""
        sub.orders = {cl: (s.status, s.filled) for cl, s in acct.venue.account.orders.items() if cl in acct.ord_ids}


def _pos_key(row: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    """What makes a position push an event (size, price, realised PnL, fees, funding, leverage), not the mark."""
    if row is None:
        return None
    return tuple(row.get(k) for k in ("pos", "avgPx", "realizedPnl", "fee", "fundingFee", "lever", "posId"))

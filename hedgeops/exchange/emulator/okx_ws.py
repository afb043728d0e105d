"""The emulator's websocket face: OKX v5 at /ws/v5/public, /ws/v5/private and /ws/v5/business, as ccxt.pro
speaks it. Text "ping" is answered "pong"; `login` checks the REST key's HMAC-SHA256 over timestamp + "GET" +
"/users/self/verify" with a 30 s window; `subscribe`/`unsubscribe` (tickers, books5, books, funding-rate,
account, positions, orders) and the `order`, `batch-orders`, `cancel-order` and `batch-cancel-orders` ops answer
as OKX does, every refusal an OKX event/error code (okx_ws_login checks logins).

One mechanism moves every push, whatever moves the clock (a test's Clock, or `hedgeops emulator`'s wall-paced
replay): a background task wakes every TICK_SECONDS, or at once when an op changed an account, advances the logged-
in accounts' resting orders and funding to the replay clock (as any REST call would), and pushes what changed
(okx_ws_channels): an account event's orders push first, then its positions and account pushes (as OKX's matching
engine tells of a fill before its position service does; `private_order` reverses it for tests). Neither it nor a
reader ever awaits a socket: every frame goes into its connection's bounded queue, written by that connection's own
task, and a client that does not keep up is dropped with OKX's close 4005 (okx_ws_conn). Faults (state.Faults, set
by tests or okx_ws_controls): drop every connection, skip the next N pushes of a channel, freeze every push, delay
each op (ws_op_delay_seconds), hold an event's positions and account pushes back behind its orders push
(ws_private_lag_seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from hedgeops.exchange.emulator.okx_common import log
from hedgeops.exchange.emulator.okx_ws_channels import PRIVATE_CHANNELS, ArgError, Channels, Sub, parse_arg
from hedgeops.exchange.emulator.okx_ws_conn import Conn
from hedgeops.exchange.emulator.okx_ws_controls import WsControls
from hedgeops.exchange.emulator.okx_ws_login import login_problem
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS

if TYPE_CHECKING:
    from hedgeops.exchange.emulator.okx_http import EmulatorApp

WS_PREFIX = "/ws/v5/"
TICK_SECONDS = 0.02  # how often the replay clock is looked at: a push follows a price move within this
OPS = {"order": 1, "batch-orders": 20, "cancel-order": 1, "batch-cancel-orders": 20}  # op -> most args
MSG_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
BY_CODE = {i.code: i for i in OKX_INSTRUMENTS.values()}
# OKX's documented limits: a request's channels at most 64 KB (its error is 60012, "Illegal request"); at most
# 480 subscribe/unsubscribe/login requests per connection per hour (60014, "Requests too frequent"). A frame far
# beyond is refused by the websocket layer itself (close 1009, message too big) before it is held in memory.
MAX_REQUEST_BYTES = 64 * 1024
MAX_FRAME_BYTES = 1024 * 1024
# OKX v5: an op whose `expTime` has passed when it reaches the server is rejected, each order's row with 50102
# (ccxt's okx table: "Timestamp request expired", InvalidNonce).
EXPIRED = ("50102", "Timestamp request expired")
# OKX pushes `account` and `positions` at a regular interval besides their event pushes (its `updateInterval`
# extra parameter sets it; 0 means events only): here every PERIODIC_SECONDS of wall time, a `snapshot` push of
# the whole account and of every open position, so a client can tell a live private channel from a dead one.
PERIODIC_SECONDS = 10.0
PRIVATE_ORDER = ("orders", "positions", "account")
COUNTED_OPS = ("subscribe", "unsubscribe", "login")
REQUESTS_PER_HOUR = 480


class Streams:
    """The websocket routes, their connections and the pusher, on an EmulatorApp."""

    def __init__(self, app: EmulatorApp, *, controls: bool = False) -> None:
        self.app = app
        self.emu = app.emu
        self.channels = Channels(app)
        self.conns: set[Conn] = set()
        self._nudge = asyncio.Event()
        self._clock_ms: int | None = None
        self._events: dict[str, Any] = {}  # api key -> the account event last pushed
        self.periodic_s = PERIODIC_SECONDS  # account/positions regular pushes (tests shorten it)
        # The order an account event's pushes leave in. OKX's orders channel is the fastest: a fill's orders push
        # comes before the positions and account pushes that show it, and a client must not decide in between.
        # Tests set the reverse (PRIVATE_ORDER[::-1]) to check a client is right both ways.
        self.private_order: tuple[str, ...] = PRIVATE_ORDER
        r = app.app.router
        r.add_get(WS_PREFIX + "{kind:public|private|business}", self.handle)
        app.app.cleanup_ctx.append(self._pusher)
        app.app.on_shutdown.append(self._close_all)
        if controls:
            WsControls(app, lambda: len(self.conns), self._nudge.set)

    # ---- connections ------------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES)
        if not ws.can_prepare(request).ok:  # a plain HTTP request: OKX's JSON envelope, as every other answer
            return web.json_response({"code": "400", "msg": "Bad Request: a websocket upgrade is expected",
                                      "data": []}, status=400)
        await ws.prepare(request)
        conn = Conn(ws, request.match_info["kind"], secrets.token_hex(4), request.transport)
        conn.start()
        self.conns.add(conn)
        try:
            async for msg in ws:
                if conn.dropped:  # a slow consumer being closed: nothing more is read from it
                    break
                if msg.type == WSMsgType.TEXT:
                    try:
                        await self._on_text(conn, msg.data)
                    except Exception:  # a bug of ours: OKX's internal error, logged, the connection kept
                        log.exception("emulator websocket: message failed")
                        conn.error("63999", "Internal error. Please try again later.")
                elif msg.type == WSMsgType.BINARY:
                    conn.error("60012", "Illegal request: binary frames are not accepted")
                # Frames already received are read without a pause: a client sending many lets the pusher and
                # the other connections run between them.
                await asyncio.sleep(0)
        finally:
            self.conns.discard(conn)
            await conn.stop()
        return ws

    def _drop_all(self, code: int, reason: bytes) -> list[asyncio.Task[None]]:
        """Close every connection in the background (the pusher does not wait for any client); their closers."""
        conns, self.conns = list(self.conns), set()
        for conn in conns:
            conn.drop(code, reason)
        return [c.closer for c in conns if c.closer is not None]

    async def _close_all(self, _app: web.Application) -> None:
        """On shutdown: every connection closed (1001, going away), each close bounded (okx_ws_conn)."""
        await asyncio.gather(*self._drop_all(1001, b""), return_exceptions=True)

    async def _on_text(self, conn: Conn, text: str) -> None:
        if text == "ping":
            conn.send("pong")
            return
        size = len(text.encode())
        if size > MAX_REQUEST_BYTES:  # OKX: a request's channels at most 64 KB; refused whole, the connection kept
            conn.error("60012", f"Illegal request: {size} bytes, more than the 64 KB a request may carry")
            return
        try:
            message = json.loads(text, parse_constant=lambda _: None)
        except (json.JSONDecodeError, RecursionError):
            message = None
        if not isinstance(message, dict):
            conn.error("60012", f"Illegal request: {text[:1000]}")
            return
        op = message.get("op")
        if op in COUNTED_OPS and not self._allow(conn):
            conn.error("60014", "Requests too frequent.")
            return
        if op == "login":
            await self._login(conn, message, text)
        elif op in ("subscribe", "unsubscribe"):
            await self._subscribe(conn, str(op), message, text)
        elif isinstance(op, str) and op in OPS:
            await self._op(conn, op, message, text)
        elif op in (None, ""):
            conn.error("60012", f"Illegal request: {text[:1000]}")
        else:
            conn.error("60019", f"Invalid op: {op}")

    @staticmethod
    def _allow(conn: Conn) -> bool:
        """OKX's limit: at most 480 subscribe, unsubscribe and login requests per connection per hour."""
        now = time.monotonic()
        conn.requests[:] = [t for t in conn.requests if now - t < 3600]
        if len(conn.requests) >= REQUESTS_PER_HOUR:
            return False
        conn.requests.append(now)
        return True

    # ---- login ------------------------------------------------------------------------------------------------

    async def _login(self, conn: Conn, message: dict[str, Any], text: str) -> None:
        problem = login_problem(self.emu, message.get("args"), text)
        if problem is None and conn.api_key is not None:
            problem = "60030", "The WebSocket endpoint does not allow multiple or repeated logins."
        if problem is not None:
            conn.error(*problem)
            return
        conn.api_key = message["args"][0]["apiKey"]
        conn.send({"event": "login", "code": "0", "msg": "", "connId": conn.conn_id})

    # ---- subscriptions ----------------------------------------------------------------------------------------

    async def _subscribe(self, conn: Conn, op: str, message: dict[str, Any], text: str) -> None:
        args = message.get("args")
        if not isinstance(args, list) or not args:
            conn.error("60012", f"Illegal request: {text[:1000]}")
            return
        for raw in args:  # each argument is answered on its own, as OKX does
            try:
                sub = parse_arg(raw, private_url=conn.kind == "private")
                if sub.channel in PRIVATE_CHANNELS and conn.api_key is None and op == "subscribe":
                    raise ArgError("60011", "Please log in")
            except ArgError as exc:
                conn.error(exc.code, exc.msg)
                continue
            if op == "unsubscribe":
                conn.subs.pop(sub.key, None)
                conn.send({"event": "unsubscribe", "arg": sub.arg, "connId": conn.conn_id})
                continue
            sub = conn.subs.setdefault(sub.key, sub)  # a repeated subscription is one subscription
            conn.send({"event": "subscribe", "arg": sub.arg, "connId": conn.conn_id})
            await self._first_push(conn, sub)

    async def _first_push(self, conn: Conn, sub: Sub) -> None:
        """What OKX sends on subscribing: the market's current state, the account's snapshot (orders: none)."""
        if sub.inst is not None and sub.channel not in PRIVATE_CHANNELS:
            self._push(conn, sub, self.channels.public(sub, first=True))
            return
        assert conn.api_key is not None
        acct = self.emu.account(conn.api_key)
        self.emu.settle_funding(acct)
        # The snapshot below is the account as it stands: the next event push is the next change, not this.
        self._events.setdefault(conn.api_key, self.channels.event_of(acct))
        if sub.channel == "orders":
            self.channels.seen_orders(sub, acct)
        elif sub.channel == "account":
            self._push(conn, sub, await self.channels.account(sub, conn.api_key, first=True))
        else:
            self._push(conn, sub, await self.channels.positions(sub, conn.api_key, first=True))

    # ---- trading ops ------------------------------------------------------------------------------------------

    async def _op(self, conn: Conn, op: str, message: dict[str, Any], text: str) -> None:
        msg_id = message.get("id")
        if not isinstance(msg_id, str) or not MSG_ID.match(msg_id):
            conn.error("60012", f"Illegal request: {text[:1000]}")
            return
        delay = self.emu.faults.ws_op_delay_seconds
        if delay > 0:  # the op reaches the matching engine late (the connection's later frames wait behind it)
            await asyncio.sleep(delay)
        started = self.emu.now_ms()

        def refuse(code: str, msg: str) -> None:
            conn.send({"id": msg_id, "op": op, "code": code, "msg": msg, "data": [],
                             "inTime": str(started * 1000), "outTime": str(self.emu.now_ms() * 1000)})

        if conn.kind != "private":
            refuse("60028", "The current operation is not supported by this URL. Please use the correct "
                                  "WebSocket URL for the operation.")
            return
        if conn.api_key is None:
            refuse("60011", "Please log in")
            return
        args = message.get("args")
        if (not isinstance(args, list) or not 1 <= len(args) <= OPS[op]
                or not all(isinstance(a, dict) for a in args)):
            refuse("60013", "Invalid args")
            return
        exp = message.get("expTime")
        if exp not in (None, ""):
            if not (isinstance(exp, str) and exp.isdigit()):
                refuse("60012", f"Illegal request: expTime {exp!r} is not a Unix time in milliseconds")
                return
            if self._expired(int(exp)):  # OKX: rejected if it reaches the server after expTime, nothing done
                rows = [{"clOrdId": str(a.get("clOrdId", "") or ""), "ordId": str(a.get("ordId", "") or ""),
                         "tag": str(a.get("tag", "") or ""), "ts": str(self.emu.now_ms()), "sCode": EXPIRED[0],
                         "sMsg": EXPIRED[1]} for a in args]
                conn.send({"id": msg_id, "op": op, "code": "1", "msg": "", "data": rows,
                           "inTime": str(started * 1000), "outTime": str(self.emu.now_ms() * 1000)})
                return
        acct = self.emu.account(conn.api_key)
        self.emu.settle_funding(acct)
        rows = []
        for arg in args:
            body = self._with_inst_id(arg)
            if body is None:
                rows.append({"clOrdId": str(arg.get("clOrdId", "") or ""), "ordId": str(arg.get("ordId", "") or ""),
                             "tag": "", "ts": str(self.emu.now_ms()), "sCode": "51001",
                             "sMsg": "Instrument ID does not exist"})
            elif op in ("order", "batch-orders"):
                rows.append(await self.app._place(acct, body))
            else:
                rows.append(await self.app._cancel(acct, body))
        failed = sum(1 for r in rows if r["sCode"] != "0")
        code = "0" if not failed else "1" if failed == len(rows) else "2"
        conn.send({"id": msg_id, "op": op, "code": code, "msg": "", "data": rows,
                         "inTime": str(started * 1000), "outTime": str(self.emu.now_ms() * 1000)})
        self._nudge.set()  # the account changed: its pushes go out now, not at the next tick

    def _expired(self, exp_ms: int) -> bool:
        """An op's expTime (Unix ms) is past, on the clock it was taken from: the wall clock, or the replay clock
        for a client synchronised to /public/time (as login accepts either), whichever it is nearer."""
        wall, replay = time.time() * 1000, float(self.emu.now_ms())
        now = wall if abs(exp_ms - wall) <= abs(exp_ms - replay) else replay
        return now > exp_ms

    @staticmethod
    def _with_inst_id(arg: dict[str, Any]) -> dict[str, Any] | None:
        """OKX's websocket ops take instIdCode (an integer; it wins when both are given) or instId: the REST
        checks read instId. None: an instIdCode no instrument has."""
        code = arg.get("instIdCode")
        if code in (None, ""):
            return arg
        inst = BY_CODE.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
        return None if inst is None else {**arg, "instId": inst.inst_id}

    # ---- pushes -----------------------------------------------------------------------------------------------

    def _push(self, conn: Conn, sub: Sub, message: dict[str, Any] | None) -> None:
        """One push, unless the missed-messages fault swallows it (the subscription's state moves on all the
        same: the client never hears of it, as with a message lost on the way)."""
        if message is None:
            return
        skips = self.emu.faults.ws_skip
        if skips.get(sub.channel, 0) > 0:
            skips[sub.channel] -= 1
            return
        conn.send(message)

    async def _pusher(self, _app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(self._run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: 3.11's wait_for may swallow the cancel
                async with asyncio.timeout(TICK_SECONDS):
                    await self._nudge.wait()
            self._nudge.clear()
            try:
                await self.tick()
            except Exception:  # a bug of ours must not end every stream: logged, the next tick tries again
                log.exception("emulator websocket: push failed")

    async def tick(self) -> None:
        """Drop, freeze, or push what changed since the last tick."""
        faults = self.emu.faults
        if faults.ws_drop_code is not None:
            code, faults.ws_drop_code = faults.ws_drop_code, None
            self._drop_all(code, b"dropped by the emulator's fault control")
            return
        if faults.ws_frozen:
            return
        now = self.emu.now_ms()
        moved, self._clock_ms = now != self._clock_ms, now
        conns = list(self.conns)
        for conn in conns:
            for sub in list(conn.subs.values()):
                if sub.channel not in PRIVATE_CHANNELS and moved:
                    self._push(conn, sub, self.channels.public(sub, first=False))
        # Each account with an event since its last push: what it is now is what the next tick compares against
        # (taken before any push is built, so a change made while they are sent is an event of the next tick).
        events: dict[str, Any] = {}
        for conn in conns:
            key = conn.api_key
            if key is None or key in events or not any(s.channel in PRIVATE_CHANNELS for s in conn.subs.values()):
                continue
            events[key] = await self._account_event(key, moved)
        changed = [k for k, e in events.items() if e is not None]
        for key in changed:
            self._events[key] = events[key]
        if not changed:
            await self._periodic()
            return
        for i, channel in enumerate(self.private_order):
            sent = False
            for conn in conns:
                if conn.api_key not in changed:
                    continue
                for sub in [s for s in conn.subs.values() if s.channel == channel]:
                    await self._push_private(conn, sub, conn.api_key)
                    sent = True
            if sent and i + 1 < len(self.private_order):
                # Each channel's frames leave before the next channel's are built (each connection's writer runs),
                # as an exchange's separate services push them; a fault may hold the rest back longer.
                lag = self.emu.faults.ws_private_lag_seconds if channel == "orders" else 0.0
                await asyncio.sleep(lag)
        await self._periodic()

    async def _periodic(self) -> None:
        """The regular `account` and `positions` snapshots of each private connection (OKX's, besides events)."""
        now = time.monotonic()
        for conn in list(self.conns):
            if conn.api_key is None or now - conn.periodic_at < self.periodic_s:
                continue
            conn.periodic_at = now
            for sub in list(conn.subs.values()):
                if sub.channel == "account":
                    self._push(conn, sub, await self.channels.account(sub, conn.api_key, first=True))
                elif sub.channel == "positions":
                    self._push(conn, sub, await self.channels.positions(sub, conn.api_key, first=True))

    async def _account_event(self, api_key: str, moved: bool) -> Any:
        """The account's event state if it changed since its last push (None: no event)."""
        acct = self.emu.account(api_key)
        if moved:  # resting orders fill as the replay trades through them, funding settles: as a REST call would
            await acct.venue.snapshot([])
        event = self.channels.event_of(acct)
        return None if event == self._events.get(api_key) else event

    async def _push_private(self, conn: Conn, sub: Sub, api_key: str) -> None:
        if sub.channel == "orders":
            for message in self.channels.orders(sub, api_key, self.emu.account(api_key)):
                self._push(conn, sub, message)
        elif sub.channel == "account":
            self._push(conn, sub, await self.channels.account(sub, api_key, first=False))
        else:
            self._push(conn, sub, await self.channels.positions(sub, api_key, first=False))

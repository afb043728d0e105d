"""The StreamingVenue: a CarryVenue fed by one account's websockets (ccxt.pro) over the REST venue of the same
account. Snapshots are served from the live state with no request while the stream is trusted; orders go over the
socket where the exchange takes them; everything else, and every lookup the streams cannot answer, is REST."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hedgeops.exchange.ccxt.client import DEFAULT_TIMEOUT_MS, ApiCredentials, make_client
from hedgeops.exchange.ccxt.parse import dec, position, quote
from hedgeops.exchange.ccxt.venue import DEFAULT_SNAPSHOT_AGE_S, CcxtVenue
from hedgeops.exchange.stream.client import check_pro, hoist_exp_time, instrument, make_pro_client
from hedgeops.exchange.stream.orders import EXP_MARGIN_S, StreamOrders
from hedgeops.exchange.stream.ratelimit import OKX_ORDER_OPS, WindowLimit
from hedgeops.exchange.stream.settling import Stamp
from hedgeops.exchange.stream.state import LiveState, StreamUpdate, UpdateKind
from hedgeops.exchange.stream.supervisor import PRIVATE_SILENCE_S, PUBLIC_SILENCE_S, Supervisor
from hedgeops.exchange.venue import StreamUntrusted
from hedgeops.model.book import OrderBook
from hedgeops.model.candles import Candle
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import AccountSnapshot, CarryCandidate, Fill, FundingPayment, OrderState

log = logging.getLogger(__name__)
FIRST_TRUST_WAIT_S = 5.0  # a cold venue's first snapshot waits this long for the first trust before refusing
QUOTE_WAIT_S = 2.0  # a symbol asked for the first time waits this long for its first pushed quote
BOOK_WAIT_S = 2.0  # a book asked for the first time waits this long for its first push, then REST answers
FUNDING_WAIT_S = 2.0  # a swap's funding asked for the first time waits this long for its first push, then REST
# OKX pushes the funding-rate channel every 30 to 90 s even when nothing changed: a stream silent for longer than
# this (wall clock) is not believed, and REST answers.
FUNDING_STALE_S = 120.0
# A fill the orders stream told of is in the snapshot only once the positions (contracts) or account (spot) stream
# shows a row stamped at or after it; a snapshot asked meanwhile waits this long for that row, then asks REST.
SETTLE_WAIT_S = 2.0
PRIVATE_PUSHES = frozenset({"account", "positions", "orders"})  # OKX's private channels the venue watches


class StreamStats:
    """Counters for figures and the runtime's triggers: plain attributes, cheap to read."""

    def __init__(self, venue: StreamingVenue) -> None:
        self._venue = venue
        self.ws_orders = 0  # orders placed or cancelled over the socket
        self.reconciles = 0  # REST reconciles completed
        self.messages = 0  # websocket messages received
        self.settle_fallbacks = 0  # snapshots asked of REST because a fill's position or balance push never came

    @property
    def rest_requests(self) -> int:
        """Every ccxt REST call of the account (the REST venue's counter)."""
        return self._venue.rest.requests

    @property
    def reconnects(self) -> int:
        return self._venue.supervisor.reconnects

    @property
    def book_resyncs(self) -> int:
        return self._venue.supervisor.book_resyncs


class StreamingVenue(StreamOrders):
    """One account's streams over its REST venue. Not safe to share the clients between venues."""

    def __init__(self, rest: CcxtVenue, pro_factory: Callable[[], Any], *,
                 first_trust_wait_s: float = FIRST_TRUST_WAIT_S, quote_wait_s: float = QUOTE_WAIT_S,
                 op_timeout_s: float = 5.0, stream_wait_s: float = 1.0, limit: WindowLimit | None = None,
                 exp_margin_s: float = EXP_MARGIN_S, private_silence_s: float | None = PRIVATE_SILENCE_S,
                 public_silence_s: float | None = PUBLIC_SILENCE_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(op_timeout_s=op_timeout_s, stream_wait_s=stream_wait_s, limit=limit,
                         exp_margin_s=exp_margin_s)
        self.rest = rest
        self._factory = pro_factory
        self._monotonic = monotonic
        self._first_wait, self._quote_wait = first_trust_wait_s, quote_wait_s
        self.state = LiveState()
        self.supervisor = Supervisor(self, monotonic=monotonic, private_silence_s=private_silence_s,
                                     public_silence_s=public_silence_s)
        self.stats = StreamStats(self)
        self._listeners: list[Callable[[StreamUpdate], None]] = []
        self._trusted = False
        self._ever_trusted = False
        self._trust_event: asyncio.Event | None = None
        self.untrusted_reason = "not yet subscribed"
        self.untrusted_since = monotonic()
        self._funding_at: dict[str, float] = {}  # symbol → when its funding stream last pushed (monotonic)
        self._fill_told: dict[str, Decimal] = {}  # client id → filled as the orders stream last said (open orders)
        self._settle_pulse: asyncio.Event | None = None  # set (and replaced) each time a pending fill settles
        self._trusted_at = monotonic()  # when the venue was last trusted
        self.settle_wait_s = SETTLE_WAIT_S

    # ---- observers ----------------------------------------------------------------------------------------

    @property
    def fees(self) -> Fees:
        return self.rest.fees

    @property
    def trusted(self) -> bool:
        return self._trusted

    def add_listener(self, fn: Callable[[StreamUpdate], None]) -> None:
        """`fn` is called synchronously after each applied update; it must be quick and must not raise."""
        self._listeners.append(fn)

    def _notify(self, kind: UpdateKind, symbols: frozenset[str] = frozenset()) -> None:
        if not self._listeners:
            return
        update = StreamUpdate(kind, symbols, self._monotonic())
        for fn in self._listeners:
            try:
                fn(update)
            except Exception:  # a listener's bug must not end the stream's session
                log.exception("stream listener %r failed", fn)

    @property
    def settling(self) -> bool:
        """A fill the orders stream told of is not yet shown by the positions or account stream: the live snapshot
        would pair the fill with the position from before it, so nothing should be decided on it (state.settling)."""
        return bool(self.state.settling)

    def settling_keys(self) -> frozenset[str]:
        """What the pending fills changed: "position SYMBOL" for a contract, "balance" for spot (runtime/triggers)."""
        return self.state.settling.keys()

    def live_snapshot(self) -> AccountSnapshot | None:
        """The account as the streams last told it, with no I/O; None while untrusted."""
        if not self._trusted:
            return None
        return self.state.snapshot(sorted(s for s in self.supervisor.symbols if s in self.state.quotes))

    # ---- the supervisor's sink ----------------------------------------------------------------------------

    def new_client(self) -> Any:
        client = self._factory()
        instrument(client, self._on_message, self.supervisor.on_subscribed, lambda m: self._raw_fills(client, m))
        if client.id == "okx":
            hoist_exp_time(client)
        markets = self.rest.client.markets
        if markets:  # the REST client's markets: the stream client never loads them itself
            client.set_markets(list(markets.values()), self.rest.client.currencies or None)
        return client

    def _on_message(self, message: Any) -> None:
        self.stats.messages += 1
        # A push (not a pong, an acknowledgement or an op's reply) says its connection is alive: the supervisor
        # ends a session whose private channels or watched tickers have been silent past their bounds.
        arg = message.get("arg") if isinstance(message, dict) and "data" in message else None
        channel = arg.get("channel") if isinstance(arg, dict) else None
        if channel in PRIVATE_PUSHES:
            self.supervisor.heard("private")
        elif channel in ("tickers", "funding-rate"):
            self.supervisor.heard("public")

    def _trust_flag(self) -> asyncio.Event:
        if self._trust_event is None:
            self._trust_event = asyncio.Event()
        return self._trust_event

    def set_trust(self, trusted: bool, reason: str) -> None:
        if trusted:
            self._trusted = self._ever_trusted = True
            self._trusted_at = self._monotonic()
            self.untrusted_reason = ""
            self._trust_flag().set()
            self._notify("trust")
            return
        was = self._trusted
        self._trusted = False
        self._trust_flag().clear()
        if was or not self.untrusted_reason or self.untrusted_reason == "not yet subscribed":
            self.untrusted_reason, self.untrusted_since = reason, self._monotonic()
        if was:
            self._notify("trust")

    def on_ticker(self, client: Any, symbol: str) -> None:
        raw = (client.tickers or {}).get(symbol)
        if raw is not None and self.state.apply_quote(quote(symbol, raw)):
            self._notify("quote", frozenset((symbol,)))

    def on_balance(self, client: Any) -> None:
        balance = client.balance or {}
        total = balance.get("total") or {}
        changed = self.state.apply_balances({str(c): Decimal(str(v)) for c, v in total.items() if v is not None})
        if self._shown("balance", _stamp(balance.get("timestamp"), None)) or changed:
            self._notify("balance")

    def on_positions(self, client: Any) -> None:
        # The whole cache, the last row per symbol (ccxt moves an updated row to the end): a push missed between
        # two awaits of watch_positions is still read. The client is new each session, so nothing stale is in it.
        listed = self.rest.client.markets or {}
        latest: dict[str, Any] = {}
        for row in list(client.positions or []):
            if row.get("symbol") in listed:
                latest[row["symbol"]] = row
        changed = self.state.apply_positions(self._position(r) for r in latest.values())
        settled = frozenset(s for s, r in latest.items() if self._shown(f"position {s}", _row_stamp(r)))
        if changed or settled:
            self._notify("position", changed | settled)

    def _position(self, row: Mapping[str, Any]) -> Any:
        symbol = str(row["symbol"])
        market = self.rest.client.markets[symbol]
        return position(row, self.rest._contract_size(symbol), option=bool(market.get("option")))

    def on_orders(self, client: Any, orders: list[Any]) -> None:
        listed = self.rest.client.markets or {}
        symbols = set()
        for raw in orders:
            if raw.get("symbol") not in listed:
                continue
            state = self.rest._state(raw)
            self._fill_pushed(state)
            if self._apply_order(state):
                symbols.add(str(raw["symbol"]))
        if symbols:
            self._notify("order", frozenset(symbols))

    # ---- fills settling -----------------------------------------------------------------------------------

    def _raw_fills(self, client: Any, message: Any) -> None:
        """Each fill an `orders` push reports (OKX: fillSz > 0 with fillTime and tradeId, set only on the push that
        carries the fill), read as the exchange sent it, before ccxt merges it into its cached order: that order is
        pending until a row covers the fill. Run before the order's new state is applied, so the filled state is
        never in the live state without its pending fill."""
        arg = message.get("arg") if isinstance(message, dict) else None
        if not isinstance(arg, dict) or arg.get("channel") != "orders":
            return
        by_id = getattr(self.rest.client, "markets_by_id", None) or {}
        for row in message.get("data") or []:
            if not isinstance(row, dict) or not _positive(row.get("fillSz")):
                continue
            fill = _stamp(row.get("fillTime"), row.get("tradeId"))
            markets = by_id.get(row.get("instId"))
            order = row.get("clOrdId") or row.get("ordId")
            if fill is None or not markets or not order:
                continue
            symbol = str(markets[0]["symbol"])
            key = self._settle_key(symbol)
            if not self.state.settling.filled(str(order), key, fill, self._row_now(client, key, symbol),
                                              self._monotonic()):
                self._pulse()  # a fill that was waiting may be covered now

    def _row_now(self, client: Any, key: str, symbol: str) -> Stamp | None:
        """The stamp of the row the stream last showed for `key`: the balance's, or the symbol's position row."""
        if key == "balance":
            return _stamp((client.balance or {}).get("timestamp"), None)
        rows = [r for r in list(client.positions or []) if r.get("symbol") == symbol]
        return _row_stamp(rows[-1]) if rows else None

    def _fill_pushed(self, state: OrderState) -> None:
        """The orders stream's word on how much of an order is filled, against which a REST answer is compared
        (`_fill_learned`); its fills were made pending from the raw push (`_raw_fills`)."""
        cid = state.client_order_id
        if state.done:
            self._fill_told.pop(cid, None)
        elif state.filled > self._fill_told.get(cid, Decimal(0)):
            self._fill_told[cid] = state.filled

    def _fill_learned(self, state: OrderState) -> None:
        """A REST answer (a REST order, a lost reply's lookup, a REST cancel) says more was filled than any push has:
        pending on the last fill REST stamps (OKX: fillTime, tradeId), or unstamped where it stamps none, until a
        row covers it (unstamped: its own push stamps it, or a reconcile runs)."""
        cid = state.client_order_id
        if state.filled <= self._fill_told.get(cid, Decimal(0)):
            return
        if state.done:
            self._fill_told.pop(cid, None)
        else:
            self._fill_told[cid] = state.filled
        key = self._settle_key(state.symbol)
        fill = _stamp(state.last_fill_ms, state.last_trade_id)
        client = self.supervisor.client
        shown = self._row_now(client, key, state.symbol) if client is not None else None
        if not self.state.settling.filled(cid, key, fill, shown, self._monotonic()):
            self._pulse()

    def _settle_key(self, symbol: str) -> str:
        """What a fill on `symbol` changes: the balance for spot, the symbol's position for a contract."""
        return "balance" if (self.rest.client.markets.get(symbol) or {}).get("spot") else f"position {symbol}"

    def _shown(self, key: str, stamp: Stamp | None) -> bool:
        """The stream showed `key` as of `stamp`: whether that settled a pending fill."""
        if not self.state.settling or not self.state.settling.shown(key, stamp):
            return False
        self._pulse()
        return True

    def _pulse(self) -> None:
        """Wake every snapshot waiting for a pending fill: something settled."""
        if self._settle_pulse is not None:
            self._settle_pulse.set()
            self._settle_pulse = None

    def _next_settle(self) -> asyncio.Event:
        if self._settle_pulse is None:
            self._settle_pulse = asyncio.Event()
        return self._settle_pulse

    def settling_for(self) -> float:
        """How long the oldest pending fill has waited in this trusted session (0: none waits, or untrusted); the
        supervisor's watchdog ends a session where it exceeds the private silence bound."""
        if not self._trusted:
            return 0.0
        return self.state.settling.waited(self._monotonic(), self._trusted_at)

    def on_funding(self, client: Any, symbol: str) -> None:
        self._funding_at[symbol] = self._monotonic()

    async def reconcile(self) -> None:
        """REST after a (re)subscription: tickers, balance, positions, open orders, and each order placed here that
        is not final looked up by client id."""
        since = self.state.mark()
        symbols = sorted(self.supervisor.symbols)
        quotes = await self.rest.quotes(symbols) if symbols else {}
        balance, raw_orders, raw_positions = await asyncio.gather(
            self.rest._call(self.rest.client.fetch_balance), self.rest._call(self.rest.client.fetch_open_orders),
            self.rest._call(self.rest.client.fetch_positions))
        listed = self.rest.client.markets or {}
        positions = [self._position(p) for p in raw_positions if p.get("symbol") in listed]
        balances = {str(c): Decimal(str(v)) for c, v in (balance.get("total") or {}).items() if v is not None}
        open_orders = [self.rest._state(o) for o in raw_orders if o.get("symbol") in listed]
        listed_ids = {o.client_order_id for o in open_orders}
        looked_up = []
        for cid, symbol in list(self._own.items()):
            if cid not in listed_ids:
                found = await self.rest.order(cid, symbol)
                if found is not None:
                    looked_up.append(found)
        self.state.reconcile(since, quotes, positions, balances, open_orders, looked_up)
        self._pulse()
        still_open = {o.client_order_id for o in self.state.open_orders()}
        self._fill_told = {c: f for c, f in self._fill_told.items() if c in still_open}
        for o in looked_up:
            if o.done:
                self._own.pop(o.client_order_id, None)
        self.state.forget_final()
        self.stats.reconciles += 1

    # ---- observation --------------------------------------------------------------------------------------

    async def _start(self, symbols: Sequence[str]) -> list[asyncio.Event]:
        await self.rest._load()
        for s in symbols:
            self.rest._market(s)
        new = set(symbols) - self.supervisor.symbols
        events = self.supervisor.want_symbols(new) if new else []
        self.supervisor.start()
        return events

    async def _await_trust(self) -> None:
        if not self._trusted and not self._ever_trusted:  # a cold start: wait a little for the first trust
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._trust_flag().wait(), self._first_wait)
        if not self._trusted:
            raise StreamUntrusted(f"{self.rest.client.id} stream untrusted: {self.untrusted_reason}")

    async def snapshot(self, symbols: Sequence[str]) -> AccountSnapshot:
        """The account from the live state, no request, while the stream is trusted; StreamUntrusted otherwise."""
        events = await self._start(symbols)
        await self._await_trust()
        missing = [s for s in symbols if s not in self.state.quotes]
        if missing and events:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), self._quote_wait)
            missing = [s for s in symbols if s not in self.state.quotes]
        refused = [f"{s} ({self.supervisor.refused[s]})" for s in missing if s in self.supervisor.refused]
        if self._trusted and refused:
            raise StreamUntrusted(f"{self.rest.client.id} refused the ticker stream of {', '.join(refused)}")
        if not self._trusted or missing:
            raise StreamUntrusted(f"{self.rest.client.id} stream has no quote yet for {', '.join(missing)}"
                                  if self._trusted else f"{self.rest.client.id} stream untrusted: "
                                  f"{self.untrusted_reason}")
        # A fill known, its position or balance not yet (of the symbols asked for, or the balances every snapshot
        # carries): wait for the row, else ask REST.
        wanted = {"balance"} | {f"position {s}" for s in symbols}
        if self.state.settling.keys() & wanted:
            deadline = self._monotonic() + self.settle_wait_s
            while (self.state.settling.keys() & wanted and self._trusted
                   and (left := deadline - self._monotonic()) > 0):
                with contextlib.suppress(TimeoutError):  # in slices: a lost trust ends the wait within one
                    await asyncio.wait_for(self._next_settle().wait(), min(left, 0.1))
            if not self._trusted:
                raise StreamUntrusted(f"{self.rest.client.id} stream untrusted: {self.untrusted_reason}")
            if self.state.settling.keys() & wanted:
                self.stats.settle_fallbacks += 1
                self.rest.invalidate()
                return await self.rest.snapshot(symbols)
        return self.state.snapshot(sorted(s for s in self.supervisor.symbols if s in self.state.quotes))

    async def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Streamed quotes while trusted and all known; public REST tickers otherwise."""
        if self._trusted and all(s in self.state.quotes for s in symbols):
            return {s: self.state.quotes[s] for s in symbols}
        return await self.rest.quotes(symbols)

    def begin_slot(self, slot: object | None) -> None:
        """Nothing to do: the streamed snapshot is always current."""

    def invalidate(self) -> None:
        """Nothing to do: the streamed snapshot is always current."""

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """The streamed book (books5 for depth ≤ 5, else the 400-level books) while trusted and in sequence; the
        REST book otherwise. ccxt keeps one book per symbol, so a symbol's channel is the one it was first asked
        with: a books symbol serves any depth (sliced), a books5 one asked deeper is answered over REST."""
        await self.rest._load()
        self.rest._market(symbol)
        client = self.supervisor.client
        if self._trusted and client is not None and client.has.get("watchOrderBook"):
            channel = self.supervisor.books.get(symbol) or ("books5" if depth <= 5 else "books")
            if channel == "books" or depth <= 5:
                self.supervisor.want_book(symbol, channel)
                deadline = self._monotonic() + BOOK_WAIT_S
                while not self.supervisor.book_valid.get(symbol) and self._monotonic() < deadline and self._trusted:
                    await asyncio.sleep(0.01)
                book = (client.orderbooks or {}).get(symbol) if self.supervisor.book_valid.get(symbol) else None
                if book is not None and self._trusted:
                    size = self.rest._contract_size(symbol)
                    return OrderBook(tuple((dec(p), dec(a) * size) for p, a, *_ in list(book["bids"])[:depth]),
                                     tuple((dec(p), dec(a) * size) for p, a, *_ in list(book["asks"])[:depth]))
        return await self.rest.order_book(symbol, depth)

    # ---- delegated to REST --------------------------------------------------------------------------------

    async def markets(self, symbols: Sequence[str]) -> Mapping[str, MarketRules]:
        return await self.rest.markets(symbols)

    async def funding_rate(self, symbol: str) -> tuple[Decimal, datetime]:
        """The swap's current funding rate and next settlement: from its funding stream while the venue is trusted
        and the stream has pushed in this session (and within FUNDING_STALE_S); REST otherwise, as the REST venue
        reads it. The first call for a swap subscribes (alone) and waits up to FUNDING_WAIT_S for the first push.
        While untrusted it answers from REST: a rate decides nothing by itself (the snapshot still refuses)."""
        await self.rest._load()
        market = self.rest._market(symbol)
        streamed = self._streamed_funding(symbol)
        if streamed is not None:
            return streamed
        sup = self.supervisor
        if market.get("swap") and symbol not in sup.funding_refused:  # only swaps fund: spot would be refused
            event = sup.want_funding(symbol)  # idempotent: the running session's event, None between sessions
            sup.start()
            if self._trusted and event is not None and not event.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), FUNDING_WAIT_S)
            streamed = self._streamed_funding(symbol)
            if streamed is not None:
                return streamed
        return await self.rest.funding_rate(symbol)

    def _streamed_funding(self, symbol: str) -> tuple[Decimal, datetime] | None:
        """The rate and next settlement from this session's funding push, read as CcxtVenue.funding_rate reads
        REST's (the same ccxt parser turns both rows into the same structure); None when not to be believed."""
        client = self.supervisor.client
        if not (self._trusted and client is not None and self.supervisor.funding_pushed(symbol)):
            return None
        if self._monotonic() - self._funding_at.get(symbol, float("-inf")) > FUNDING_STALE_S:
            return None
        raw = (getattr(client, "fundingRates", None) or {}).get(symbol)
        if not raw or raw.get("fundingRate") is None or raw.get("fundingTimestamp") is None:
            return None
        return Decimal(str(raw["fundingRate"])), datetime.fromtimestamp(raw["fundingTimestamp"] / 1000, UTC)

    async def funding_payments(self, symbol: str, since: datetime | None = None) -> list[FundingPayment]:
        return await self.rest.funding_payments(symbol, since)

    async def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        return await self.rest.fills(symbol, since)

    async def set_leverage(self, symbol: str, leverage: Decimal, margin_mode: str = "cross") -> None:
        await self.rest.set_leverage(symbol, leverage, margin_mode)

    async def transfer(self, currency: str, amount: Decimal, source: str, destination: str) -> None:
        await self.rest.transfer(currency, amount, source, destination)

    async def carry_universe(self, quote: str) -> list[CarryCandidate]:
        return await self.rest.carry_universe(quote)

    async def candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        return await self.rest.candles(symbol, timeframe, limit)

    async def stop_streams(self) -> None:
        """Stop streaming for good, keep REST: the supervisor and every watch cancelled (no reconnect ever), the
        session's ccxt.pro client and its sockets closed, order waiters failed, the venue untrusted ("streams
        stopped"). Calls in flight finish over REST: a socket op cut short is looked up by client id as any lost
        reply; afterwards snapshot() and place() refuse, cancel(), order() and the rest answer over REST.
        For a venue retired by a credentials rotation; close() still closes the REST client. Idempotent."""
        await self.supervisor.close()
        self._fail_waiters()
        self.set_trust(False, "streams stopped")

    async def close(self) -> None:
        """Every task cancelled, the stream client (closed by its session) and the REST client closed."""
        await self.supervisor.close()
        self._fail_waiters()
        await self.rest.close()

    def _stream_client(self) -> Any:
        return self.supervisor.client


def _stamp(ms: Any, trade: Any) -> Stamp | None:
    """A stamp from a time (exchange ms) and a trade id (a number, else left out); None when neither is there."""
    number = int(trade) if isinstance(trade, str) and trade.isascii() and trade.isdigit() else None
    at = int(ms) if isinstance(ms, int | float) or (isinstance(ms, str) and ms.isascii() and ms.isdigit()) else None
    return None if at is None and number is None else Stamp(at, number)


def _positive(value: Any) -> bool:
    """A pushed size (a string, as OKX sends numbers) above zero."""
    try:
        return Decimal(str(value)) > 0
    except ArithmeticError:
        return False


def _row_stamp(row: Mapping[str, Any]) -> Stamp | None:
    """A position row's stamp: when it was last updated and its last trade. ccxt's `timestamp` for an OKX position is
    its creation (cTime): the update time is `lastUpdateTimestamp` (uTime)."""
    info = row.get("info") or {}
    return _stamp(row.get("lastUpdateTimestamp") or info.get("uTime"), info.get("tradeId"))


def streaming_venue(exchange_id: str, credentials: ApiCredentials | None = None, *, sandbox: bool = False,
                    base_url: str | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS, rate_limit: bool = True,
                    fees: Fees | None = None, snapshot_max_age_s: float = DEFAULT_SNAPSHOT_AGE_S,
                    on_request: Callable[[str], None] | None = None) -> StreamingVenue:
    """Both clients of one account: the REST one (make_client) and the stream one, configured alike. Raises
    UnknownExchange when ccxt.pro has no such exchange."""
    def pro() -> Any:
        # ccxt's own limiter is off on the socket: it made every order after an idle spell wait a whole interval
        # (ratelimit.py). Order ops are paced by the venue's window limit; subscriptions are a handful a session.
        return make_pro_client(exchange_id, credentials, sandbox=sandbox, base_url=base_url, timeout_ms=timeout_ms,
                               rate_limit=False)

    check_pro(exchange_id)  # fail now, not in the first session
    rest = CcxtVenue(make_client(exchange_id, credentials, sandbox=sandbox, base_url=base_url,
                                 timeout_ms=timeout_ms, rate_limit=rate_limit),
                     fees, snapshot_max_age_s=snapshot_max_age_s, on_request=on_request)
    return StreamingVenue(rest, pro, limit=WindowLimit(*OKX_ORDER_OPS) if rate_limit else None)

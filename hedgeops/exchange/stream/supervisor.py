"""The watch loops of one account's streams and the trust they earn. One session = one ccxt.pro client: its
watches (balance, positions, orders, a ticker per symbol, books and funding rates on demand) run as tasks; the
session is trusted only once every stream but funding has answered its subscription and a REST reconcile has run
after it. Any watch raising (a dropped connection, a network error, a book checksum) ends the session at once,
untrusted; the next session starts on a fresh client after an exponential backoff (a fresh client: ccxt's caches
and subscriptions of the broken one must not leak into the new one)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import ccxt.pro as ccxtpro

log = logging.getLogger(__name__)

BACKOFF_START_S, BACKOFF_MAX_S = 0.1, 5.0
BACKOFF_RESET_S = 10.0  # a session trusted this long resets the backoff: the next gap retries at once
READY_TIMEOUT_S = 10.0  # a session whose subscriptions are not all answered by then is a failure
# A session whose private connection has pushed nothing (account, positions, orders) for this long is frozen: OKX
# pushes `account` and `positions` at a regular interval besides events (the emulator every 10 s), so silence
# past three of those intervals is a dead channel, open or not. Tickers have no such interval (a quiet market, or
# a replay between two 5-minute bars, pushes nothing): the public connection's heartbeat is the funding-rate
# channel of each watched perp, which OKX pushes every 30 to 90 s, so the public connection is watched only while
# one is subscribed, and silence past PUBLIC_SILENCE_S (above 90 s) is a dead channel.
PRIVATE_SILENCE_S = 30.0
PUBLIC_SILENCE_S = 120.0


def _perpetual(symbol: str) -> bool:
    """A perpetual swap in ccxt's naming (BASE/QUOTE:SETTLE, no expiry after the settle currency)."""
    return ":" in symbol and "-" not in symbol.split(":", 1)[1]


class Sink(Protocol):
    """What the supervisor feeds: the venue."""

    def new_client(self) -> Any: ...

    def on_ticker(self, client: Any, symbol: str) -> None: ...

    def on_balance(self, client: Any) -> None: ...

    def on_positions(self, client: Any) -> None: ...

    def on_orders(self, client: Any, orders: list[Any]) -> None: ...

    def on_funding(self, client: Any, symbol: str) -> None: ...

    def reconcile(self) -> Awaitable[None]: ...

    def set_trust(self, trusted: bool, reason: str) -> None: ...

    def settling_for(self) -> float:
        """How long (monotonic seconds) a fill has waited for its position or balance push; 0 when none waits."""
        ...


class SessionFailed(Exception):
    """A watch of the session raised: the reason says which and why."""


class Supervisor:
    def __init__(self, sink: Sink, *, monotonic: Callable[[], float] = time.monotonic,
                 ready_timeout_s: float = READY_TIMEOUT_S, private_silence_s: float | None = PRIVATE_SILENCE_S,
                 public_silence_s: float | None = PUBLIC_SILENCE_S) -> None:
        self.sink = sink
        self._monotonic = monotonic
        self._ready_timeout = ready_timeout_s
        self._silence = {"private": private_silence_s, "public": public_silence_s}  # None: not watched
        self._heard: dict[str, float] = {}  # connection kind → when it last pushed (this session's)
        self.symbols: set[str] = set()
        self.books: dict[str, str] = {}  # symbol → channel ("books5" or "books"), fixed for the venue's life
        self.book_valid: dict[str, bool] = {}  # a book is served only after a clean update since its last gap
        self.book_resyncs = 0
        self.refused: dict[str, str] = {}  # symbols whose ticker the exchange refused, and why
        self.funding: set[str] = set()  # swaps whose funding rate is streamed, for the venue's life
        self.funding_refused: dict[str, str] = {}  # swaps whose funding stream the exchange refused, and why
        self.client: Any = None  # the session's ccxt.pro client, None between sessions
        self.reconnects = 0
        self.sessions = 0
        self._acked: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._ticker_ready: dict[str, asyncio.Event] = {}
        self._funding_ready: dict[str, asyncio.Event] = {}  # this session's: set once its first push arrived
        self._failed: asyncio.Future[str] | None = None
        self._main: asyncio.Task[None] | None = None
        self._closed = False

    # ---- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._main is None and not self._closed:
            self._main = asyncio.create_task(self._run(), name="stream-supervisor")

    @property
    def running(self) -> bool:
        return self._main is not None

    async def close(self) -> None:
        self._closed = True
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
            self._main = None

    async def _run(self) -> None:
        backoff = BACKOFF_START_S
        while not self._closed:
            trusted_since: list[float] = []
            try:
                await self._session(trusted_since)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a session ends only by failing; why is the untrusted reason
                reason = str(exc) if isinstance(exc, SessionFailed) else f"{type(exc).__name__}: {exc}"
                self.sink.set_trust(False, reason)
                log.info("stream session ended: %s", reason)
            if trusted_since and self._monotonic() - trusted_since[0] >= BACKOFF_RESET_S:
                backoff = BACKOFF_START_S
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            self.reconnects += 1

    async def _session(self, trusted_since: list[float]) -> None:
        loop = asyncio.get_running_loop()
        self._failed = loop.create_future()
        self._acked = set()
        self._ticker_ready = {}
        self._funding_ready = {}  # a new session's funding is served only after its own first push
        self.book_valid = dict.fromkeys(self.books, False)
        client = self.sink.new_client()
        self.client = client
        self.sessions += 1
        started = self._monotonic()
        self._heard = {"private": started, "public": started}
        try:
            self._spawn(self._watchdog(), "watchdog")
            balance, positions = asyncio.Event(), asyncio.Event()
            self._spawn(self._balance_loop(client, balance), "balance")
            self._spawn(self._positions_loop(client, positions), "positions")
            self._spawn(self._orders_loop(client), "orders")
            for s in sorted(self.symbols):
                self._start_ticker(s)
            for s, channel in self.books.items():
                self._spawn(self._book_loop(client, s, channel), f"book {s}")
            # Funding is not waited for in _ready: it decides nothing by itself (the venue answers it from REST
            # until its first push), and a swap without a settlement left in the data pushes nothing.
            for s in sorted(self.funding):
                self._start_funding(s)
            await self._or_fail(self._ready(client, balance, positions), self._ready_timeout, "subscriptions")
            await self._or_fail(self.sink.reconcile(), None, "REST reconcile")
            self.sink.set_trust(True, "")
            trusted_since.append(self._monotonic())
            raise SessionFailed(await self._failed)
        finally:
            self.client = None
            tasks, self._tasks = self._tasks, []
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await client.close()

    async def _ready(self, client: Any, balance: asyncio.Event, positions: asyncio.Event) -> None:
        """Every stream has answered: balance's and positions' first pushes, each ticker's, and (OKX, whose orders
        channel pushes nothing at first) the orders subscription acknowledged."""
        await balance.wait()
        await positions.wait()
        for event in list(self._ticker_ready.values()):
            await event.wait()
        if client.id == "okx":
            while "orders" not in self._acked:
                await asyncio.sleep(0.005)

    async def _or_fail(self, work: Awaitable[None], timeout: float | None, what: str) -> None:
        """Await `work` unless the session fails first (or it takes longer than `timeout`)."""
        assert self._failed is not None
        task: asyncio.Future[None] = asyncio.ensure_future(work)
        failed: asyncio.Future[Any] = self._failed
        try:
            done, _ = await asyncio.wait({task, failed}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._failed.done():
            raise SessionFailed(self._failed.result())
        if task not in done:
            raise SessionFailed(f"{what} not answered within {timeout} s")
        task.result()  # its own exception, if any

    # ---- the loops ----------------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        self._tasks.append(asyncio.create_task(self._guard(coro, what), name=f"stream {what}"))

    async def _guard(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.fail(f"{what} stream: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")

    def fail(self, reason: str) -> None:
        """A gap: untrusted at once (before any other task runs), the session ends."""
        self.sink.set_trust(False, reason)
        if self._failed is not None and not self._failed.done():
            self._failed.set_result(reason)

    def on_subscribed(self, channel: str) -> None:
        self._acked.add(channel)

    def heard(self, kind: str) -> None:
        """The session's `kind` connection ("private" or "public") pushed just now."""
        self._heard[kind] = self._monotonic()

    async def _watchdog(self) -> None:
        """End the session when a connection has been silent past its bound: open and answering pings, but frozen
        (the public one only while tickers are subscribed)."""
        bounds = [b for b in self._silence.values() if b]
        if not bounds:
            return
        step = min(1.0, min(bounds) / 5)
        while True:
            await asyncio.sleep(step)
            now = self._monotonic()
            for kind, bound in self._silence.items():
                if not bound or (kind == "public" and not self._funding_ready):
                    continue
                silent = now - self._heard.get(kind, now)
                if silent > bound:
                    self.fail(f"{kind} stream silent for {silent:.1f} s (bound {bound:g} s): frozen")
                    return
            # A fill whose position or balance push never came (missed, or its stamp never reaching the fill's)
            # is a gap like a silent channel: the regular pushes would have shown it by now. The reconcile after
            # the reconnect settles it.
            waited, bound = self.sink.settling_for(), self._silence["private"]
            if bound and waited > bound:
                self.fail(f"a fill's position or balance not pushed within {waited:.1f} s (bound {bound:g} s)")
                return

    async def _balance_loop(self, client: Any, ready: asyncio.Event) -> None:
        while True:
            await client.watch_balance()
            self.sink.on_balance(client)
            ready.set()

    async def _positions_loop(self, client: Any, ready: asyncio.Event) -> None:
        while True:
            await client.watch_positions()
            self.sink.on_positions(client)
            ready.set()

    async def _orders_loop(self, client: Any) -> None:
        while True:
            self.sink.on_orders(client, list(await client.watch_orders()))

    def _start_ticker(self, symbol: str) -> asyncio.Event:
        event = self._ticker_ready.get(symbol)
        if event is None:
            event = self._ticker_ready[symbol] = asyncio.Event()
            self._spawn(self._ticker_loop(self.client, symbol, event), f"ticker {symbol}")
        return event

    async def _ticker_loop(self, client: Any, symbol: str, ready: asyncio.Event) -> None:
        while True:
            try:
                await client.watch_ticker(symbol)
            except ccxtpro.NetworkError:
                raise
            except ccxtpro.ExchangeError as exc:
                # The exchange refuses this one symbol (an expired series): it must not stop the account's streams.
                self.symbols.discard(symbol)
                self.refused[symbol] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                ready.set()
                return
            self.sink.on_ticker(client, symbol)
            ready.set()

    def _start_funding(self, symbol: str) -> asyncio.Event:
        event = self._funding_ready.get(symbol)
        if event is None:
            event = self._funding_ready[symbol] = asyncio.Event()
            self._spawn(self._funding_loop(self.client, symbol, event), f"funding {symbol}")
        return event

    async def _funding_loop(self, client: Any, symbol: str, ready: asyncio.Event) -> None:
        if not client.has.get("watchFundingRate"):  # an exchange without the channel: REST answers
            self.funding.discard(symbol)
            self.funding_refused[symbol] = f"{client.id} has no funding-rate stream"
            return
        while True:
            try:
                await client.watch_funding_rate(symbol)
            except ccxtpro.NetworkError:
                raise  # a gap like any other: the session ends
            except ccxtpro.ExchangeError as exc:
                # Refused for this one symbol: the venue answers its funding from REST; the other streams go on.
                self.funding.discard(symbol)
                self.funding_refused[symbol] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                return
            self.sink.on_funding(client, symbol)
            ready.set()

    async def _book_loop(self, client: Any, symbol: str, channel: str) -> None:
        while True:
            try:
                await client.watch_order_book(symbol, None, {"depth": channel})
            except (ccxtpro.InvalidNonce, ccxtpro.ChecksumError) as exc:
                # A missed update: ccxt dropped the book and resubscribes on the next watch; never served meanwhile.
                self.book_valid[symbol] = False
                self.book_resyncs += 1
                log.info("book %s resynchronised after %s", symbol, type(exc).__name__)
                continue
            self.book_valid[symbol] = True

    # ---- on demand ----------------------------------------------------------------------------------------

    def want_symbols(self, symbols: set[str]) -> list[asyncio.Event]:
        """Add symbols to the ticker subscription (in the running session at once); their first-quote events."""
        self.symbols |= symbols
        for s in symbols:
            self.refused.pop(s, None)  # asked again: tried again
        for s in symbols:
            if _perpetual(s):  # the public connection's heartbeat (see PUBLIC_SILENCE_S); its rate is used too
                self.want_funding(s)
        if self.client is None:
            return []
        return [self._start_ticker(s) for s in symbols]

    def want_funding(self, symbol: str) -> asyncio.Event | None:
        """Stream the swap's funding rate (in the running session at once, alone: the others' subscriptions are
        not sent again); this session's first-push event, None between sessions."""
        self.funding.add(symbol)
        if self.client is None:
            return None
        return self._start_funding(symbol)

    def funding_pushed(self, symbol: str) -> bool:
        """The symbol's funding stream has pushed in this session (so the client's cache is this session's)."""
        event = self._funding_ready.get(symbol)
        return self.client is not None and event is not None and event.is_set()

    def want_book(self, symbol: str, channel: str) -> None:
        if symbol in self.books:
            return
        self.books[symbol] = channel
        self.book_valid[symbol] = False
        if self.client is not None:
            self._spawn(self._book_loop(self.client, symbol, channel), f"book {symbol}")

"""The Venue for real exchanges: one ccxt.async_support client per account. Observation is batched (one
tickers call per market type, one positions, one balance, one open-orders call, shared by every book on
the account); amounts are converted to contracts where the market uses them; a create that may have gone
through is looked up by client order id before it is ever sent again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt

from hedgeops.exchange.ccxt.errors import request_outcome, translate
from hedgeops.exchange.ccxt.parse import (
    base_sized,
    contract_size,
    dec,
    fill,
    market_rules,
    order_state,
    position,
    quote,
    quote_volume,
)
from hedgeops.exchange.venue import (
    DuplicateClientOrderId,
    FinalVenueError,
    OrderNotFound,
    OrderRejected,
    RetryableVenueError,
    UnknownSymbol,
)
from hedgeops.model.book import OrderBook
from hedgeops.model.candles import MAX_CANDLES, Candle, TimeframeError, timeframe_seconds
from hedgeops.model.market import Fees, MarketRules, Quote
from hedgeops.model.orders import (
    AccountSnapshot,
    CarryCandidate,
    Fill,
    FundingPayment,
    OrderRequest,
    OrderState,
    OrderStatus,
)

T = TypeVar("T")
ZERO = Decimal(0)
DEFAULT_SNAPSHOT_AGE_S = 2.0
# Within one schedule slot the account's snapshot serves every cycle of the slot, but never longer than this: a
# slot whose cycles stretch out (a busy machine, many books queued on one account) observes the account again
# rather than let a late cycle decide on positions a change outside this process has made since.
SLOT_SNAPSHOT_AGE_S = 10.0
OKX_PAGE, OKX_FUNDING_PAGES = 100, 20  # OKX's most bills a call; pages read back at most (2,000 settlements)


def _dated_kind(symbol: str) -> str | None:
    """ccxt's market type of a dated symbol: BTC/USDT:USDT-260327 a future, BTC/USD:BTC-260327-100000-C an option."""
    if ":" not in symbol or "-" not in symbol.split(":", 1)[1]:
        return None
    return "option" if symbol.endswith(("-C", "-P")) else "future"


# Venues whose client order ids are unique among open orders only, and that refuse a request older than its
# recvWindow (ccxt ids).
OPEN_ONLY_IDS = ("binance", "binanceusdm", "binancecoinm")
# OKX (and its regional sites, ccxt ids) too refuses a clOrdId only while an order under it is pending (51016): a
# filled market order's id is free again. It refuses a request whose OK-ACCESS-TIMESTAMP is more than 30 s old when
# it is judged (50102).
OKX_IDS = ("okx", "myokx", "okxus")
OKX_TIMESTAMP_WINDOW_S = 30.0
# Our clock against the venue's: Binance refuses a timestamp more than 1 s ahead of its own, so a request it took
# was stamped at most 1 s behind its clock. OKX gives no such bound; there this is what NTP keeps our clock within.
RECV_WINDOW_MARGIN_S = 1.0


def recv_window_seconds(client: Any) -> float | None:
    """How long a request of `client` can still be executed after it was sent, on Binance (OPEN_ONLY_IDS): the
    recvWindow it signs with; None elsewhere."""
    if getattr(client, "id", None) not in OPEN_ONLY_IDS:
        return None
    return float((getattr(client, "options", None) or {}).get("recvWindow", 10_000)) / 1000


def request_lifetime_seconds(client: Any) -> float | None:
    """How long a request of `client` can still be executed after it was sent, on a venue where a re-sent client id
    could double an order (its ids are unique among pending orders only): Binance's recvWindow, OKX's timestamp
    window. None where no such bound is known, and a re-send is guarded by the id alone."""
    if getattr(client, "id", None) in OKX_IDS:
        return OKX_TIMESTAMP_WINDOW_S
    return recv_window_seconds(client)


class CcxtVenue:
    """A Venue over a ccxt client. Not safe to share a client between venues: its rate limiter is per account."""

    def __init__(self, client: Any, fees: Fees | None = None, *, snapshot_max_age_s: float = DEFAULT_SNAPSHOT_AGE_S,
                 slot_snapshot_age_s: float = SLOT_SNAPSHOT_AGE_S, monotonic: Callable[[], float] = time.monotonic,
                 on_request: Callable[[str], None] | None = None, request_lifetime_s: float | None = None) -> None:
        self.client = client
        # How long a lost order request may still execute; None: the venue's own (request_lifetime_seconds, read
        # when needed, as a client's recvWindow may be set after). A test whose emulator refuses sooner says so
        # here, so a lost answer does not wait out the real window.
        self._lifetime = request_lifetime_s
        self._one_way = False  # the account's position mode was seen one-way (net): checked before the first order
        self._on_request = on_request  # told each request's outcome (a bounded word), for metrics
        self._fees = fees or Fees()
        self._max_age = snapshot_max_age_s
        self._slot_max_age = max(snapshot_max_age_s, slot_snapshot_age_s)
        self._monotonic = monotonic
        self._markets: dict[str, dict[str, Any]] | None = None
        self._rules: dict[str, MarketRules] = {}
        self._snap: AccountSnapshot | None = None
        self._slot: object | None = None  # the schedule's slot the snapshot was taken under
        self._taken = 0.0
        self._watched: set[str] = set()
        self._dirty: set[str] = set()  # symbols traded since the snapshot: their positions/orders are stale
        self._observe_lock = asyncio.Lock()
        self._markets_lock = asyncio.Lock()
        self.requests = 0  # calls made through ccxt, for "requests per cycle" figures
        self._candles: dict[tuple[str, str, int], tuple[float, list[Candle]]] = {}  # (symbol, tf, limit) → (taken, …)

    @property
    def fees(self) -> Fees:
        return self._fees

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        self.requests += 1
        try:
            result = await fn(*args, **kwargs)
        except ccxt.BaseError as exc:
            self._count(request_outcome(exc))
            raise translate(exc) from exc
        self._count("ok")
        return result

    def _count(self, outcome: str) -> None:
        if self._on_request is not None:
            self._on_request(outcome)

    # ---- markets ------------------------------------------------------------------------------------------

    async def _load(self) -> dict[str, dict[str, Any]]:
        async with self._markets_lock:
            if self._markets is None:
                self._markets = dict(await self._call(self.client.load_markets))
        return self._markets

    def _market(self, symbol: str) -> dict[str, Any]:
        assert self._markets is not None
        m = self._markets.get(symbol)
        if m is None:
            raise UnknownSymbol(f"{self.client.id} does not list {symbol}")
        return m

    def _rule(self, symbol: str) -> MarketRules:
        rules = self._rules.get(symbol)
        if rules is None:
            rules = self._rules[symbol] = market_rules(self._market(symbol), self.client.precisionMode)
        return rules

    def _contract_size(self, symbol: str) -> Decimal:
        return contract_size(self._market(symbol))

    async def markets(self, symbols: Sequence[str]) -> Mapping[str, MarketRules]:
        await self._load()
        await self._load_dated(symbols)
        for s in symbols:
            if not base_sized(self._market(s)):
                raise UnknownSymbol(f"{self.client.id} lists {s} as a coin-margined (inverse) future: its contracts "
                                    "are worth the quote currency, not the base, so its position cannot be counted "
                                    "in base units; only linear futures (settled in their quote) are")
        return {s: self._rule(s) for s in symbols}

    async def _load_dated(self, symbols: Sequence[str]) -> None:
        """Dated futures and options asked for by name are loaded on first use, one market type each: the client
        loads spot and swaps only (an exchange's whole option chain is large, and most accounts never ask)."""
        assert self._markets is not None
        kinds = sorted({kind for s in symbols if s not in self._markets and (kind := _dated_kind(s)) is not None})
        if not kinds:
            return
        if not hasattr(self.client, "fetch_markets_by_type"):  # ccxt has it for okx, htx and deepcoin only
            wanted = ", ".join(s for s in symbols if s not in self._markets)
            raise UnknownSymbol(f"{self.client.id}: dated futures and options are loaded from okx only; {wanted} "
                                "cannot be loaded here")
        async with self._markets_lock:
            loaded = [m for kind in kinds for m in await self._call(self.client.fetch_markets_by_type, kind)]
            # The currencies loaded with the markets are kept (without them ccxt would rebuild them from markets).
            self.client.set_markets([*self._markets.values(), *loaded], self.client.currencies or None)
            self._markets = dict(self.client.markets)

    # ---- observation --------------------------------------------------------------------------------------

    async def snapshot(self, symbols: Sequence[str]) -> AccountSnapshot:
        """The account as first observed in this slot (see `begin_slot`) if at most `slot_snapshot_age_s` old, else
        (no slot) as of at most `snapshot_max_age_s` ago; fetched again if a wanted symbol traded since."""
        await self._load()
        wanted = set(symbols)
        for s in wanted:
            self._market(s)
        async with self._observe_lock:
            limit = self._slot_max_age if self._slot is not None else self._max_age
            recent = self._monotonic() - self._taken <= limit
            fresh = self._snap is not None and recent and wanted <= self._watched and not wanted & self._dirty
            if not fresh:
                self._watched |= wanted
                self._snap = await self._observe(sorted(self._watched), wanted)
                self._taken, self._dirty = self._monotonic(), set()
            assert self._snap is not None
            return self._snap

    async def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Public tickers only (one call per market type): no credentials needed."""
        await self._load()
        tickers: dict[str, Any] = {}
        for syms in self._by_type(symbols).values():
            tickers.update(await self._call(self.client.fetch_tickers, syms, self._ticker_params(syms)))
        missing = [s for s in symbols if s not in tickers]
        if missing:
            raise RetryableVenueError(f"{self.client.id} sent no ticker for {', '.join(missing)}")
        return {s: quote(s, tickers[s]) for s in symbols}

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """The public book, in base units."""
        await self._load()
        raw = await self._call(self.client.fetch_order_book, symbol, depth)
        size = self._contract_size(symbol)
        return OrderBook(tuple((dec(p), dec(a) * size) for p, a, *_ in raw["bids"]),
                         tuple((dec(p), dec(a) * size) for p, a, *_ in raw["asks"]))

    async def carry_universe(self, quote: str) -> list[CarryCandidate]:
        """Every active linear perpetual settled in `quote` whose base also has an active spot market against
        it, with 24 h volume (public tickers, one call per market type)."""
        markets = await self._load()
        pairs = []
        for symbol, m in sorted(markets.items()):
            if not (m.get("swap") and m.get("linear") and m.get("settle") == quote and m.get("quote") == quote
                    and m.get("active") is not False):
                continue
            spot = markets.get(f"{m['base']}/{quote}")
            if spot is not None and spot.get("spot") and spot.get("active") is not False:
                pairs.append((str(spot["symbol"]), symbol))
        tickers: dict[str, Any] = {}
        for syms in self._by_type([s for pair in pairs for s in pair]).values():
            tickers.update(await self._call(self.client.fetch_tickers, syms))
        return [CarryCandidate(spot, perp, min(quote_volume(tickers[spot], markets[spot]),
                                               quote_volume(tickers[perp], markets[perp])))
                for spot, perp in pairs if spot in tickers and perp in tickers]

    def _by_type(self, symbols: Sequence[str]) -> dict[str, list[str]]:
        """Symbols grouped by market type: OKX serves tickers one instrument type per call (options one underlying
        per call)."""
        out: dict[str, list[str]] = {}
        for s in symbols:
            m = self._market(s)
            family = (m.get("info") or {}).get("uly") if m.get("option") else None
            out.setdefault(f"{m['type']}:{family}" if family else str(m["type"]), []).append(s)
        return out

    def _ticker_params(self, symbols: Sequence[str]) -> dict[str, Any]:
        """OKX's options are asked for by underlying (ccxt would ask for its default, BTC-USD, only)."""
        m = self._market(symbols[0])
        family = (m.get("info") or {}).get("uly") if m.get("option") else None
        return {"uly": family} if family else {}

    def begin_slot(self, slot: object | None) -> None:
        """A cycle starts under the schedule's `slot`: one observation serves every cycle of this account in one
        slot (the slot is its key, so a busy machine that spreads the slot's cycles out does not multiply it), up
        to `slot_snapshot_age_s`; a new slot observes anew. An unscheduled cycle (None) shares an observation at
        most `snapshot_max_age_s` old."""
        if slot is not None and slot != self._slot:
            self._snap = None
        self._slot = slot

    def invalidate(self) -> None:
        """Forget the shared snapshot: the next one is fetched anew (the start of a cycle)."""
        self._snap = None

    async def _observe(self, symbols: list[str], wanted: set[str]) -> AccountSnapshot:
        by_type = self._by_type(symbols)
        calls: list[Awaitable[Any]] = [self._call(self.client.fetch_tickers, syms, self._ticker_params(syms))
                                       for syms in by_type.values()]
        contracts = [s for s in symbols if self._market(s).get("contract")]
        calls += [self._call(self.client.fetch_balance), self._call(self.client.fetch_open_orders)]
        if contracts:
            calls.append(self._call(self.client.fetch_positions))
        gathered = await asyncio.gather(*calls, return_exceptions=True)
        results: list[Any] = []
        for r in gathered:
            if isinstance(r, BaseException):
                raise r
            results.append(r)
        n = len(by_type)
        tickers: dict[str, Any] = {}
        for t in results[:n]:
            tickers.update(t)
        balance, orders = results[n], results[n + 1]
        raw_positions = results[n + 2] if contracts else []
        # A symbol watched for an earlier caller that this one does not want and the venue no longer quotes (a dated
        # series that expired, a book that dropped it) is forgotten: it must not stop every book on the account.
        gone = {s for s in symbols if s not in tickers and s not in wanted}
        self._watched -= gone
        quotes: dict[str, Quote] = {}
        for s in symbols:
            if s in gone:
                continue
            if s not in tickers:
                raise RetryableVenueError(f"{self.client.id} sent no ticker for {s}")
            quotes[s] = quote(s, tickers[s])
        listed = self._markets or {}  # rows for markets ccxt did not load (other products) are not ours
        positions = {}
        for p in raw_positions:
            if p.get("symbol") in listed:
                pos = position(p, self._contract_size(p["symbol"]), option=bool(listed[p["symbol"]].get("option")))
                if pos.qty != 0:
                    positions[pos.symbol] = pos
        balances = {str(c): Decimal(str(v)) for c, v in (balance.get("total") or {}).items() if v is not None}
        open_orders = tuple(self._state(o) for o in orders if o.get("symbol") in listed)
        at = max((q.at for q in quotes.values()), default=datetime.now(UTC))
        return AccountSnapshot(at=at, quotes=quotes, positions=positions, balances=balances, open_orders=open_orders)

    def _state(self, raw: Mapping[str, Any]) -> OrderState:
        symbol = str(raw["symbol"])
        return order_state(raw, self._contract_size(symbol), self._market(symbol))

    # ---- orders -------------------------------------------------------------------------------------------

    def _native_amount(self, order: OrderRequest) -> Decimal:
        size = self._contract_size(order.symbol)
        native = order.amount / size
        step = self._rule(order.symbol).amount_step / size
        if native <= 0 or (native / step) != (native / step).to_integral_value(ROUND_HALF_EVEN):
            raise OrderRejected(f"{order.amount} {order.symbol} is not a positive multiple of "
                                f"{self._rule(order.symbol).amount_step}")
        return native

    async def check_position_mode(self) -> None:
        """Refuse to trade an account in hedge (long/short) position mode: every order here is one-way (no
        posSide / positionSide), which such an account refuses one by one (OKX 51000, Binance -4061) as a bad
        request. Asked once, before the first order; asked again while the answer is hedge mode (its owner may
        switch it)."""
        if self._one_way or not getattr(self.client, "apiKey", None) \
                or not (getattr(self.client, "has", None) or {}).get("fetchPositionMode"):
            return
        mode = await self._call(self.client.fetch_position_mode)
        if (mode or {}).get("hedged"):
            raise FinalVenueError(f"the {self.client.id} account is in hedge (long/short) position mode; HedgeOps "
                                  "trades one-way (net) positions: switch the account to one-way mode (OKX: "
                                  "Settings, Position mode, Net mode) with no order or position open")
        self._one_way = True

    async def place(self, order: OrderRequest) -> OrderState:
        """Place one order under its client id. If the answer is lost (timeout, 5xx, rate limit) the order is
        looked up first and sent again, under the same id, only if the venue has not seen it once the first request
        can no longer execute (_lost_answer); the id refuses a double of a pending order."""
        await self._load()
        market = self._market(order.symbol)
        if not market.get("spot"):  # a spot order has no position mode (and a spot-only key may not ask it)
            await self.check_position_mode()
        native = self._native_amount(order)
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.post_only:
            params["postOnly"] = True
        if order.reduce_only:
            params["reduceOnly"] = True
        price = None if order.price is None else float(order.price)
        self._dirty.add(order.symbol)
        sent = self._monotonic()
        try:
            await self._call(self.client.create_order, order.symbol, order.type, order.side, str(native), price,
                             params)
        except RetryableVenueError as lost:
            found = await self._lost_answer(order, sent, lost)
            if found is not None:
                return self._accepted(found)
            sent = self._monotonic()
            try:
                with contextlib.suppress(DuplicateClientOrderId):  # then the first one went in after all
                    await self._call(self.client.create_order, order.symbol, order.type, order.side, str(native),
                                     price, params)
            except RetryableVenueError as again:  # the re-send's answer lost too: its own wait, then told
                found = await self._lost_answer(order, sent, again)
                if found is None:
                    raise
                return self._accepted(found)
        found = await self.order(order.client_order_id, order.symbol)
        if found is None:  # accepted but not yet visible: report what was sent
            return OrderState(order.client_order_id, order.symbol, order.side, order.amount, ZERO, order.price, None,
                              OrderStatus.OPEN, ZERO, order.type, order.post_only)
        return self._accepted(found)

    async def _lost_answer(self, order: OrderRequest, sent: float, lost: RetryableVenueError) -> OrderState | None:
        """The order sent at `sent` (monotonic) whose answer was lost, looked up before any re-send. Where a client
        id is unique among pending orders only (Binance, OKX: a filled market order's id is free again), a re-send
        is guarded by nothing but this look-up, and "not found" proves nothing while the first request may still be
        on its way. Binance refuses a request older than its recvWindow (-5028), OKX one whose timestamp is more
        than 30 s old (50102), so the look-up that counts comes once that lifetime has passed: found then, or never
        executed."""
        window = request_lifetime_seconds(self.client) if self._lifetime is None else self._lifetime
        if lost.refused:  # the venue said it did not act on it: nothing can still execute
            window = None
        try:
            found = await self.order(order.client_order_id, order.symbol)
        except RetryableVenueError:
            # The look-up failed as well (the same outage, most likely). Giving up now let the cycle fail and the
            # next one plan again under new ids while the first request could still execute: a double. Where a
            # lifetime bounds it, the look-up is tried again once it has passed; whatever it says then is final.
            if window is None:
                raise
            found = None
        if found is not None or window is None:
            return found
        await asyncio.sleep(max(0.0, sent + window + RECV_WINDOW_MARGIN_S - self._monotonic()))
        return await self.order(order.client_order_id, order.symbol)

    @staticmethod
    def _accepted(state: OrderState) -> OrderState:
        # A post-only order that would cross is accepted and cancelled at once by OKX, Bybit and others:
        # to the caller that is a refusal, so it can go taker now instead of waiting for a fill that never comes.
        if state.post_only and state.status in (OrderStatus.CANCELED, OrderStatus.REJECTED) and state.filled == 0:
            raise OrderRejected(f"post-only {state.side} {state.symbol} at {state.price} would have crossed; "
                                "the venue cancelled it")
        return state

    async def order(self, client_order_id: str, symbol: str) -> OrderState | None:
        await self._load()
        try:
            raw = await self._call(self.client.fetch_order, None, symbol, {"clOrdId": client_order_id,
                                                                         "clientOrderId": client_order_id})
        except OrderNotFound:
            return None
        return self._state(raw)

    async def cancel(self, client_order_id: str, symbol: str) -> OrderState:
        """Cancel by client id and return the final state (it may have filled in the meantime)."""
        await self._load()
        self._dirty.add(symbol)
        with contextlib.suppress(OrderNotFound):  # already filled or cancelled: the lookup below tells which
            await self._call(self.client.cancel_order, None, symbol, {"clOrdId": client_order_id,
                                                                      "clientOrderId": client_order_id})
        state = await self.order(client_order_id, symbol)
        if state is None:
            raise OrderNotFound(f"{client_order_id} on {symbol}")
        return state

    # ---- treasury: leverage, transfers, funding -----------------------------------------------------------

    async def set_leverage(self, symbol: str, leverage: Decimal, margin_mode: str = "cross") -> None:
        await self._load()
        self._market(symbol)
        await self._call(self.client.set_leverage, float(leverage), symbol, {"marginMode": margin_mode,
                                                                      "mgnMode": margin_mode})

    async def transfer(self, currency: str, amount: Decimal, source: str, destination: str) -> None:
        """Move `amount` between the account's wallets ("funding", "trading")."""
        await self._load()
        self._dirty |= self._watched  # balances changed
        await self._call(self.client.transfer, currency, float(amount), source, destination)

    async def funding_rate(self, symbol: str) -> tuple[Decimal, datetime]:
        """The current funding rate and when it is next settled."""
        await self._load()
        raw = await self._call(self.client.fetch_funding_rate, symbol)
        return Decimal(str(raw["fundingRate"])), datetime.fromtimestamp(raw["fundingTimestamp"] / 1000, UTC)

    async def funding_payments(self, symbol: str, since: datetime | None = None) -> list[FundingPayment]:
        """Funding received (+) or paid (−) on `symbol`, oldest first."""
        await self._load()
        since_ms = None if since is None else int(since.timestamp() * 1000)
        if self.client.id != "okx":
            rows = await self._call(self.client.fetch_funding_history, symbol, since_ms)
        else:
            rows = await self._okx_funding(symbol, since_ms)
        return [FundingPayment(str(r["symbol"]), datetime.fromtimestamp(r["timestamp"] / 1000, UTC),
                               Decimal(str(r["amount"])), str(r.get("code") or ""), str(r.get("id") or ""))
                for r in rows]

    async def _okx_funding(self, symbol: str, since_ms: int | None) -> list[dict[str, Any]]:
        """ccxt reads OKX's newest 100 funding bills of every USDT swap and filters by time itself: after downtime, or
        on an account with many perps, the wanted ones fall outside them. Ask for this instrument from `since` on,
        and page back by bill id (`after`) until a page is short or reaches `since`."""
        params: dict[str, Any] = {"instId": self._market(symbol)["id"]}
        if since_ms is not None:
            params["begin"] = str(since_ms)
        out: dict[str, dict[str, Any]] = {}
        for _ in range(OKX_FUNDING_PAGES):
            page = await self._call(self.client.fetch_funding_history, symbol, since_ms, OKX_PAGE, params)
            out.update({str(r.get("id")): r for r in page})
            if len(page) < OKX_PAGE or (since_ms is not None and min(r["timestamp"] for r in page) <= since_ms):
                break
            params = {**params, "after": str(min(page, key=lambda r: r["timestamp"])["id"])}
        return sorted(out.values(), key=lambda r: (r["timestamp"], str(r.get("id"))))

    async def fills(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        """Executions on `symbol` (ours and any other client's on this account), oldest first."""
        await self._load()
        since_ms = None if since is None else int(since.timestamp() * 1000)
        rows = await self._call(self.client.fetch_my_trades, symbol, since_ms)
        return [fill(r, self._contract_size(symbol), self._market(symbol)) for r in rows]

    async def candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        """The last `limit` closed candles, oldest first. OKX and Binance both list the bar under way as the newest
        candle (ccxt drops OKX's `confirm` flag), so one more is asked for and the newest dropped. A fetch serves
        again for a tenth of a candle (at most 5 min): indicators on hourly or daily candles need not cost a
        request every cycle, and a candle closed since is seen at most that late."""
        # Validated here too, not only in the specs: a bad name must be a refusal, never a call ccxt sends anyway.
        try:
            step_s = timeframe_seconds(timeframe)
        except TimeframeError as exc:
            raise FinalVenueError(str(exc)) from exc
        if not 1 <= limit <= MAX_CANDLES:
            raise FinalVenueError(f"candles: limit {limit} is outside 1..{MAX_CANDLES}")
        await self._load()
        self._market(symbol)
        key = (symbol, timeframe, limit)
        cached = self._candles.get(key)
        if cached is not None and self._monotonic() - cached[0] < min(step_s / 10, 300.0):
            return cached[1]
        rows = await self._call(self.client.fetch_ohlcv, symbol, timeframe, None, limit + 1)
        closed = sorted(rows, key=lambda r: r[0])[:-1]
        out = [Candle(datetime.fromtimestamp(r[0] / 1000, UTC), dec(r[1]), dec(r[2]), dec(r[3]), dec(r[4]),
                      dec(r[5])) for r in closed[-limit:]]  # base units: ccxt reads OKX's volCcy for derivatives
        self._candles[key] = (self._monotonic(), out)
        return out

    async def close(self) -> None:
        await self.client.close()

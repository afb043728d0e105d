"""Order entry of the StreamingVenue: over the socket where the exchange takes it (create_order_ws,
cancel_order_ws), with CcxtVenue's guarantees: the client order id is sent, amounts in contracts, a post-only order
the venue cancelled at once is a refusal, and an order whose outcome is unknown is looked up by client id over REST
before it is ever sent again. The state returned comes from the orders stream, else a REST lookup."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ccxt.async_support as ccxt

from hedgeops.exchange.ccxt.errors import translate
from hedgeops.exchange.ccxt.venue import OKX_IDS, ZERO, CcxtVenue, request_lifetime_seconds
from hedgeops.exchange.stream.ratelimit import WindowLimit
from hedgeops.exchange.venue import (
    DuplicateClientOrderId,
    OrderNotFound,
    RetryableVenueError,
    StreamUntrusted,
)
from hedgeops.model.orders import OrderRequest, OrderState, OrderStatus

if TYPE_CHECKING:
    from hedgeops.exchange.stream.state import LiveState

class _Stale(Exception):
    """A cancel that waited past its session's end: nothing was sent on the socket."""


# An op's request deadline (OKX's expTime) is the op timeout from its send; an op whose reply was lost is looked
# up only once the deadline has passed by this much more (our clock against the exchange's, and the op in flight):
# after that the exchange refuses it if it still arrives, so a lookup that finds nothing means never placed.
EXP_MARGIN_S = 1.0

Waiter = tuple[Callable[[OrderState], bool], "asyncio.Future[OrderState]"]


class StreamOrders:
    """The order half of the StreamingVenue (a mixin: the venue provides rest, state, stats and trust)."""

    rest: CcxtVenue
    state: LiveState
    stats: Any
    untrusted_reason: str

    def __init__(self, *, op_timeout_s: float, stream_wait_s: float, limit: WindowLimit | None = None,
                 exp_margin_s: float = EXP_MARGIN_S, wall: Callable[[], float] = time.time) -> None:
        self._op_timeout, self._stream_wait = op_timeout_s, stream_wait_s
        self._exp_margin, self._wall = exp_margin_s, wall
        self._limit = limit  # the socket's order ops paced to the exchange's limits (None: unpaced, tests)
        self._own: dict[str, str] = {}  # client id → symbol of orders placed here not known final
        self._waiters: dict[str, list[Waiter]] = {}

    @property
    def trusted(self) -> bool:
        raise NotImplementedError

    def _stream_client(self) -> Any:
        raise NotImplementedError

    # ---- the orders stream's side -------------------------------------------------------------------------

    def _apply_order(self, state: OrderState) -> bool:
        if not self.state.apply_order(state):
            return False
        cid = state.client_order_id
        if state.done:
            self._own.pop(cid, None)
        pending = self._waiters.get(cid)
        if pending:
            for check, fut in list(pending):
                if not fut.done() and check(state):
                    fut.set_result(state)
        return True

    def _apply_rest(self, state: OrderState) -> None:
        """A REST answer about an order: applied like a push; a fill of one of ours it is the first to tell of is
        pending until the order's push stamps it (the venue's `_fill_learned`), so nothing is decided on the filled
        order beside the position from before it."""
        cid = state.client_order_id
        ours = cid in self._own
        held = self.state.orders.get(cid)
        known = held.filled if held is not None else ZERO
        if self._apply_order(state) and ours and state.filled > known:
            self._fill_learned(state)

    def _fill_learned(self, state: OrderState) -> None:
        """The venue's: see StreamingVenue._fill_learned."""

    async def _from_stream(self, cid: str, check: Callable[[OrderState], bool]) -> OrderState | None:
        """The order's state once the stream says something `check` accepts, within the short stream wait."""
        held = self.state.orders.get(cid)
        if held is not None and check(held):
            return held
        fut: asyncio.Future[OrderState] = asyncio.get_running_loop().create_future()
        entry: Waiter = (check, fut)
        self._waiters.setdefault(cid, []).append(entry)
        try:
            # asyncio.wait, not wait_for: a waiter cancelled by close() must not cancel its caller
            await asyncio.wait({fut}, timeout=self._stream_wait)
            return fut.result() if fut.done() and not fut.cancelled() else None
        finally:
            entries = self._waiters.get(cid, [])
            if entry in entries:
                entries.remove(entry)
            if not entries:
                self._waiters.pop(cid, None)

    def _fail_waiters(self) -> None:
        for entries in self._waiters.values():
            for _, fut in entries:
                if not fut.done():
                    fut.cancel()
        self._waiters.clear()

    async def _orphaned(self, client: Any) -> None:
        """An op that started on a session's client which has ended since may have made ccxt connect it again:
        that client is nobody's now, so it is closed here (closing twice is harmless)."""
        if client is not self._stream_client():
            with contextlib.suppress(Exception):
                await client.close()

    # ---- orders -------------------------------------------------------------------------------------------

    def _refuse_untrusted(self) -> None:
        if not self.trusted:
            raise StreamUntrusted(f"{self.rest.client.id} stream untrusted ({self.untrusted_reason}): "
                                  "no order is sent on it")

    def _deadline(self, client: Any, params: dict[str, Any]) -> int | None:
        """The op's request deadline (Unix ms), put into its params where the exchange takes one (OKX's expTime,
        moved to the op message by client.hoist_exp_time); None elsewhere."""
        if getattr(client, "id", None) not in OKX_IDS:
            return None
        exp_ms = int((self._wall() + self._op_timeout) * 1000)
        params["expTime"] = str(exp_ms)
        return exp_ms

    async def _past(self, exp_ms: int | None) -> None:
        """Return once an op sent with deadline `exp_ms` can no longer be taken by the exchange."""
        if exp_ms is not None:
            wait = exp_ms / 1000 + self._exp_margin - self._wall()
            if wait > 0:
                await asyncio.sleep(wait)

    def _live(self, client: Any) -> bool:
        """The session `client` belongs to is still the trusted one. Asked again right before each socket send: a
        send may wait (the rate limit, up to a window) and the session may end meanwhile, and an op on an ended
        session's client would make ccxt connect it again and send it all the same."""
        return self.trusted and client is self._stream_client()

    def _refuse_stale(self, client: Any) -> None:
        if not self._live(client):
            self._refuse_untrusted()
            raise StreamUntrusted(f"{self.rest.client.id} stream session ended while the order waited: "
                                  "it is not sent")

    async def place(self, order: OrderRequest) -> OrderState:
        """Place one order under its client id, over the socket where the exchange takes it. Refused while the
        stream is untrusted. If the answer is lost the order is looked up over REST and sent again only if the
        exchange has never seen it."""
        await self.rest._load()
        market = self.rest._market(order.symbol)
        native = self.rest._native_amount(order)
        self._refuse_untrusted()
        if not market.get("spot"):  # as over REST: a hedge-mode account would refuse each one-way order
            await self.rest.check_position_mode()
        client = self._stream_client()
        if client is None or not client.has.get("createOrderWs"):
            self._own[order.client_order_id] = order.symbol
            placed = await self.rest.place(order)
            self._apply_rest(placed)
            return placed
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.post_only:
            params["postOnly"] = True
        if order.reduce_only:
            params["reduceOnly"] = True
        price = None if order.price is None else float(order.price)
        cid = order.client_order_id
        self._own[cid] = order.symbol
        known = False
        exp_ms: int | None = None
        try:
            if self._limit is not None:
                await self._limit.acquire()
            try:
                self._refuse_stale(client)
            except StreamUntrusted:
                self._own.pop(cid, None)  # never sent
                raise
            exp_ms = self._deadline(client, params)
            if exp_ms is None and (lifetime := request_lifetime_seconds(self.rest.client)) is not None:
                # No deadline in the op (Binance): the request's own lifetime from now bounds when it may still
                # execute (its recvWindow), and the REST look-up that decides a re-send waits it out.
                exp_ms = int((self._wall() + lifetime) * 1000)
            self.stats.ws_orders += 1
            await asyncio.wait_for(client.create_order_ws(order.symbol, order.type, order.side, str(native), price,
                                                          params), self._op_timeout)
            known = True
        except ccxt.BaseError as exc:
            err = translate(exc)
            if not isinstance(err, RetryableVenueError):
                self._own.pop(cid, None)
                raise err from exc
        except TimeoutError:
            pass
        finally:
            await self._orphaned(client)
        if not known:  # the reply was lost: the exchange may have the order, or take it later until its deadline
            await self._past(exp_ms)
            found = await self.rest.order(cid, order.symbol)
            if found is None:
                try:
                    found = await self.rest.place(order)  # never seen, and past its deadline: sent again
                except DuplicateClientOrderId:
                    found = await self.rest.order(cid, order.symbol)
            if found is not None:
                self._apply_rest(found)
                return CcxtVenue._accepted(found)
        state = await self._from_stream(cid, lambda s: True)
        if state is None:
            state = await self.rest.order(cid, order.symbol)
        if state is None:  # accepted but not yet visible: report what was sent
            state = OrderState(cid, order.symbol, order.side, order.amount, ZERO, order.price, None,
                               OrderStatus.OPEN, ZERO, order.type, order.post_only)
        else:
            self._apply_rest(state)  # the stream's (applied already) or REST's
        return CcxtVenue._accepted(state)

    async def cancel(self, client_order_id: str, symbol: str) -> OrderState:
        """Cancel by client id (over the socket where possible) and return the final state (it may have filled
        in the meantime): from the orders stream if it comes within a short wait, else REST."""
        await self.rest._load()
        self.rest._market(symbol)
        client = self._stream_client()
        if not self.trusted or client is None or not client.has.get("cancelOrderWs"):
            final = await self.rest.cancel(client_order_id, symbol)
            self._apply_rest(final)
            return final
        market_id = self.rest._market(symbol)["id"]
        try:
            if self._limit is not None:
                await self._limit.acquire()
            if not self._live(client):  # the session ended while it waited: REST cancels, as when untrusted
                raise _Stale
            self.stats.ws_orders += 1
            params: dict[str, Any] = {"clOrdId": client_order_id, "instId": market_id}
            self._deadline(client, params)  # a cancel lost and landing late is harmless, but it is not kept alive
            with contextlib.suppress(OrderNotFound):  # already final: the stream or the lookup says how
                try:
                    await asyncio.wait_for(client.cancel_order_ws(None, symbol, params), self._op_timeout)
                except ccxt.BaseError as exc:
                    raise translate(exc) from exc
        except (RetryableVenueError, TimeoutError, _Stale):
            final = await self.rest.cancel(client_order_id, symbol)  # REST cancels and looks it up
            self._apply_rest(final)
            return final
        finally:
            await self._orphaned(client)
        state = await self._from_stream(client_order_id, lambda s: s.done)
        if state is None:
            state = await self.rest.order(client_order_id, symbol)
            if state is None:
                raise OrderNotFound(f"{client_order_id} on {symbol}")
            self._apply_rest(state)
        return state

    async def order(self, client_order_id: str, symbol: str) -> OrderState | None:
        """From the live state when trusted and known, else REST."""
        held = self.state.orders.get(client_order_id)
        if self.trusted and held is not None and held.symbol == symbol:
            return held
        found = await self.rest.order(client_order_id, symbol)
        if found is not None:
            self._apply_rest(found)
        return found

"""One websocket connection of the emulator and its writer. Nothing else ever awaits its socket: the reader's
replies and the pusher's pushes go into the connection's outgoing queue, bounded in bytes, and its own writer task
sends them in order. A consumer that does not keep up is dropped as OKX drops one, with OKX's documented close code
4005 "Buffer is full, cannot write data": when its queue would pass QUEUE_BYTES, or when one frame does not leave
within SEND_SECONDS (the client stopped reading and the socket's buffers are full). A slow client thus never delays
another client's pushes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hedgeops.exchange.emulator.okx_common import log

if TYPE_CHECKING:
    from hedgeops.exchange.emulator.okx_ws_channels import Sub

QUEUE_BYTES = 4 * 1024 * 1024  # what may wait to be written: about 170 snapshots of the 400-level book
SEND_SECONDS = 5.0  # one frame not taken by the client within this: a stalled consumer
CLOSE_SECONDS = 1.0  # a close frame a stalled client does not take either: the TCP connection is aborted
SLOW_CODE, SLOW_REASON = 4005, b"Buffer is full, cannot write data"  # OKX's close frame for a slow consumer


@dataclass(eq=False)
class Conn:
    """One websocket connection: its URL's kind, the key it logged in with, its subscriptions, its outgoing
    queue and writer, and the wall times of its subscribe/unsubscribe/login requests (OKX's hourly limit)."""

    ws: web.WebSocketResponse
    kind: str  # public, private or business
    conn_id: str
    transport: asyncio.Transport | None = None
    api_key: str | None = None
    subs: dict[str, Sub] = field(default_factory=dict)
    requests: list[float] = field(default_factory=list)
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    queued: int = 0  # bytes in `queue`
    dropped: bool = False
    writer: asyncio.Task[None] | None = None
    closer: asyncio.Task[None] | None = None
    periodic_at: float = field(default_factory=time.monotonic)  # when `account`/`positions` last had their snapshot

    def start(self) -> None:
        self.writer = asyncio.create_task(self._write())

    def send(self, message: dict[str, Any] | str) -> None:
        """Queue one frame (never waits); a frame that would overfill the queue drops the connection instead."""
        if self.dropped or self.ws.closed:
            return
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        if self.queued + len(text) > QUEUE_BYTES:
            log.warning("emulator websocket %s: outgoing queue full, dropped (%s)", self.conn_id, SLOW_CODE)
            self.drop(SLOW_CODE, SLOW_REASON)
            return
        self.queued += len(text)
        self.queue.put_nowait(text)

    def error(self, code: str, msg: str) -> None:
        self.send({"event": "error", "code": code, "msg": msg, "connId": self.conn_id})

    def drop(self, code: int, reason: bytes) -> None:
        """Close the connection with `code` in the background: what is still queued is never sent (as with a
        connection lost), and whoever calls this does not wait for the client."""
        if self.dropped:
            return
        self.dropped = True
        if self.writer is not None and self.writer is not asyncio.current_task():
            self.writer.cancel()
        self.closer = asyncio.create_task(self._close(code, reason))

    async def stop(self) -> None:
        """The connection has ended (its reader returned): its writer goes with it, and a drop under way closes
        with its own code first (aiohttp would close with 1000 once the handler returns)."""
        self.dropped = True
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.writer
        if self.closer is not None:
            await self.closer

    async def _write(self) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the writer's own cancellation when the
        # send completes at that instant, leaving the task (and the server's shutdown) waiting forever.
        while not self.dropped:
            text = await self.queue.get()
            self.queued -= len(text)
            try:
                async with asyncio.timeout(SEND_SECONDS):
                    await self.ws.send_str(text)
            except TimeoutError:
                log.warning("emulator websocket %s: a frame not taken in %s s, dropped (%s)", self.conn_id,
                            SEND_SECONDS, SLOW_CODE)
                self.drop(SLOW_CODE, SLOW_REASON)
                return
            except (ConnectionError, RuntimeError):  # the client went away mid-send: its reader ends it
                return

    async def _close(self, code: int, reason: bytes) -> None:
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self.ws.close(code=code, message=reason)
        except (TimeoutError, ConnectionError, RuntimeError):
            # The client takes nothing, not even the close frame: the TCP connection is cut (as OKX's would be).
            if self.transport is not None:
                self.transport.abort()

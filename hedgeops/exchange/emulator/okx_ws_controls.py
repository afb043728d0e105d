"""The websocket faults' test controls (POST /emulator/ws/*, signed like any private call, on where the app has its
controls on): each sets a field of state.Faults that the pusher (okx_ws) reads at its next tick."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from hedgeops.exchange.emulator.okx_common import OkxError, ok
from hedgeops.exchange.emulator.okx_ws_channels import FUNDING_CHANNEL, PRIVATE_CHANNELS, PUBLIC_CHANNELS

if TYPE_CHECKING:
    from hedgeops.exchange.emulator.okx_http import EmulatorApp

DROP_CODE = 4000  # the close code of a dropped connection unless the control names one


class WsControls:
    """POST /emulator/ws/drop, /emulator/ws/skip, /emulator/ws/freeze, /emulator/ws/delay and /emulator/ws/lag."""

    def __init__(self, app: EmulatorApp, connections: Callable[[], int], wake: Callable[[], None]) -> None:
        self.app, self.faults = app, app.emu.faults
        self._connections, self._wake = connections, wake
        r = app.app.router
        r.add_post("/emulator/ws/drop", self.drop)
        r.add_post("/emulator/ws/skip", self.skip)
        r.add_post("/emulator/ws/freeze", self.freeze)
        r.add_post("/emulator/ws/delay", self.delay)
        r.add_post("/emulator/ws/lag", self.lag)

    async def drop(self, request: web.Request) -> web.Response:
        """{code?}: every websocket connection is closed with `code` (default 4000) at the next tick."""
        body = await self.app._object(request)
        code = body.get("code", DROP_CODE)
        # 1000/1001/1011 or an application's 3000-4999: the codes a server may send (1006 and kin are reserved).
        if not isinstance(code, int) or isinstance(code, bool) or not (code in (1000, 1001, 1011)
                                                                       or 3000 <= code <= 4999):
            raise OkxError("51000", "Parameter code error")
        self.faults.ws_drop_code = code
        self._wake()
        return ok([{"connections": str(self._connections()), "code": str(code)}])

    async def skip(self, request: web.Request) -> web.Response:
        """{channel, count}: the next `count` pushes of `channel` (on any connection) are never sent."""
        body = await self.app._object(request)
        channel, count = body.get("channel"), body.get("count")
        if channel not in (*PUBLIC_CHANNELS, FUNDING_CHANNEL, *PRIVATE_CHANNELS):
            raise OkxError("51000", "Parameter channel error")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise OkxError("51000", "Parameter count error")
        self.faults.ws_skip[str(channel)] = count
        return ok([{"channel": str(channel), "count": str(count)}])

    async def freeze(self, request: web.Request) -> web.Response:
        """{frozen}: true stops every push (connections stay open, pings and requests are answered: a stale
        stream); false resumes, the first pushes carrying what changed meanwhile."""
        body = await self.app._object(request)
        frozen = body.get("frozen")
        if not isinstance(frozen, bool):
            raise OkxError("51000", "Parameter frozen error")
        self.faults.ws_frozen = frozen
        self._wake()
        return ok([{"frozen": "true" if frozen else "false"}])

    async def delay(self, request: web.Request) -> web.Response:
        """{seconds}: each websocket order/cancel op is processed only this long after it arrived (0: at once)."""
        body = await self.app._object(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds <= 60:
            raise OkxError("51000", "Parameter seconds error")
        self.faults.ws_op_delay_seconds = float(seconds)
        return ok([{"seconds": str(seconds)}])

    async def lag(self, request: web.Request) -> web.Response:
        """{seconds}: an account event's positions and account pushes leave this long after its orders push (0: at
        once), as when an exchange's position service lags its matching engine."""
        body = await self.app._object(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds <= 60:
            raise OkxError("51000", "Parameter seconds error")
        self.faults.ws_private_lag_seconds = float(seconds)
        return ok([{"seconds": str(seconds)}])

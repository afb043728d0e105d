"""The TradingView webhook: `POST /tradingview/<namespace>/<book>` with the alert's JSON message.

HTTP only; the desk (runtime/signals.py) decides. Every answer is JSON `{outcome, message, activeSignal}` with
a status code saying why: 202 accepted, 400 malformed, 404 refused (the one answer for no such book, signals
off and a wrong passphrase), 409 duplicate or outranked, 413 too large, 422 expired, 429 too many requests
from this source for this book, 503 a store we need is down. `activeSignal` is set only in a 202."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

import aiohttp.web

from hedgeops.operator.ratelimit import Network, SourceLimiter, client_address
from hedgeops.runtime.signals import MAX_BODY_BYTES, SignalDesk, SignalOutcome

ROUTE = "/tradingview/{namespace}/{name}"


def webhook_app(desk: SignalDesk, now: Callable[[], datetime], limiter: SourceLimiter | None = None,
                trusted_proxies: Sequence[Network] = ()) -> aiohttp.web.Application:
    """The app: one route for signals, one for a probe. Each source is rate-limited per book before any API read
    (behind `trusted_proxies`, the Ingress, the source is the client it forwarded for; a caller presenting the
    book's last authenticated passphrase is a source of its own); bodies over the limit are refused by aiohttp
    (413)."""
    limits = limiter if limiter is not None else SourceLimiter()  # an empty limiter has len 0: falsy

    async def receive(request: aiohttp.web.Request) -> aiohttp.web.Response:
        # Per source and book: TradingView sends every tenant's alerts from the same few addresses (and without
        # trusted proxies every request is the Ingress's), so a bucket per source alone let one tenant's flood, or
        # a stranger's junk, use up everyone's alerts. The names are the raw URL's, bounded like every key.
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        try:  # bounded by client_max_size: reading it first costs no more than refusing it
            body = await request.read()
        except aiohttp.web.HTTPRequestEntityTooLarge:
            out = desk.count(SignalOutcome("TooLarge", f"body larger than {MAX_BODY_BYTES} bytes"))
            return aiohttp.web.json_response(out.body(), status=out.http_status)
        # A caller with the passphrase the book's last authenticated caller sent has a bucket of its own: behind
        # an Ingress without trusted proxies every caller is one source, and a stranger's junk used to use up the
        # bucket the book's real alerts needed (TradingView does not retry a 429).
        source = "vouched" if desk.vouched(namespace, name, body) else client_address(
            request.remote, request.headers.get("X-Forwarded-For"), trusted_proxies)
        wait = limits.take(f"{source} {namespace[:63]}/{name[:253]}")
        if wait > 0:
            out = desk.count(SignalOutcome("RateLimited", f"too many requests from this source for this book: "
                                                          f"retry in {math.ceil(wait)}s"))
            return aiohttp.web.json_response(out.body(), status=out.http_status,
                                             headers={"Retry-After": str(math.ceil(wait))})
        out = await desk.receive(namespace, name, body, now())
        return aiohttp.web.json_response(out.body(), status=out.http_status)

    async def healthz(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"ok": True})

    app = aiohttp.web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post(ROUTE, receive)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(app: aiohttp.web.Application, addr: str, port: int) -> tuple[aiohttp.web.AppRunner, int]:
    """Start serving; returns the runner (to clean up) and the bound port (0 picks a free one)."""
    runner = aiohttp.web.AppRunner(app, access_log=None)  # request lines would carry nothing useful, no secret
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, addr, port)
    await site.start()
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    return runner, bound

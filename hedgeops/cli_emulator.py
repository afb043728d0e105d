"""`hedgeops emulator`: the OKX v5 (or Binance USDⓈ-M) exchange emulator on the bundled real prices, served on
127.0.0.1 until Ctrl+C. Its own module: the command's set-up is most of what the CLI holds."""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from hedgeops.cli_output import UsageError

EMULATOR_WARM_UP = timedelta(days=14)  # the emulator starts this far into the data by default


def emulator_start(at: datetime | None, first: datetime, last: datetime) -> datetime:
    """Where the emulator's replay starts: `--at`, or by default two weeks into the data every instrument served
    has (a bot's indicators warm up on the history before it, 300 hourly candles, and 24 h volumes are real from
    the first call), at most a day before the data ends. LocalRunError outside the data."""
    from hedgeops.local.runner import LocalRunError

    start = at or min(first + EMULATOR_WARM_UP, last - timedelta(days=1))
    if not first <= start < last:
        raise LocalRunError(f"--at {start:%Y-%m-%d %H:%M} is outside the data ({first:%Y-%m-%d} .. {last:%Y-%m-%d})")
    return start



def cmd_emulator(args: argparse.Namespace) -> int:
    import os
    from decimal import Decimal

    from aiohttp import web

    from hedgeops.exchange.emulator.okx_http import EmulatorApp
    from hedgeops.exchange.emulator.state import Credentials, Emulator, load_keys
    from hedgeops.exchange.marketdata.okx_instruments import OKX_FUTURES, OKX_OPTIONS
    from hedgeops.exchange.marketdata.replay import MarketReplay
    from hedgeops.local.runner import LocalRunError
    from hedgeops.model.market import Fees
    from hedgeops.runtime.clock import ReplayClock

    secret = args.secret or os.environ.get("HEDGEOPS_EMULATOR_SECRET", "")
    passphrase = args.passphrase or os.environ.get("HEDGEOPS_EMULATOR_PASSPHRASE", "")
    if args.dialect == "binanceusdm" and args.api_key and secret:
        passphrase = passphrase or "-"  # Binance signs without a passphrase
    keys = {args.api_key: Credentials(secret, passphrase)} if args.api_key and secret and passphrase else {}
    try:  # as many accounts as a benchmark needs, each with its own balances
        for key, creds in load_keys(args.keys_file, args.account).items():
            if key in keys:
                raise ValueError(f"API key {key} is given twice")
            keys[key] = creds
    except (OSError, ValueError) as exc:
        raise LocalRunError(f"the emulator's keys: {exc}") from None
    if not keys:
        raise LocalRunError("the emulator needs --api-key, --secret and --passphrase (or HEDGEOPS_EMULATOR_SECRET "
                            "and HEDGEOPS_EMULATOR_PASSPHRASE), --account KEY:SECRET:PASSPHRASE or --keys-file")
    if not (math.isfinite(args.speed) and args.speed > 0):
        raise LocalRunError(f"--speed must be a positive number, not {args.speed}")
    fees = Fees(Decimal(args.maker_fee), Decimal(args.taker_fee))
    if not (fees.maker < Decimal("0.01") and fees.taker < Decimal("0.01")):
        raise LocalRunError(f"fee rates are fractions (0.0005 = 5 bp); got maker {fees.maker}, taker {fees.taker}")
    replay = MarketReplay()
    first, last = replay.common_window(MarketReplay.symbols())  # every instrument served has data from `first`
    at = emulator_start(args.at, first, last)
    clock = ReplayClock(at, args.speed)
    emu = Emulator(replay, clock.now, keys,
                   trading_usdt=Decimal(args.trading_usdt), funding_usdt=Decimal(args.funding_usdt), fees=fees)
    # The secret is never printed: only where to point ccxt and which history is replayed.
    shown = ", ".join(list(keys)[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
    words = f"{'key' if len(keys) == 1 else f'{len(keys)} keys'} {shown}; Ctrl+C stops"
    if args.dialect == "binanceusdm":  # issue 19 item 5: the same Emulator in Binance USDⓈ-M's dialect
        from hedgeops.exchange.emulator.binance_http import BinanceApp

        app, name, synthetic = BinanceApp(emu).app, "Binance USDⓈ-M", ""
    else:
        app, name = EmulatorApp(emu).app, "OKX v5"
        ids = ", ".join(i.inst_id for i in (*OKX_FUTURES.values(), *OKX_OPTIONS.values()))
        synthetic = (f"SYNTHETIC instruments: {ids} are derived from the real BTC perp candles (future = perp "
                     "price; option = Black-Scholes on it with 30-day trailing realised volatility), not market data "
                     "of their own")

    def banner(running: str) -> None:
        """Said once the port is bound (aiohttp calls it then), never before a `cannot listen`; the URL bound."""
        url = m.group(0) if (m := re.search(r"http://[^\s,]+", running)) else f"http://127.0.0.1:{args.port}"
        print(f"{name} emulator on {url} replaying {at:%Y-%m-%d %H:%M} UTC at {args.speed}x (history from "
              f"{first:%Y-%m-%d}, data until {last:%Y-%m-%d %H:%M}); {words}", file=sys.stderr, flush=True)
        if synthetic:
            print(synthetic, file=sys.stderr, flush=True)

    app.cleanup_ctx.append(_data_end_watch(clock.now, last, args.speed))
    try:
        web.run_app(app, host="127.0.0.1", port=args.port, print=banner)
    except OSError as exc:  # the port is taken, or below 1024 without the right
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0


def data_end_warning(last: datetime) -> str:
    return (f"warning: the replay clock passed the end of the data ({last:%Y-%m-%d %H:%M} UTC): the emulator keeps "
            "serving, its prices stay at the last bar's and its timestamps keep advancing; restart it (--at) to "
            "replay real prices again")


def _data_end_watch(now: Callable[[], datetime], last: datetime,
                    speed: float) -> Callable[[object], AsyncIterator[None]]:
    """An aiohttp cleanup context: one warning line on stderr when the replay clock passes the data's end."""

    async def watch() -> None:
        while (left := (last - now()).total_seconds()) > 0:
            await asyncio.sleep(min(left / speed, 60.0) + 0.01)
        print(data_end_warning(last), file=sys.stderr, flush=True)

    async def context(_app: object) -> AsyncIterator[None]:
        task = asyncio.ensure_future(watch())
        yield
        task.cancel()

    return context

"""OKX v5 websocket login, checked as OKX checks it: one account per login, every field given, then the
timestamp (Unix seconds, within 30 s), the key, the passphrase and the signature: base64 of HMAC-SHA256 over
timestamp + "GET" + "/users/self/verify" with the key's secret (the REST key's own secret). A login is not checked
for the key's environment: OKX's demo trading has its own websocket host (wspap.okx.com), and the emulator serves one
host for both, so a demo key logs in where a live one does (REST checks the environment: okx_http)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any

from hedgeops.exchange.emulator.okx_common import MAX_SKEW_SECONDS
from hedgeops.exchange.emulator.state import Emulator

FIELDS = ("apiKey", "passphrase", "timestamp", "sign")
STAMP = re.compile(r"^\d{1,13}(\.\d{1,6})?$")


def login_problem(emu: Emulator, args: Any, raw: str) -> tuple[str, str] | None:
    """OKX's error code and message for a login's `args`, or None when the login is good. Never echoes a secret:
    only the request as the client sent it, on a malformed request (as OKX does)."""
    if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
        return "60012", f"Illegal request: {raw[:1000]}"
    if len(args) > 1:
        return "60021", "This operation does not support multiple accounts login."
    arg = args[0]
    for name in FIELDS:
        if not isinstance(arg.get(name), str) or not arg[name]:
            return "60027", f"Parameter {name} can not be empty."
    stamp = arg["timestamp"]
    if not STAMP.match(stamp):
        return "60004", "Invalid timestamp"
    sent = float(stamp)
    # Fresh against the wall (the signer's clock) or the replay clock (a client synchronised to /public/time).
    if min(abs(time.time() - sent), abs(emu.clock().timestamp() - sent)) > MAX_SKEW_SECONDS:
        return "60006", "Timestamp request expired"
    creds = emu.keys.get(arg["apiKey"])
    if creds is None:
        return "60005", "Invalid OK-ACCESS-KEY"
    if not hmac.compare_digest(arg["passphrase"].encode(), creds.passphrase.encode()):
        return "60024", "Wrong passphrase"
    want = base64.b64encode(hmac.new(creds.secret.encode(), f"{stamp}GET/users/self/verify".encode(),
                                     hashlib.sha256).digest())
    if not hmac.compare_digest(arg["sign"].encode(), want):
        return "60007", "Invalid sign"
    return None

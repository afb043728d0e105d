"""The emulator's test controls over HTTP, signed as OKX private calls are (the controls accept nothing else)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from .emulator_fixtures import KEY, PASSPHRASE, SECRET


async def control(url: str, path: str, body: dict[str, Any], key: str = KEY, secret: str = SECRET,
                  passphrase: str = PASSPHRASE) -> tuple[int, dict[str, Any]]:
    """POST `body` to the emulator's `path` (/emulator/shock, /emulator/funding); the status and the JSON answer."""
    text = json.dumps(body)
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sign = base64.b64encode(hmac.new(secret.encode(), f"{stamp}POST{path}{text}".encode(), hashlib.sha256)
                            .digest()).decode()
    headers = {"OK-ACCESS-KEY": key, "OK-ACCESS-SIGN": sign, "OK-ACCESS-TIMESTAMP": stamp,
               "OK-ACCESS-PASSPHRASE": passphrase, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.post(url + path, data=text, headers=headers) as resp:
        raw = await resp.text()
        return resp.status, json.loads(raw) if raw.startswith("{") else {"text": raw}


async def call(url: str, method: str, path: str, body: Any = None, *, raw: str | None = None, key: str = KEY,
               secret: str = SECRET, passphrase: str = PASSPHRASE) -> tuple[int, Any]:
    """Any OKX request signed as ccxt signs it: `path` with its query string; `body` as JSON (or `raw` text as
    sent). The status and the answer (JSON when it is JSON, else {"text": ...})."""
    text = raw if raw is not None else ("" if body is None else json.dumps(body))
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sign = base64.b64encode(hmac.new(secret.encode(), f"{stamp}{method}{path}{text}".encode(), hashlib.sha256)
                            .digest()).decode()
    headers = {"OK-ACCESS-KEY": key, "OK-ACCESS-SIGN": sign, "OK-ACCESS-TIMESTAMP": stamp,
               "OK-ACCESS-PASSPHRASE": passphrase, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.request(
            method, URL(url + path, encoded=True), data=text.encode() if text else None, headers=headers) as resp:
        answer = await resp.text()
        try:
            return resp.status, json.loads(answer)
        except ValueError:
            return resp.status, {"text": answer}

"""The operator's log lines, kopf's own included: `text` for a person at a terminal, `json` (one object a line) for a
log collector. Neither prints a credential: values under credential-like keys are masked wherever they show up (an
exception's text, a message, a record's extra fields), since an exchange error may quote the request it refused."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, TextIO

# The keys whose values are secrets: a credentials Secret's (apiKey, secret, passphrase), ccxt's (password), OKX's
# request headers (OK-ACCESS-KEY, -SIGN, -PASSPHRASE), a bearer token's.
_KEYS = r"api[_-]?key|secret|passphrase|password|passwd|token|access[_-]?key|access[_-]?sign|authorization"
_KEY = re.compile(rf"(?i)^[\w-]*?(?:{_KEYS})$")
# `apiKey=x`, `"secret": "x"`, `'password': 'x'`, `{'api_key': b'x'}`, `\"apiKey\": \"x\"` (JSON inside a string),
# `OK-ACCESS-KEY: x`, `Authorization: Bearer x`: the key, then a quoted, bytes, scheme-prefixed or bare value.
_VALUE = (r"""\\"(?:[^"\\]|\\[^"])*\\"|b?"[^"]*"|b?'[^']*'|(?:Bearer|Basic|Token)\s+[^\s"',;&}\]]+"""
          r"""|[^\s"',;&}\]]+""")
_KEY_VALUE = re.compile(rf"""(?i)(\b[\w-]*?(?:{_KEYS})\\?["']?\s*[:=]\s*)({_VALUE})""")
# redis://:password@host, redis://user:pa/ss@host, redis://:p@ss@host: up to the last @ of the address.
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)\S+(@)")
MASK = "***"

# What a LogRecord carries itself, and what kopf's per-object loggers add (kopf/_core/actions/loggers.py,
# ObjectLogger): the object's reference (k8s_ref, shown as `object`), whether kopf posts the line as a Kubernetes
# event (k8s_skip) and kopf's settings object: none of these is an extra field of the line.
_RECORD = {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName",
           "k8s_ref", "k8s_skip", "settings"}


def redact(text: str) -> str:
    """`text` with every credential-like value masked."""
    text = _KEY_VALUE.sub(lambda m: m[1] + _quoted(m[2]), text)
    return _URL_PASSWORD.sub(rf"\1{MASK}\2", text)


def _quoted(value: str) -> str:
    """The value masked inside whatever delimits it (quotes, a bytes prefix, an escaped quote, a scheme)."""
    opening = re.match(r"""\\"|b?["']|(?:Bearer|Basic|Token)\s+""", value, re.I)
    if opening is None:
        return MASK
    start = opening.group(0)
    end = "" if start[-1].isspace() else start.lstrip("b")
    return f"{start}{MASK}{end}"


def _scrubbed(value: Any) -> Any:
    """An extra field's value, JSON-ready, with the values under credential keys masked."""
    if isinstance(value, dict):
        return {str(k): MASK if _KEY.match(str(k)) else _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrubbed(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def _object(record: logging.LogRecord) -> dict[str, str]:
    ref = getattr(record, "k8s_ref", None)
    if not isinstance(ref, dict):
        return {}
    return {k: str(ref[k]) for k in ("kind", "namespace", "name") if ref.get(k)}


def _timestamp(record: logging.LogRecord, timespec: str) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """{"timestamp", "level", "logger", "message", "object": {kind, namespace, name}, "exception", extra fields}."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"timestamp": _timestamp(record, "milliseconds"), "level": record.levelname,
                                "logger": record.name, "message": redact(record.getMessage())}
        if obj := _object(record):
            line["object"] = obj
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        for key, value in vars(record).items():
            if key not in _RECORD and key not in line:
                line[key] = MASK if _KEY.match(key) else _scrubbed(value)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2026-12-02T07:15:29Z INFO hedgeops.x [ns/name] message`, then the traceback, if any."""

    def format(self, record: logging.LogRecord) -> str:
        obj = _object(record)
        where = "/".join(obj[k] for k in ("namespace", "name") if k in obj)
        text = " ".join(filter(None, (_timestamp(record, "seconds"), record.levelname, record.name,
                                      f"[{where}]" if where else "", record.getMessage())))
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redact(text)


class _Handler(logging.StreamHandler[TextIO]):
    """Ours on the root logger: found and replaced when the logging is configured again."""


def configure(level: str, log_format: str) -> None:
    """What kopf.configure does for `kopf run` (one stderr handler on the root logger; asyncio's own lines only
    when debugging), with our formatter, so that kopf's lines and ours come out in one format."""
    handler = _Handler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _Handler)] + [handler]
    root.setLevel(level)
    debug = level == "DEBUG"
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.propagate = debug
    if not debug:
        asyncio_logger.handlers[:] = [logging.NullHandler()]

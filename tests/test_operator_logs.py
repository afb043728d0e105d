"""The operator's log lines (issue 18): HEDGEOPS_LOG_FORMAT=json gives one object a line (timestamp, level, logger,
message, object) for kopf's lines as for ours, text gives a timestamp and a level, and neither prints a credential."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from hedgeops.operator import logs

API_KEY, SECRET, PASSPHRASE, REDIS_PASSWORD = "ak-7f3e9c1d", "sk-Zq81LmN0pW", "Pa55-phr4se", "r3d1s-pw"
BOOK = {"apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook",
        "metadata": {"name": "jlp", "namespace": "desk", "uid": "u-1"}}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What the root logger writes, through the formatter configured in the test; the root logger, kopf's object
    logger (the operator's start-up raises its level) and asyncio's restored after."""
    root, objects, aio = logging.getLogger(), logging.getLogger("kopf.objects"), logging.getLogger("asyncio")
    handlers, level, objects_level, aio_handlers, aio_propagate = (
        root.handlers[:], root.level, objects.level, aio.handlers[:], aio.propagate)
    objects.setLevel(logging.NOTSET)
    try:
        yield io.StringIO()
    finally:
        root.handlers[:], aio.handlers[:], aio.propagate = handlers, aio_handlers, aio_propagate
        root.setLevel(level)
        objects.setLevel(objects_level)


def configured(out: io.StringIO, log_format: str) -> None:
    logs.configure("DEBUG", log_format)
    handler = logging.getLogger().handlers[-1]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)


def object_logger() -> logging.LoggerAdapter[Any]:
    """kopf's own per-object logger, as its handlers get it (local: nothing posted as a Kubernetes event)."""
    return kopf.LocalObjectLogger(body=kopf.Body(BOOK), settings=kopf.OperatorSettings())


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_json_lines_carry_timestamp_level_logger_message_and_object(captured: io.StringIO) -> None:
    configured(captured, "json")
    object_logger().warning("rebalance failed: %s", "venue down")
    logging.getLogger("kopf.activities.startup").info("Activity 'startup' succeeded.")
    logging.getLogger("hedgeops.runtime").debug("tick", extra={"cycle": 7})
    book, kopf_line, ours = (json.loads(line) for line in lines(captured))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", book["timestamp"])
    assert {k: book[k] for k in ("level", "logger", "message", "object")} == {
        "level": "WARNING", "logger": "kopf.objects", "message": "rebalance failed: venue down",
        "object": {"kind": "HedgeBook", "namespace": "desk", "name": "jlp"}}
    assert not {"k8s_ref", "k8s_skip", "settings"} & set(book)  # kopf's plumbing is not part of the line
    assert kopf_line.keys() == {"timestamp", "level", "logger", "message"}
    assert (kopf_line["logger"], kopf_line["level"]) == ("kopf.activities.startup", "INFO")
    assert (ours["logger"], ours["level"], ours["cycle"]) == ("hedgeops.runtime", "DEBUG", 7)


def test_text_lines_carry_timestamp_and_level(captured: io.StringIO) -> None:
    configured(captured, "text")
    object_logger().info("plan applied")
    logging.getLogger("kopf.reactor").warning("watch restarted")
    book, kopf_line = lines(captured)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO kopf\.objects \[desk/jlp\] plan applied", book)
    assert re.fullmatch(r"\S+Z WARNING kopf\.reactor watch restarted", kopf_line)


def test_configuring_again_replaces_our_handler(captured: io.StringIO) -> None:
    logs.configure("INFO", "text")
    logs.configure("WARNING", "json")
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h.formatter, logs.JsonFormatter | logs.TextFormatter)]
    assert len(ours) == 1 and isinstance(ours[0].formatter, logs.JsonFormatter) and root.level == logging.WARNING
    assert not logging.getLogger("asyncio").propagate


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_credentials_never_appear(captured: io.StringIO, log_format: str) -> None:
    configured(captured, log_format)
    log = object_logger()
    try:  # what ccxt raises: the exchange's answer, here quoting the request it refused
        raise RuntimeError(f'okx {{"code":"50113","apiKey":"{API_KEY}","secret": "{SECRET}"}} '
                           f"OK-ACCESS-PASSPHRASE: {PASSPHRASE}")
    except RuntimeError:
        log.exception("order failed")
    log.error("config %s", {"apiKey": API_KEY, "password": PASSPHRASE},
              extra={"credentials": {"apiKey": API_KEY, "secret": SECRET}, "token": SECRET})
    logging.getLogger("hedgeops.runtime").warning("redis at redis://:%s@hedgeops-redis:6379/0 down", REDIS_PASSWORD)
    text = captured.getvalue()
    assert "order failed" in text and "50113" in text and "hedgeops-redis:6379" in text
    for value in (API_KEY, SECRET, PASSPHRASE, REDIS_PASSWORD):
        assert value not in text, value
    if log_format == "json":
        failed, config, _ = (json.loads(line) for line in lines(captured) if line.startswith("{"))
        assert "Traceback" in failed["exception"] and "RuntimeError" in failed["exception"]
        assert config["credentials"] == {"apiKey": logs.MASK, "secret": logs.MASK} and config["token"] == logs.MASK


def test_redact_keeps_what_is_not_a_credential() -> None:
    text = "Secret desk/okx-creds not found; credentialsSecretRef: okx-creds; tokens=3; name=jlp"
    assert logs.redact(text) == text
    assert logs.redact("apiKey=abc&secret='x y'") == "apiKey=***&secret='***'"


@pytest.mark.parametrize("text", [
    "{'api_key': b'KEY123'}",  # a bytes value in a dict's repr
    '{\\"apiKey\\": \\"KEY123\\"}',  # JSON quoted inside a string
    "redis://default:KEY/123@redis:6379/0",  # a password with a slash
    "redis://:KEY@123@redis:6379/0",  # and with an @
    "Authorization: Bearer KEY123",
    "Authorization: Basic KEY123",
])
def test_credentials_in_every_spelling_are_masked(text: str) -> None:
    masked = logs.redact(text)
    assert "KEY" not in masked and "123" not in masked.replace("6379", ""), masked

"""The operator's settings (issue 18): one typed model of the HEDGEOPS_* variables, a bad value refused in one line
naming the variable (exit 2, before kopf starts), every variable described in `hedgeops operator --help`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from hedgeops.cli import main
from hedgeops.operator import main as operator_main
from hedgeops.operator.settings import ENV_PREFIX, OperatorSettings, SettingsError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)


@pytest.fixture
def no_kopf(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> int:
        raise AssertionError("kopf was started")
    monkeypatch.setattr(operator_main, "run_operator", refuse)


def test_defaults_are_those_of_before() -> None:
    s = OperatorSettings.from_env()
    assert (s.redis_url, s.metrics_port, s.metrics_addr, s.tick_seconds, s.replay_start, s.replay_speed) == (
        None, 9108, "0.0.0.0", 5.0, None, 1.0)
    assert (s.webhook_port, s.webhook_addr, s.lock_ttl_seconds, s.prices, s.live_trading, s.exchange_urls) == (
        8081, "0.0.0.0", 30.0, "replay", False, {})
    assert (s.http_holdings_allow_private, s.webhook_trusted_proxies, s.namespace, s.max_data_age_seconds) == (
        False, "", "hedgeops", 30.0)
    assert (s.leader_election, s.lease_name, s.lease_duration_seconds, s.lease_renew_deadline_seconds,
            s.lease_retry_seconds) == (True, "hedgeops-operator", 15.0, 10.0, 2.0)
    assert s.identity == f"{socket.gethostname()}-{os.getpid()}"
    assert (s.log_level, s.log_format) == ("INFO", "text") and s.problems() == []


def test_values_are_read_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"REPLAY_START": "2024-03-01T12:00:00", "WEBHOOK_PORT": "off", "MAX_DATA_AGE_SECONDS": "None",
                       "EXCHANGE_URLS": " okx=http://127.0.0.1:1 ,binance=https://gw ", "IDENTITY": "",
                       "NAMESPACE": "", "REDIS_URL": "", "LIVE_TRADING": "yes", "PRICES": "LIVE",
                       "LOG_FORMAT": "JSON", "LOG_LEVEL": "debug", "TICK_SECONDS": " 0.5 "}.items():
        monkeypatch.setenv(ENV_PREFIX + key, value)
    s = OperatorSettings.from_env()
    assert s.replay_start == datetime(2024, 3, 1, 12, tzinfo=UTC)  # no zone: UTC
    assert (s.webhook_port, s.max_data_age_seconds, s.redis_url, s.namespace) == (None, None, None, "hedgeops")
    assert s.exchange_urls == {"okx": "http://127.0.0.1:1", "binance": "https://gw"}
    assert s.identity.endswith(f"-{os.getpid()}") and s.live_trading and s.prices == "live"
    assert (s.log_format, s.log_level, s.tick_seconds) == ("json", "DEBUG", 0.5)
    monkeypatch.setenv("HEDGEOPS_WEBHOOK_PORT", "")  # an empty port was "off" before, not the default
    assert OperatorSettings.from_env().webhook_port is None


@pytest.mark.parametrize(("key", "value", "said"), [
    ("TICK_SECONDS", "5s", "HEDGEOPS_TICK_SECONDS: '5s' is not a number of seconds above 0"),
    ("MAX_DATA_AGE_SECONDS", "", "HEDGEOPS_MAX_DATA_AGE_SECONDS: '' is not a number of seconds (or off)"),
    ("METRICS_PORT", "70000", "HEDGEOPS_METRICS_PORT: '70000' is not a port (0-65535)"),
    ("LIVE_TRADING", "ture", "HEDGEOPS_LIVE_TRADING: 'ture' is not true or false"),
    ("PRICES", "historic", "HEDGEOPS_PRICES: 'historic' is not one of replay, live"),
    ("REPLAY_START", "yesterday", "HEDGEOPS_REPLAY_START: 'yesterday' is not an ISO 8601 time"),
    ("EXCHANGE_URLS", "okx", "HEDGEOPS_EXCHANGE_URLS: 'okx' is not a comma-separated list of name=url"),
    ("LOG_FORMAT", "yaml", "HEDGEOPS_LOG_FORMAT: 'yaml' is not one of text, json"),
    ("TICK_SECONDS", "-1", "HEDGEOPS_TICK_SECONDS: '-1' is not a number of seconds above 0"),
    ("TICK_SECONDS", "nan", "HEDGEOPS_TICK_SECONDS: 'nan' is not a number of seconds above 0"),
    ("REPLAY_SPEED", "inf", "HEDGEOPS_REPLAY_SPEED: 'inf' is not a number above 0"),
    # A bad port, named at start-up, and the password in it not repeated.
    ("REDIS_URL", "redis://:hunter2@redis:notaport/0",
     "HEDGEOPS_REDIS_URL: 'redis://:***@redis:notaport/0' is not a redis://[:password@]host:port/db URL"),
])
def test_a_bad_value_names_the_variable_and_the_form(monkeypatch: pytest.MonkeyPatch, key: str, value: str,
                                                     said: str) -> None:
    monkeypatch.setenv(ENV_PREFIX + key, value)
    with pytest.raises(SettingsError) as caught:
        OperatorSettings.from_env()
    assert str(caught.value).startswith(said) and "\n" not in str(caught.value)


def test_a_bad_value_exits_2_before_kopf_starts(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                               no_kopf: None) -> None:
    monkeypatch.setenv("HEDGEOPS_TICK_SECONDS", "5s")
    monkeypatch.setenv("HEDGEOPS_LEADER_ELECTION", "maybe")
    assert main(["operator"]) == 2
    assert capsys.readouterr().err == ("hedgeops: error: HEDGEOPS_TICK_SECONDS: '5s' is not a number of seconds "
                                       "above 0; HEDGEOPS_LEADER_ELECTION: 'maybe' is not true or false\n")


def test_settings_that_cannot_work_together_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], no_kopf: None) -> None:
    monkeypatch.setenv("HEDGEOPS_LIVE_TRADING", "true")
    monkeypatch.setenv("HEDGEOPS_LOCK_TTL_SECONDS", "0")
    monkeypatch.setenv("HEDGEOPS_STREAM_MIN_SPACING_SECONDS", "0.01")
    assert main(["operator"]) == 2
    assert capsys.readouterr().err == (
        "hedgeops: error: HEDGEOPS_LIVE_TRADING=true needs HEDGEOPS_PRICES=live (Live books run on the wall clock); "
        "HEDGEOPS_STREAM_MIN_SPACING_SECONDS must be within 0.05..60, not 0.01; "
        "HEDGEOPS_LOCK_TTL_SECONDS must be within 1..600, not 0.0\n")


def test_streaming_without_live_trading_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], no_kopf: None) -> None:
    """It would stream nothing: Paper accounts never stream. Said, not a silent no-op."""
    monkeypatch.setenv("HEDGEOPS_STREAMING", "true")
    assert main(["operator"]) == 2
    assert capsys.readouterr().err == ("hedgeops: error: HEDGEOPS_STREAMING=true streams Live accounts only: it needs "
                                       "HEDGEOPS_LIVE_TRADING=true\n")


def test_every_setting_is_described() -> None:
    bare = [name for name, field in OperatorSettings.model_fields.items() if len(field.description or "") < 10]
    assert not bare


def test_the_help_lists_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["operator", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    for name, field in OperatorSettings.model_fields.items():
        assert f"\n  {ENV_PREFIX}{name.upper()}=" in out, name
        assert " ".join((field.description or "").split()[:4]) in " ".join(out.split()), name
    assert "HEDGEOPS_TICK_SECONDS=seconds  (default: 5)" in out
    assert "HEDGEOPS_WEBHOOK_PORT=port|off  (default: 8081)" in out
    assert "HEDGEOPS_IDENTITY=text  (default: <hostname>-<pid>)" in out


def test_other_commands_do_not_load_the_settings_model() -> None:
    # pydantic-settings costs a fifth of a second: only `operator` (and its --help) should pay it.
    code = "import sys, hedgeops.cli; hedgeops.cli.build_parser(); print('pydantic_settings' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"

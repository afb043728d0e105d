"""Operator settings: every HEDGEOPS_* variable the operator reads, typed and described in one model (the Helm chart
sets them; `hedgeops operator --help` lists them from here). A bad value is refused before kopf starts, in one line
naming the variable and what it should be."""

from __future__ import annotations

import math
import os
import socket
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, ValidationError
from pydantic_core import PydanticUseDefault, core_schema
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hedgeops.operator.ratelimit import parse_networks

if TYPE_CHECKING:  # ha imports kopf and the runtime (seconds): only the start-up needs it, not a settings check
    from hedgeops.operator.ha import LeaseTiming

ENV_PREFIX = "HEDGEOPS_"


class SettingsError(ValueError):
    """A HEDGEOPS_* variable that cannot be read: a usage error (exit 2), said in one line."""


@dataclass(frozen=True)
class Form:
    """How a variable is written: `metavar` for --help, `expected` for the error naming a bad value. Text from the
    environment goes through `parse`; values given in Python are taken as they are."""

    metavar: str
    expected: str = ""
    parse: Callable[[str], Any] | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self._check, handler(source))

    def _check(self, value: Any) -> Any:
        if not isinstance(value, str) or self.parse is None:
            return value
        try:
            return self.parse(value.strip())
        except ValueError:
            from hedgeops.operator.logs import redact  # a bad Redis URL still holds its password

            raise ValueError(f"{redact(repr(value.strip()))} is not {self.expected}") from None


def _blank_is_default(value: Any) -> Any:
    # These were read as `os.environ.get(...) or default`: a variable set empty (a chart's blank value) is unset.
    if isinstance(value, str) and not value.strip():
        raise PydanticUseDefault()
    return value


BLANK_IS_DEFAULT = BeforeValidator(_blank_is_default)


def _switch(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _or_off(parse: Callable[[str], Any], *, blank_is_off: bool = False) -> Callable[[str], Any]:
    offs = ("off", "false", "none", "") if blank_is_off else ("off", "false", "none")
    return lambda text: None if text.lower() in offs else parse(text)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def _time(text: str) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed  # a time without a zone is UTC


def _urls(text: str) -> dict[str, str]:
    """`okx=http://127.0.0.1:8443,binance=https://gateway` -> {"okx": ..., "binance": ...}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, url = part.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise ValueError(part)
        out[name.strip()] = url.strip()
    return out


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):  # a tick of -1 s or nan, a speed of inf: nothing would run right
        raise ValueError(text)
    return value


def _redis_url(text: str) -> str:
    """A URL redis-py can use, checked now rather than at the first lock request (a bad port would otherwise show
    as kopf retrying its start-up every minute, naming no variable)."""
    from redis.connection import parse_url

    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(text)
    parse_url(text)  # type: ignore[no-untyped-call]  # ValueError for a bad port or scheme
    return text


def _choice(*options: str) -> Form:
    by_lower = {o.lower(): o for o in options}

    def parse(text: str) -> str:
        if text.lower() not in by_lower:
            raise ValueError(text)
        return by_lower[text.lower()]
    return Form("|".join(options), "one of " + ", ".join(options), parse)


Seconds = Annotated[float, Form("seconds", "a number of seconds", float)]
SecondsOrOff = Annotated[float | None, Form("seconds|off", "a number of seconds (or off)", _or_off(float))]
Number = Annotated[float, Form("number", "a number", float)]
PositiveSeconds = Annotated[float, Form("seconds", "a number of seconds above 0", _positive)]
PositiveNumber = Annotated[float, Form("number", "a number above 0", _positive)]
Port = Annotated[int, Form("port", "a port (0-65535)", _port)]
PortOrOff = Annotated[int | None, Form("port|off", "a port (0-65535) or off", _or_off(_port, blank_is_off=True))]
Switch = Annotated[bool, Form("true|false", "true or false", _switch)]
Text = Annotated[str, Form("text")]
TextOrDefault = Annotated[str, Form("text"), BLANK_IS_DEFAULT]


class OperatorSettings(BaseSettings):
    """HEDGEOPS_* environment variables, with safe defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    redis_url: Annotated[str | None, Form("URL", "a redis://[:password@]host:port/db URL", _redis_url),
                         BLANK_IS_DEFAULT] = Field(
        None, description="Redis for the account locks and the journal (redis://:password@host:6379/0); unset: "
        "in-process locks and journal (one replica only)")
    metrics_port: Port = Field(9108, description="port of the Prometheus /metrics endpoint")
    metrics_addr: Text = Field("0.0.0.0", description="address the /metrics endpoint listens on")
    tick_seconds: PositiveSeconds = Field(5.0, description="how often each book's timer wakes to see whether its "
                                          "policy interval is due")
    replay_start: Annotated[datetime | None, Form("time", "an ISO 8601 time (2024-01-01T00:00:00Z)", _time)] = Field(
        None, description="Paper books replay history from here (no zone: UTC; unset: the data's start)")
    replay_speed: PositiveNumber = Field(1.0, description="simulated seconds per wall second for Paper books")
    identity: TextOrDefault = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
                                    description="this replica's name in the account locks and the Lease (the chart "
                                    "gives the pod's name)", json_schema_extra={"shown_default": "<hostname>-<pid>"})
    webhook_port: PortOrOff = Field(8081, description="TradingView webhook port (8080 is the liveness probe); off: "
                                    "no webhook")
    webhook_addr: Text = Field("0.0.0.0", description="address the webhook listens on")
    lock_ttl_seconds: Seconds = Field(30.0, description="an account lock left by a dead process is free again after "
                                      "this (1..600)")
    prices: Annotated[Literal["replay", "live"], _choice("replay", "live")] = Field(
        "replay", description="Paper books on replayed history (replay) or on the exchanges' live prices (live)")
    live_trading: Switch = Field(False, description="Live books may send real orders (needs prices live: one clock, "
                                 "the wall's)")
    exchange_urls: Annotated[dict[str, str], NoDecode,
                             Form("name=url,...", "a comma-separated list of name=url", _urls)] = Field(
        default_factory=dict, description="exchange id -> base URL (emulator, gateway), e.g. "
        "okx=http://127.0.0.1:8443,binance=https://gateway; unset: the exchanges' own")
    streaming: Switch = Field(
        False, description="Live accounts on the exchanges' websockets (ccxt.pro): a live account snapshot instead of "
        "REST polling, orders over the socket where the exchange has it, and objects reconciled when a stream update "
        "crosses their bands (emergency at once); after any gap, REST reconciles before anything trades. Needs "
        "HEDGEOPS_LIVE_TRADING=true")
    stream_min_spacing_seconds: PositiveSeconds = Field(
        1.0, description="with streaming, the least time between two cycles a stream trigger starts for one object "
        "(0.05..60): a storm of updates is one cycle per spacing, never a storm of orders")
    http_holdings_allow_private: Switch = Field(
        False, description="Http holdings may fetch private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, "
        "fc00::/7), never loopback, link-local or cloud metadata ones: off, as any book's author could otherwise "
        "read what only the operator's pod can reach")
    webhook_trusted_proxies: Annotated[str, Form("CIDR,...")] = Field(
        "", description="CIDRs of the Ingress: their X-Forwarded-For names the webhook's client")
    namespace: TextOrDefault = Field("hedgeops", description="the operator's own: a halt ConfigMap here halts every "
                                     "namespace's objects; the Lease lives here")
    max_data_age_seconds: SecondsOrOff = Field(
        30.0, description="market data older than this (on the cycle's clock, beyond a replay's bar) stops a cycle "
        "(1..3600); off: unchecked")
    leader_election: Switch = Field(
        True, description="active/standby: only the holder of the Lease in HEDGEOPS_NAMESPACE runs the cycles; "
        "false: every replica runs them (the account locks still serialise each account)")
    lease_name: TextOrDefault = Field("hedgeops-operator", description="the leader election's Lease")
    lease_duration_seconds: Seconds = Field(15.0, description="a dead leader's Lease is taken over after this "
                                            "(client-go's default)")
    lease_renew_deadline_seconds: Seconds = Field(10.0, description="a leader that could not renew for this long "
                                                  "stops starting cycles")
    lease_retry_seconds: Seconds = Field(2.0, description="how often the leader renews and the standby looks")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], _choice("DEBUG", "INFO", "WARNING", "ERROR")] \
        = Field("INFO", description="DEBUG adds kopf's own detail (and asyncio's), WARNING keeps only trouble")
    log_format: Annotated[Literal["text", "json"], _choice("text", "json")] = Field(
        "text", description="text: a line for a person at a terminal; json: one object a line for a log collector "
        "(timestamp, level, logger, message, object)")

    @classmethod
    def from_env(cls) -> OperatorSettings:
        """The environment's settings; a bad value raises SettingsError naming the variable and what it should be."""
        try:
            return cls()
        except ValidationError as exc:
            raise SettingsError("; ".join(_said(error) for error in exc.errors())) from None

    @property
    def lease_timing(self) -> LeaseTiming:
        from hedgeops.operator.ha import LeaseTiming

        return LeaseTiming(self.lease_duration_seconds, self.lease_renew_deadline_seconds, self.lease_retry_seconds)

    def problems(self) -> list[str]:
        """Settings that cannot work together, in words for the start-up log."""
        from hedgeops.operator.ha import lease_path

        out = []
        if self.live_trading and self.prices != "live":
            out.append("HEDGEOPS_LIVE_TRADING=true needs HEDGEOPS_PRICES=live (Live books run on the wall clock)")
        if self.streaming and not self.live_trading:
            out.append("HEDGEOPS_STREAMING=true streams Live accounts only: it needs HEDGEOPS_LIVE_TRADING=true")
        if not 0.05 <= self.stream_min_spacing_seconds <= 60:
            out.append("HEDGEOPS_STREAM_MIN_SPACING_SECONDS must be within 0.05..60, not "
                       f"{self.stream_min_spacing_seconds:g}")
        if not 1 <= self.lock_ttl_seconds <= 600:
            out.append(f"HEDGEOPS_LOCK_TTL_SECONDS must be within 1..600, not {self.lock_ttl_seconds}")
        if self.max_data_age_seconds is not None and not 1 <= self.max_data_age_seconds <= 3600:
            out.append(f"HEDGEOPS_MAX_DATA_AGE_SECONDS must be within 1..3600 or off, not {self.max_data_age_seconds}")
        if self.leader_election:
            out += self.lease_timing.problems()
            try:
                lease_path(self.namespace, self.lease_name)
            except ValueError as exc:
                out.append(f"HEDGEOPS_NAMESPACE / HEDGEOPS_LEASE_NAME: {exc}")
        try:
            parse_networks(self.webhook_trusted_proxies)
        except ValueError as exc:
            out.append(str(exc))
        return out


def _said(error: Any) -> str:
    """One of pydantic's errors as `HEDGEOPS_X: '5s' is not a number of seconds` (Form wrote the words)."""
    variable = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
    cause = error.get("ctx", {}).get("error")
    return f"{variable}: {cause if isinstance(cause, ValueError) else error['msg']}"


# Read elsewhere (exchange/marketdata/replay.py, for every command that replays), listed so the help names it.
ALSO_READ = {"HEDGEOPS_DATA_DIR": "the market data Paper books replay (default: the bundled data/)"}


def settings_help(width: int = 100) -> str:
    """Every variable with its form, default and meaning: the epilog of `hedgeops operator --help`."""
    lines = ["settings (environment variables; a bad value stops the start with exit code 2):"]
    for name, field in OperatorSettings.model_fields.items():
        form = next((m for m in field.metadata if isinstance(m, Form)), Form("text"))
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        default = extra.get("shown_default") or _shown(field.get_default(call_default_factory=True))
        lines.append(f"  {ENV_PREFIX}{name.upper()}={form.metavar}  (default: {default})")
        lines += textwrap.wrap(field.description or "", width, initial_indent=" " * 6, subsequent_indent=" " * 6)
    for variable, meaning in ALSO_READ.items():
        lines += [f"  {variable}=path", *textwrap.wrap(meaning, width, initial_indent=" " * 6)]
    return "\n".join(lines)


def _shown(value: Any) -> str:
    if value is None or value == "" or value == {}:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)

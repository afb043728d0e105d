"""The exchange emulator's state: one paper account per API key on replayed real prices (the same matching
code as the paper venue), funding wallets, leverage, synthetic books around the real price, and faults
that tests switch on; market controls (a price shock, the next funding rate) that tests set over HTTP where the
app enables them. The HTTP dialect lives in emulator_http."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedgeops.exchange.marketdata.funding_history import FundingHistory, Settlement
from hedgeops.exchange.marketdata.instruments import EMULATOR_MARKETS
from hedgeops.exchange.marketdata.okx_instruments import OKX_INSTRUMENTS, OkxInstrument
from hedgeops.exchange.marketdata.replay import Bar, Candle, CandleSeries, MarketReplay
from hedgeops.exchange.paper.account import MarginCheck
from hedgeops.exchange.paper.synthetic_book import BOOK_LEVELS, synthetic_book
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.model.book import OrderBook
from hedgeops.model.market import Fees, Quote

ZERO = Decimal(0)
HALF = Decimal("0.5")


ENVIRONMENTS = ("live", "demo")


@dataclass(frozen=True)
class Credentials:
    """One API key's secret and passphrase, and the OKX environment it was made in: a live-trading key (the
    default) or a demo-trading one. OKX answers 50101 when a demo key signs without the header
    `x-simulated-trading: 1`, or a live key with it (what ccxt's okx sends under set_sandbox_mode(True))."""

    secret: str
    passphrase: str
    trading_usdt: Decimal | None = None  # this key's starting trading USDT (None: the emulator's default)
    env: str = "live"  # "live" or "demo"

    def __post_init__(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"a key's environment is live or demo, not {self.env!r}")

    @property
    def demo(self) -> bool:
        return self.env == "demo"

    def __repr__(self) -> str:  # never a secret in a log line or a traceback
        return f"Credentials(secret=***, passphrase=***, trading_usdt={self.trading_usdt}, env={self.env})"


def load_keys(path: str | None = None, accounts: list[str] | None = None) -> dict[str, Credentials]:
    """API keys for as many accounts as a run needs: a JSON or YAML file holding a list of {apiKey, secret,
    passphrase, usdt?, env?}, and/or KEY:SECRET:PASSPHRASE[:USDT[:ENV]] texts (the --account flag; USDT may be
    left empty: KEY:SECRET:PASSPHRASE::demo). env is "live" (the default) or "demo": an OKX demo-trading key, which
    must sign with the header x-simulated-trading: 1. Each key is its own account with its own balances. Raises
    ValueError naming the entry at fault, never echoing a secret."""
    entries: list[Any] = []
    if path:
        import json
        from pathlib import Path

        text = Path(path).read_text(encoding="utf-8")
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            import yaml

            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"{path}: neither JSON nor YAML ({type(exc).__name__})") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("keys"), list):
            loaded = loaded["keys"]
        if not isinstance(loaded, list):
            raise ValueError(f"{path}: expected a list of {{apiKey, secret, passphrase, usdt?, env?}}")
        entries += [(f"{path} entry {n + 1}", e) for n, e in enumerate(loaded)]
    for n, text in enumerate(accounts or []):
        parts = text.split(":")
        if len(parts) not in (3, 4, 5):
            raise ValueError(f"--account {n + 1}: expected KEY:SECRET:PASSPHRASE[:USDT[:ENV]]")
        entries.append((f"--account {n + 1}", dict(zip(("apiKey", "secret", "passphrase", "usdt", "env"), parts,
                                                        strict=False))))
    keys: dict[str, Credentials] = {}
    for where, e in entries:
        if not isinstance(e, dict):
            raise ValueError(f"{where}: expected {{apiKey, secret, passphrase, usdt?, env?}}")
        key, secret, passphrase = (str(e.get(k) or "") for k in ("apiKey", "secret", "passphrase"))
        if not (key and secret and passphrase):
            raise ValueError(f"{where}: apiKey, secret and passphrase are all needed")
        if key in keys:
            raise ValueError(f"{where}: API key {key} is given twice")
        usdt = None
        if e.get("usdt") not in (None, ""):
            try:
                usdt = Decimal(str(e["usdt"]))
            except ArithmeticError:
                raise ValueError(f"{where}: usdt must be a number") from None
            if not usdt.is_finite() or usdt < 0:
                raise ValueError(f"{where}: usdt must be a number not below 0")
        env = str(e.get("env") or "live")
        if env not in ENVIRONMENTS:
            raise ValueError(f"{where}: env must be live or demo, not {env!r}")
        keys[key] = Credentials(secret, passphrase, usdt, env)
    return keys


@dataclass
class Faults:
    """What the next requests should suffer. Counters count down one per request affected."""

    rate_limited: int = 0  # 429 with OKX code 50011
    maintenance: int = 0  # 503 with a text body, as a load balancer answers
    timeouts: int = 0  # requests answered only after `timeout_seconds` (the order still goes in)
    timeout_seconds: float = 30.0
    rejects: int = 0  # new orders refused with 51008 (insufficient margin)
    show_delay_seconds: float = 0.0  # an accepted order is not visible to queries for this long (wall time)
    # The next N private requests wait `queued_seconds` before the server reads them (held up on the way in): the
    # caller times out first, and the request is judged (its timestamp against recvWindow, on Binance) only then.
    queued: int = 0
    queued_seconds: float = 0.0
    stall_after_orders: int | None = None  # orders after the first N go in but are answered after timeout_seconds
    partial_fills: int = 0  # the next fills execute only half (a taker's rest is cancelled, a maker's rests on)
    no_greeks: bool = False  # option positions and summaries answer their greeks empty, as a venue might
    # The websocket streams (okx_ws): every connection closed with this code at the next tick; the next N pushes
    # of a channel never sent (missed messages); no push at all while frozen (a stale stream).
    ws_drop_code: int | None = None
    ws_skip: dict[str, int] = field(default_factory=dict)
    ws_frozen: bool = False
    ws_op_delay_seconds: float = 0.0  # each websocket order/cancel op is processed only after this long (wall)
    ws_private_lag_seconds: float = 0.0  # an event's positions and account pushes leave this long after its orders


class ShockedSeries:
    """A symbol's candles with its shock applied: every price times (1 + ratio) of the moment."""

    def __init__(self, series: CandleSeries, ratio: Callable[[], Decimal]) -> None:
        self._series, self._ratio = series, ratio

    def _bar(self, bar: Bar | None) -> Bar | None:
        k = 1 + self._ratio()
        if bar is None or k == 1:
            return bar
        return Bar(bar.start, bar.end, bar.open * k, bar.high * k, bar.low * k, bar.close * k)

    def __getattr__(self, name: str) -> Any:  # first, last_known, volume_24h: as the real series
        return getattr(self._series, name)

    def last_closed(self, at: datetime) -> Bar | None:
        return self._bar(self._series.last_closed(at))

    def current(self, at: datetime) -> Bar | None:
        return self._bar(self._series.current(at))

    def range_between(self, start_ms: int, end_ms: int) -> tuple[Decimal, Decimal, Decimal] | None:
        got = self._series.range_between(start_ms, end_ms)
        k = 1 + self._ratio()
        return None if got is None else (got[0] * k, got[1] * k, got[2] * k)

    def aggregate(self, start_ms: int, end_ms: int, now_ms: int) -> Candle | None:
        c = self._series.aggregate(start_ms, end_ms, now_ms)
        k = 1 + self._ratio()
        if c is None or k == 1:
            return c
        return Candle(c.start_ms, c.open * k, c.high * k, c.low * k, c.close * k, c.volume, c.volume_quote,
                      c.confirmed)

    def bar_at(self, i: int) -> Bar:
        shocked = self._bar(self._series.bar_at(i))
        assert shocked is not None
        return shocked

    def __len__(self) -> int:
        return len(self._series)

    def bars_between(self, after: datetime, until: datetime) -> Iterator[Bar]:
        for bar in self._series.bars_between(after, until):
            shocked = self._bar(bar)
            assert shocked is not None
            yield shocked


class ShockedReplay(MarketReplay):
    """The replay with per-symbol price shocks (a test's market crash or squeeze on top of the real prices)."""

    def __init__(self, replay: MarketReplay) -> None:
        super().__init__(replay.directory, history=replay.history)
        self.shocks: dict[str, Decimal] = {}  # ccxt symbol -> ratio: 0.1 is 10% above the replayed price

    def series(self, symbol: str) -> CandleSeries:
        real = super().series(symbol)
        return ShockedSeries(real, lambda: self.shocks.get(symbol, ZERO))  # type: ignore[return-value]


class ControlledFunding(FundingHistory):
    """The real settlements, with the rates a test set for chosen settlements in their place."""

    def __init__(self, history: FundingHistory) -> None:
        super().__init__(history.directory)
        self.overrides: dict[tuple[str, datetime], Decimal] = {}  # (ccxt symbol, settlement time) -> rate

    def _set(self, symbol: str, s: Settlement) -> Settlement:
        rate = self.overrides.get((symbol, s.at))
        return s if rate is None else Settlement(s.at, rate, "emulator")

    def between(self, symbol: str, after: datetime, until: datetime) -> list[Settlement]:
        return [self._set(symbol, s) for s in super().between(symbol, after, until)]

    def next_after(self, symbol: str, at: datetime) -> Settlement | None:
        s = super().next_after(symbol, at)
        return None if s is None else self._set(symbol, s)

    def last_before(self, symbol: str, at: datetime, limit: int) -> list[Settlement]:
        return [self._set(symbol, s) for s in super().last_before(symbol, at, limit)]


@dataclass(frozen=True)
class OrderMeta:
    """What an order was sent with that the matching core does not keep: echoed back as OKX does."""

    c_time: int  # replay-clock ms
    tag: str = ""
    reduce_only: bool = False
    ord_type: str = "limit"  # OKX's: market, limit, post_only, ioc
    td_mode: str = "cross"
    tgt_ccy: str = ""
    quote_sz: str = ""  # a spot market buy sized in quote: the size as sent


@dataclass(frozen=True)
class Transfer:
    """One funding (6) <-> trading (18) transfer, at replay time."""

    trans_id: str
    ccy: str
    amount: Decimal
    src: str
    dst: str
    client_id: str
    at_ms: int
    trading_balance: Decimal  # the trading account's balance just after it


@dataclass
class Account:
    """An API key's private state."""

    venue: PaperVenue
    funding_wallet: dict[str, Decimal] = field(default_factory=dict)
    leverage: dict[str, Decimal] = field(default_factory=dict)  # by ccxt symbol
    ord_ids: dict[str, str] = field(default_factory=dict)  # clOrdId -> ordId
    by_ord_id: dict[str, str] = field(default_factory=dict)  # ordId -> clOrdId
    created_ms: dict[str, int] = field(default_factory=dict)  # clOrdId -> creation (wall ms) for show delay
    transfers: int = 0
    meta: dict[str, OrderMeta] = field(default_factory=dict)  # clOrdId -> what it was sent with
    transfer_log: list[Transfer] = field(default_factory=list)
    done_ms: dict[str, int] = field(default_factory=dict)  # clOrdId -> when it was cancelled (replay ms)
    # OKX's position mode (account/config posMode): net_mode, OKX's default, or long_short_mode (set-position-mode).
    pos_mode: str = "net_mode"


class Emulator:
    """Accounts by API key over one replay and one clock."""

    def __init__(self, replay: MarketReplay, clock: Callable[[], datetime], keys: dict[str, Credentials], *,
                 trading_usdt: Decimal = Decimal(100_000), funding_usdt: Decimal = ZERO,
                 fees: Fees | None = None) -> None:
        self.replay = ShockedReplay(replay)
        self.clock = clock
        self.keys = keys
        self.fees = fees or Fees()
        self.faults = Faults()
        self.funding = ControlledFunding(FundingHistory(replay.directory))
        self._trading_usdt = trading_usdt
        self._funding_usdt = funding_usdt
        self._accounts: dict[str, Account] = {}
        self._next_ord = 1

    def account(self, api_key: str) -> Account:
        """State is per API key, created on first use with the configured starting balances."""
        acct = self._accounts.get(api_key)
        if acct is None:
            leverage: dict[str, Decimal] = {}
            creds = self.keys.get(api_key)
            usdt = self._trading_usdt if creds is None or creds.trading_usdt is None else creds.trading_usdt
            venue = PaperVenue(self.replay, self.clock, self.fees, EMULATOR_MARKETS, usdt,
                               depth=self._depth, margin=lambda: MarginCheck(leverage, self._marks()), open_quotes=True)
            venue.account.fill_ratio = self._fill_ratio
            venue.funding = self.funding  # one history for every account: a rate a test set is paid by all
            venue.funded_until = self.clock()
            acct = Account(venue, funding_wallet={"USDT": self._funding_usdt}, leverage=leverage)
            self._accounts[api_key] = acct
        return acct

    def shock(self, symbol: str, ratio: Decimal) -> None:
        """Move `symbol`'s price to (1 + ratio) times the replayed one from now on (0 takes the shock away)."""
        if not ratio > -1:
            raise ValueError(f"a shock below -100% leaves no price: {ratio}")
        self.replay.shocks[symbol] = ratio

    def set_next_funding(self, symbol: str, rate: Decimal) -> Settlement:
        """The coming settlement of `symbol` pays `rate` instead of the real one; returns that settlement."""
        nxt = self.funding.next_after(symbol, self.clock())
        if nxt is None:
            raise ValueError(f"no {symbol} settlement after {self.clock().isoformat()} in the data")
        self.funding.overrides[(symbol, nxt.at)] = rate
        return Settlement(nxt.at, rate, "emulator")

    def orders_placed(self) -> int:
        """Orders accepted so far, over every key."""
        return sum(len(a.ord_ids) for a in self._accounts.values())

    def _fill_ratio(self) -> Decimal:
        if self.faults.partial_fills > 0:
            self.faults.partial_fills -= 1
            return HALF
        return Decimal(1)

    def _marks(self) -> dict[str, Decimal]:
        return {i.symbol: self.quote(i).last for i in OKX_INSTRUMENTS.values() if not i.spot and not i.option}

    def _depth(self, quote: Quote) -> OrderBook:
        return synthetic_book(quote, EMULATOR_MARKETS[quote.symbol])

    def settle_funding(self, acct: Account) -> None:
        """Every 8-hour settlement the replay clock has passed since the account's last request."""
        acct.venue.settle_funding()

    def now_ms(self) -> int:
        """The replay clock in ms: the one clock every answer is stamped with."""
        return int(self.clock().timestamp() * 1000)

    def next_ord_id(self) -> str:
        self._next_ord += 1
        return str(700_000_000_000 + self._next_ord)

    def quote(self, inst: OkxInstrument) -> Quote:
        """Top of book: the replayed close ± one tick (the paper venue's own quote)."""
        return self.account("__public__").venue.quote(inst.symbol)

    def volume_24h(self, inst: OkxInstrument) -> tuple[Decimal, Decimal]:
        """The replayed market's real 24 h volume: base units and quote."""
        venue = self.account("__public__").venue
        return venue.replay.series(inst.symbol).volume_24h(venue.clock())

    def book(self, inst: OkxInstrument, depth: int = BOOK_LEVELS) -> tuple[list[tuple[Decimal, Decimal]],
                                                                          list[tuple[Decimal, Decimal]]]:
        """The synthetic book around the real price, in contracts (spot: base units)."""
        b = synthetic_book(self.quote(inst), inst.rules(), depth)
        return ([(p, inst.to_contracts(q)) for p, q in b.bids], [(p, inst.to_contracts(q)) for p, q in b.asks])

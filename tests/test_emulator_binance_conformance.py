"""Conformance of the Binance USDⓈ-M dialect (issue 19, items 5 and 6): a plain ccxt script (nothing of HedgeOps
imported in it) runs a full session with stock `ccxt.binanceusdm` against a freshly started
`hedgeops emulator --dialect binanceusdm` subprocess with default flags (only its credentials and port given).
The only change to ccxt is `urls['api']`: every URL keeps its path on the emulator's host. fetchCurrencies and
fetchMargins stay on (ccxt then signs /sapi/v1/capital/config/getall and /sapi/v1/margin/allPairs on load)."""

from __future__ import annotations

from pathlib import Path

from .conformance_run import run_against_fresh_emulator

SCRIPT = r'''
import sys
from urllib.parse import urlsplit

import ccxt

url, key, secret = sys.argv[1:4]
ex = ccxt.binanceusdm({"apiKey": key, "secret": secret})
ex.urls["api"] = {name: url + urlsplit(real).path for name, real in ex.urls["api"].items() if isinstance(real, str)}
log = []

def step(name, value):
    log.append(name)
    return value

markets = step("load_markets", ex.load_markets())
assert {"SOL/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT:USDT"} <= set(markets), sorted(markets)
assert markets["BTC/USDT:USDT"]["precision"]["price"] == 0.1 and markets["SOL/USDT:USDT"]["limits"]["cost"]["min"] == 5
assert "USDT" in ex.currencies, ex.currencies
SOL, ETH = "SOL/USDT:USDT", "ETH/USDT:USDT"
ticker = step("fetch_ticker", ex.fetch_ticker(SOL))
assert ticker["last"] > 0 and ticker["high"] >= ticker["low"], ticker
tickers = step("fetch_tickers", ex.fetch_tickers([SOL, ETH]))
assert set(tickers) == {SOL, ETH}, tickers
book = step("fetch_order_book", ex.fetch_order_book(SOL, 5))
assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0], book
balance = step("fetch_balance", ex.fetch_balance())
assert balance["USDT"]["total"] == 100000, balance["USDT"]
step("set_leverage", ex.set_leverage(5, SOL))

eth_book = ex.fetch_order_book(ETH, 5)
bid = eth_book["bids"][0][0]
post = step("post_only", ex.create_order(ETH, "limit", "buy", 0.05, round(bid * 0.98, 2), {"postOnly": True}))
assert post["status"] == "open" and post["postOnly"] is True and post["timeInForce"] == "PO", post
rest = step("limit", ex.create_order(ETH, "limit", "buy", 0.05, round(bid * 0.95, 2), {"clientOrderId": "conf1"}))
sold = step("market", ex.create_order(SOL, "market", "sell", 2))
assert sold["status"] == "closed" and sold["filled"] == 2, sold
closing = step("reduce_only", ex.create_order(SOL, "market", "buy", 1, None, {"reduceOnly": True}))
got = step("fetch_order", ex.fetch_order(closing["id"], SOL))
assert got["status"] == "closed" and got["filled"] == 1 and got["reduceOnly"] is True and got["timestamp"], got
assert ex.fetch_order(None, ETH, {"clientOrderId": "conf1"})["id"] == rest["id"]
opened = step("fetch_open_orders", ex.fetch_open_orders(ETH))
assert {o["id"] for o in opened} == {post["id"], rest["id"]}, opened
step("cancel_order", ex.cancel_order(post["id"], ETH))
step("cancel_order_by_client_id", ex.cancel_order(None, ETH, {"clientOrderId": "conf1"}))
assert ex.fetch_open_orders(ETH) == [] and ex.fetch_order(rest["id"], ETH)["status"] == "canceled"
closed = step("fetch_closed_orders", ex.fetch_closed_orders(SOL))
assert {o["id"] for o in closed} == {sold["id"], closing["id"]}, closed
trades = step("fetch_my_trades", ex.fetch_my_trades(SOL))
assert len(trades) == 2 and all(t["fee"]["cost"] > 0 and t["order"] for t in trades), trades
positions = step("fetch_positions", ex.fetch_positions([SOL]))
assert len(positions) == 1 and positions[0]["contracts"] == 1 and positions[0]["side"] == "short", positions
assert positions[0]["markPrice"] and positions[0]["initialMarginPercentage"] == 0.2, positions  # 5x
rate = step("fetch_funding_rate", ex.fetch_funding_rate(SOL))
assert rate["fundingRate"] is not None and rate["fundingTimestamp"], rate
history = step("fetch_funding_rate_history", ex.fetch_funding_rate_history(SOL, limit=5))
assert history and all(h["fundingRate"] is not None for h in history), history
step("fetch_funding_history", ex.fetch_funding_history(SOL))
moved = step("transfer", ex.transfer("USDT", 25, "swap", "spot"))
assert moved["id"], moved
ledger = step("fetch_ledger", ex.fetch_ledger("USDT"))
assert {e["type"] for e in ledger} >= {"commission", "trade", "transfer"}, [e["type"] for e in ledger]
candles = step("fetch_ohlcv", ex.fetch_ohlcv(SOL, "5m", limit=10))
assert candles and all(len(c) == 6 and c[2] >= c[3] for c in candles), candles
hours = step("fetch_ohlcv_since", ex.fetch_ohlcv(SOL, "1h", since=candles[-1][0] - 3_600_000, limit=5))
assert hours, hours
print("conformance: " + " ".join(log))
'''


def test_stock_ccxt_binanceusdm_runs_a_full_session_against_a_fresh_emulator(tmp_path: Path) -> None:
    key, secret = "conf-key", "conf-secret"
    run, err = run_against_fresh_emulator(tmp_path, SCRIPT, ["--dialect", "binanceusdm", "--api-key", key, "--secret",
                                                             secret], "/fapi/v1/ping", [key, secret])
    assert run.returncode == 0, run.stderr[-4000:]
    assert "conformance: load_markets" in run.stdout and "fetch_ohlcv_since" in run.stdout
    assert "Binance USDⓈ-M emulator on" in err and secret not in err  # the banner names the key, never its secret

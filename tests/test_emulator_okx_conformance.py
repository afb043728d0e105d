"""Conformance: a plain ccxt script (nothing of HedgeOps imported in it) runs a full session with stock
`ccxt.okx` against a freshly started `hedgeops emulator` subprocess with default flags (only its credentials and
port given). The only change to ccxt is `urls['api']['rest']`: fetchCurrencies stays on, as a user's bot has it."""

from __future__ import annotations

from pathlib import Path

from .conformance_run import run_against_fresh_emulator

SCRIPT = r'''
import sys
import ccxt

url, key, secret, passphrase = sys.argv[1:5]
ex = ccxt.okx({"apiKey": key, "secret": secret, "password": passphrase})
ex.urls["api"]["rest"] = url
log = []

def step(name, value):
    log.append(name)
    return value

markets = step("load_markets", ex.load_markets())
assert {"SOL/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT:USDT", "SOL/USDT"} <= set(markets), sorted(markets)
assert "USDT" in ex.currencies and ex.currencies["USDT"]["info"], ex.currencies
SWAP, SPOT, ETH = "SOL/USDT:USDT", "SOL/USDT", "ETH/USDT:USDT"
ticker = step("fetch_ticker", ex.fetch_ticker(SWAP))
assert ticker["bid"] < ticker["last"] < ticker["ask"], ticker
assert ticker["baseVolume"] > 0, ticker  # a pair filter on 24 h volume keeps the pair from the first call
tickers = step("fetch_tickers", ex.fetch_tickers([SWAP, ETH]))
assert set(tickers) == {SWAP, ETH}, tickers
book = step("fetch_order_book", ex.fetch_order_book(SWAP, 5))
assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0], book
balance = step("fetch_balance", ex.fetch_balance())
assert balance["USDT"]["total"] > 0, balance["USDT"]
step("set_leverage", ex.set_leverage(3, SWAP, {"marginMode": "cross"}))

eth = ex.fetch_ticker(ETH)
post = step("post_only", ex.create_order(ETH, "limit", "buy", 1, eth["bid"] * 0.98, {"postOnly": True}))
rest = step("limit", ex.create_order(SPOT, "limit", "buy", 0.5, ticker["bid"] * 0.95, {"clientOrderId": "conf1"}))
sold = step("market", ex.create_order(SWAP, "market", "sell", 2, None, {"tag": "conformance"}))
closing = step("reduce_only", ex.create_order(SWAP, "market", "buy", 1, None, {"reduceOnly": True}))
got = step("fetch_order", ex.fetch_order(closing["id"], SWAP))
assert got["status"] == "closed" and got["filled"] == 1 and got["reduceOnly"] is True, got
assert got["timestamp"] and got["lastTradeTimestamp"] and got["fee"]["cost"] > 0, got
assert ex.fetch_order(sold["id"], SWAP)["info"]["tag"] == "conformance"
opened = step("fetch_open_orders", ex.fetch_open_orders(ETH))
assert [o["id"] for o in opened] == [post["id"]], opened
step("cancel_order", ex.cancel_order(post["id"], ETH))
step("cancel_order_spot", ex.cancel_order(rest["id"], SPOT))
assert ex.fetch_open_orders(ETH) == [] and ex.fetch_order(rest["id"], SPOT)["status"] == "canceled"
closed = step("fetch_closed_orders", ex.fetch_closed_orders(SWAP))
assert {o["id"] for o in closed} == {sold["id"], closing["id"]}, closed
trades = step("fetch_my_trades", ex.fetch_my_trades(SWAP))
assert len(trades) == 2 and all(t["fee"]["cost"] and t["info"]["feeRate"] for t in trades), trades
positions = step("fetch_positions", ex.fetch_positions([SWAP]))
assert len(positions) == 1 and positions[0]["id"] and positions[0]["contracts"] == 1, positions
assert positions[0]["side"] == "short" and positions[0]["markPrice"], positions
rate = step("fetch_funding_rate", ex.fetch_funding_rate(SWAP))
assert rate["fundingRate"] is not None and rate["fundingTimestamp"], rate
history = step("fetch_funding_rate_history", ex.fetch_funding_rate_history(SWAP, limit=5))
assert history and all(h["fundingRate"] is not None for h in history), history
step("fetch_funding_history", ex.fetch_funding_history(SWAP))
moved = step("transfer", ex.transfer("USDT", 25, "trading", "funding"))
assert moved["id"] and moved["amount"] == 25, moved
followed = step("fetch_transfer", ex.fetch_transfer(moved["id"]))
assert followed["status"] == "ok" and followed["amount"] == 25, followed
transfers = step("fetch_transfers", ex.fetch_transfers("USDT"))
assert [t["amount"] for t in transfers] == [25] and transfers[0]["fromAccount"] == "trading", transfers
step("spot_market", ex.create_order(SPOT, "market", "buy", 0.5, None, {"tgtCcy": "base_ccy"}))
ledger = step("fetch_ledger", ex.fetch_ledger("USDT"))  # ccxt's default type: spot bills
assert [(e["type"], e["direction"]) for e in ledger] == [("trade", "out")], ledger
swap_ledger = step("fetch_ledger_swap", ex.fetch_ledger("USDT", params={"type": "swap"}))
assert [e["type"] for e in swap_ledger] == ["trade", "trade"], swap_ledger
candles = step("fetch_ohlcv", ex.fetch_ohlcv(SWAP, "5m", limit=10))
assert candles and all(len(c) == 6 and c[2] >= c[3] for c in candles), candles
hours = step("fetch_ohlcv_since", ex.fetch_ohlcv(SWAP, "1h", since=candles[-1][0] - 3_600_000, limit=5))
assert hours, hours
warm = step("fetch_ohlcv_warm_up", ex.fetch_ohlcv(SWAP, "1h", limit=100))
assert len(warm) == 100, len(warm)  # history before the start for an indicator to warm up on
print("conformance: " + " ".join(log))
'''


def test_stock_ccxt_okx_runs_a_full_session_against_a_fresh_emulator(tmp_path: Path) -> None:
    key, secret, passphrase = "conf-key", "conf-secret", "conf-pass"
    run, err = run_against_fresh_emulator(tmp_path, SCRIPT, ["--api-key", key, "--secret", secret, "--passphrase",
                                                             passphrase], "/api/v5/public/time",
                                          [key, secret, passphrase])
    assert run.returncode == 0, run.stderr[-4000:]
    assert "conformance: load_markets" in run.stdout and "fetch_ohlcv_since" in run.stdout
    assert secret not in err and passphrase not in err  # the banner names the key, never its secret

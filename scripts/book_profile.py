"""Derive the taker book profile the hedging benchmark walks from the real Binance BTCUSDT perp sample.

    python scripts/book_profile.py [SHARED_DATA_DIR]  > data/binance_futures_BTC_USDT_book_profile.json

Input: ../shared/data's 2024-08-08 L2 depth file (a REST snapshot of 1,000 levels a side, then diffs) and its
best bid/ask file. Output: the median spread in price units and ticks, and the cumulative notional (USDT) on
each side within given distances of the mid, from the book rebuilt at one-minute marks (snapshot, then the
diffs applied in order as Binance documents), averaged over both sides and the marks."""

from __future__ import annotations

import csv
import gzip
import json
import statistics
import sys
from pathlib import Path

DISTANCES_BPS = (0.0, 0.5, 1, 2, 5, 10, 20, 50)


def _profile(bids: dict[float, float], asks: dict[float, float]) -> list[float]:
    bb, ba = max(p for p, q in bids.items() if q > 0), min(p for p, q in asks.items() if q > 0)
    mid = (bb + ba) / 2
    out = []
    for d in DISTANCES_BPS:
        lo, hi = mid * (1 - d / 1e4), mid * (1 + d / 1e4)
        bid_n = sum(p * q for p, q in bids.items() if p >= min(lo, bb))
        ask_n = sum(p * q for p, q in asks.items() if p <= max(hi, ba))
        out.append((bid_n + ask_n) / 2)
    return out


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    snapshot_id = 0
    marks: list[list[float]] = []
    next_mark = None
    with gzip.open(root / "binance_futures_BTC_USDT_depth_20240808.csv.gz", "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # Diffs may arrive before the snapshot: load the snapshot first, then apply the later diffs in order.
    for row in rows:
        if row["type"] == "snapshot":
            snapshot_id = int(row["last_update_id"])
            (bids if row["side"] == "bid" else asks)[float(row["price"])] = float(row["qty"])
    for row in rows:
        if row["type"] == "snapshot" or int(row["last_update_id"]) <= snapshot_id:
            continue
        ts = int(row["ts"])
        if next_mark is None or ts >= next_mark:
            marks.append(_profile(bids, asks))
            next_mark = ts + 60_000
        book = bids if row["side"] == "bid" else asks
        price, qty = float(row["price"]), float(row["qty"])
        if qty == 0:
            book.pop(price, None)
        else:
            book[price] = qty
    spreads, mids = [], []
    with gzip.open(root / "binance_futures_BTC_USDT_bookticker_20240808.csv.gz", "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            bid, ask = float(row["bid_price"]), float(row["ask_price"])
            spreads.append(ask - bid)
            mids.append((ask + bid) / 2)
    depth = [round(statistics.median(m[i] for m in marks), 2) for i in range(len(DISTANCES_BPS))]
    print(json.dumps({
        "source": "binance_futures_BTC_USDT_depth_20240808.csv.gz + bookticker (Binance USDT-M BTCUSDT, "
                  "2024-08-08 23:54-24:00 UTC), via scripts/book_profile.py",
        "tick": 0.1,
        "median_spread": round(statistics.median(spreads), 4),
        "median_spread_bps": round(1e4 * statistics.median(s / m for s, m in zip(spreads, mids, strict=True)), 6),
        "books_sampled": len(marks),
        "distance_bps": list(DISTANCES_BPS),
        "cumulative_notional_per_side": depth,
    }, indent=2))


if __name__ == "__main__":
    main()

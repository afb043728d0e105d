"""`hedgeops backtest` (issue 17, first part): the examples replayed through the operator's reconcilers, a report
a browser draws, and the report's figures equal to the JSON's."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT
from .png import colour_counts

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def hedgeops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hedgeops.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("backtest") / "report.html"
    res = hedgeops("backtest", "manifests/examples/", "--from", "2025-01-01", "--to", "2025-01-03", "--out", str(out),
                   "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout), out


def _objects(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys = (("books", "book"), ("fundingArbitrages", "fundingArbitrage"), ("marketMakers", "marketMaker"))
    return {o[name]: {"book": None, **o} for kind, name in keys for o in summary[kind]}


def _at(obj: Any, path: str) -> Any:
    """The value at a report cell's data-key: dotted keys, a period table's row found by its period."""
    for part in path.split("."):
        obj = next(r for r in obj if r["period"] == part) if isinstance(obj, list) else obj[part]
    return obj


def test_every_example_object_is_in_the_backtest_with_its_series(run: tuple[dict[str, Any], Path]) -> None:
    summary, _ = run
    objects = _objects(summary)
    assert set(objects) == {"default/jlp", "default/spot-bag", "default/index", "default/eth-carry", "default/sol-mm",
                            "default/eth-carry-grid"}
    grid = objects["default/eth-carry-grid"]["grid"]  # a backtest runs seed 004's second layer too
    assert grid["generations"] >= 1 and grid["feesQuote"] > 0
    for o in objects.values():
        assert len(o["series"]["pnlQuote"]) > 24  # hourly over two days
        assert o["performance"]["days"] == 2 or o["book"] is not None
        sources = o["pnlSources"]  # the split adds up to the PnL the track record is computed from
        total = sources.get("totalPnlQuote", o.get("pnlQuote"))
        assert abs(sources["pricePnlQuote"] + sources["fundingQuote"] - sources["feesQuote"]
                   - sources["slippageQuote"] - total) < 1e-3, o
        assert abs(total - o["performance"]["pnlQuote"]) < 1e-3
    for b in summary["books"]:
        assert len(b["series"]["deviation"]) > 24 and b["series"]["rebalances"], b["book"]
    assert summary["pricing"] and all(p["note"] == "" for p in summary["pricing"])  # 2025: the markets' own bars


def test_the_reports_figures_are_the_jsons(run: tuple[dict[str, Any], Path]) -> None:
    summary, out = run
    page = out.read_text()
    objects = _objects(summary)
    sections = re.findall(r'<section class="object" data-object="([^"]+)">(.*?)</section>', page, re.S)
    assert {html.unescape(k) for k, _ in sections} == set(objects)
    for key, body in sections:
        obj = objects[html.unescape(key)]
        cells = re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', body)
        assert len(cells) >= 25
        shown = {html.unescape(name) for name, _ in cells}
        assert {"performance.sharpe", "pnlSources.fundingQuote", "pnlSources.slippageQuote"} <= shown
        assert any(n.startswith("byMonth.2025-01.") for n in shown)
        for name, value in cells:
            assert html.unescape(value) == str(_at(obj, html.unescape(name))), (key, name)
    carry = next(body for k, body in sections if "carry" in k)
    assert 'data-key="byYear.2025.returnPct"' in carry
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page


def test_the_report_draws_in_a_real_browser(run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed; `make test` installs it with apt-get")
    _, out = run
    common = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*common, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    # Every chart drew: four per book (deviation against the band, PnL sources, drawdown, cost), two per carry
    # (the examples have two), three per market maker; and each has its lines.
    charts = re.findall(r'<svg class="chart".*?</svg>', dom.stdout, re.S)
    assert len(charts) == 3 * 4 + 2 * 2 + 3 and "not enough points" not in dom.stdout
    assert all("<polyline" in c for c in charts)
    assert dom.stdout.count('data-label="its band"') == 3 and dom.stdout.count('class="mark"') > 20
    shot = tmp_path / "report.png"
    subprocess.run([*common, "--window-size=900,6000", f"--screenshot={shot}", out.as_uri()], capture_output=True,
                   timeout=120, check=True)
    counts = colour_counts(shot)
    for colour in ((0x2C, 0xA0, 0x2C), (0xD6, 0x27, 0x28), (0x4C, 0x78, 0xA8), (0xF5, 0x85, 0x18)):
        assert counts[colour] > 50, colour  # PnL, drawdown, deviation and cost lines all on screen


@pytest.mark.parametrize("args, message", [
    (["--from", "2025-01-03", "--to", "2025-01-01"], "must be after --from"),
    (["--to", "2025-01-03"], "--to needs --from"),
    (["--from", "2025-01-01", "--to", "2025-01-02", "--out", "/nonexistent/dir/r.html"], "no such directory"),
    (["--from", "2025-01-01", "--reset-breaker-after", "soon"], "is not a duration"),
    (["--from", "2019-01-01", "--to", "2019-02-01"], "outside the data"),
])
def test_bad_input_is_a_message_and_exit_2(args: list[str], message: str) -> None:
    res = hedgeops("backtest", "manifests/examples/", *args)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_the_text_summary_lists_the_prices_replayed_and_the_makers_fill_ratio_and_funding() -> None:
    """What the README says the summary shows is in the text a person reads, not only in --json: which prices
    each period replayed, symbol by symbol (here the hourly mark prices, then the 5-minute bars), and a market
    maker's fill ratio and funding."""
    args = ("backtest", "manifests/examples/marketmaker-sol.yaml", "--from", "2024-12-30", "--to", "2025-01-01")
    text, js = hedgeops(*args), hedgeops(*args, "--json")
    assert text.returncode == 0 and js.returncode == 0, text.stderr + js.stderr
    summary = json.loads(js.stdout)
    out = text.stdout
    assert "Prices replayed" in out and "Fill ratio" in out and "Funding" in out
    rows = [line for line in out.splitlines() if "SOL/USDT:USDT" in line]
    sources = [p["source"] for p in summary["pricing"] if p["symbol"] == "SOL/USDT:USDT"]
    assert len(sources) == 2 and all(any(s in r for r in rows) for s in sources), rows
    assert any("1 h" in r for r in rows) and any("5 min" in r for r in rows)
    [mm] = summary["marketMakers"]
    assert mm["quotesPlaced"] > 0 and f"{mm['quotesFilled'] / mm['quotesPlaced']:.0%} of {mm['quotesPlaced']}" in out

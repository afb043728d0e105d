"""The `hedgeops` command as a user runs it: a real subprocess, real manifests, real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def hedgeops(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hedgeops.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_local_json_summary_on_the_examples() -> None:
    run = hedgeops("local", "manifests/examples/", "--for", "1d", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["from"] == "2024-12-31T00:00:00+00:00" and summary["to"] == "2025-01-01T00:00:00+00:00"
    books = {b["book"]: b for b in summary["books"]}
    assert set(books) == {"default/jlp", "default/spot-bag", "default/index"}
    for b in books.values():
        assert set(b) >= {"rebalances", "costQuote", "meanAbsDeviationRatio", "maxAbsDeviationRatio"}
        assert b["state"] == "Ready" and b["cycles"] == 288  # one cycle per 5-minute bar for a day
        assert b["rebalances"] >= 1 and b["costQuote"] > 0  # at least the initial hedge, which pays fees
        assert 0 <= b["meanAbsDeviationRatio"] <= b["maxAbsDeviationRatio"] < 0.05
    # Every kind runs, through the operator's own reconcilers: the carry and the market maker too.
    carries = {c["fundingArbitrage"]: c for c in summary["fundingArbitrages"]}
    assert set(carries) == {"default/eth-carry", "default/eth-carry-grid"}  # the second: seed 004's second layer
    carry = carries["default/eth-carry"]
    assert carry["state"] == "Ready" and carry["cycles"] > 0
    assert carry["pairs"] == 1 and carry["phase"] in ("Idle", "Opening", "Open")
    [maker] = summary["marketMakers"]
    assert maker["marketMaker"] == "default/sol-mm" and maker["cycles"] > 0
    assert maker["state"] in ("Ready", "Finished") and maker["boughtQty"] + maker["soldQty"] > 0
    # Seed 003's monitoring figures: fill rate, and the funding the status booked from the venue's bills equals
    # what the runner read from the account (two paths to the same bills); the last cycle's summary.
    assert maker["quotesPlaced"] >= maker["quotesFilled"] > 0
    assert maker["fillRatio"] == round(maker["quotesFilled"] / maker["quotesPlaced"], 4)
    assert maker["fundingQuote"] == pytest.approx(maker["pnlSources"]["fundingQuote"], abs=1e-4)
    assert set(maker["lastCycle"]) >= {"bid", "ask", "position", "skewOffset", "cyclePnlQuote", "pnlQuote", "quotes"}
    # A track record for each: over a day, one day of PnL (hedgeops/local/performance.py has the arithmetic).
    perf = carry["performance"]
    assert perf["days"] == 1 and perf["pnlQuote"] == pytest.approx(carry["pnlQuote"], abs=1e-4)
    assert perf["returnPerYearPct"] is not None and perf["maxDrawdownPct"] is not None
    assert maker["performance"]["days"] == 1 and maker["performance"]["returnPerYearPct"] is None


def test_local_market_maker_books_the_funding_its_position_paid() -> None:
    """Over two days the example's inventory is held across settlements: the funding its status booked from the
    paper venue's bills (the runtime's path) is the funding the runner read from the account's bills."""
    run = hedgeops("local", "manifests/examples/marketmaker-sol.yaml", "--for", "2d", "--json")
    assert run.returncode == 0, run.stderr
    [maker] = json.loads(run.stdout)["marketMakers"]
    assert maker["fundingQuote"] != 0
    assert maker["fundingQuote"] == pytest.approx(maker["pnlSources"]["fundingQuote"], abs=1e-4)


def test_local_is_deterministic() -> None:
    # The jlp book's own policy (with another one it used to sit PolicyNotFound, deterministically doing nothing).
    a = hedgeops("local", "manifests/examples/hedgebook-jlp.yaml", "manifests/examples/rebalancepolicy-adaptive.yaml",
                 "--for", "12h", "--json")
    b = hedgeops("local", "manifests/examples/hedgebook-jlp.yaml", "manifests/examples/rebalancepolicy-adaptive.yaml",
                 "--for", "12h", "--json")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout


def test_local_works_outside_the_checkout(tmp_path: Path) -> None:
    """The bundled data is found from the installed package, not from the current directory."""
    run = hedgeops("local", str(ROOT / "manifests" / "examples"), "--for", "1h", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("args, message", [
    (["local", "manifests/invalid/leverage-above-3.yaml"], "leverage"),
    (["local", "manifests/examples/", "--for", "7 days"], "is not a duration"),
    (["local", "manifests/examples/", "--from", "1999-01-01"], "outside the data"),
    (["local", "manifests/examples/rebalancepolicy-compact.yaml"], "no HedgeBook, FundingArbitrage or MarketMaker"),
    (["local", "no/such/folder"], "no/such/folder"),
    (["validate", "no/such/folder"], "no such file or folder: no/such/folder"),
    (["journal", "nosuchkind/x", "--redis-url", "redis://127.0.0.1:1"], "expected <kind>/<name>"),
])
def test_bad_input_is_a_message_not_a_traceback(args: list[str], message: str) -> None:
    run = hedgeops(*args)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_a_book_sharing_a_position_with_an_older_one_is_refused_the_older_trades(tmp_path: Path) -> None:
    jlp = (ROOT / "manifests" / "examples" / "hedgebook-jlp.yaml").read_text()
    (tmp_path / "a.yaml").write_text(jlp)
    (tmp_path / "b.yaml").write_text(jlp.replace("name: jlp", "name: jlp-twin"))
    (tmp_path / "p.yaml").write_text((ROOT / "manifests" / "examples" / "rebalancepolicy-adaptive.yaml").read_text())
    run = hedgeops("local", str(tmp_path), "--for", "1d", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    # The operator's rule: the first owns the account's positions and trades; the twin is refused, sends nothing.
    assert list(summary["refused"]) == ["default/jlp-twin"]
    assert "owned by HedgeBook/default/jlp" in summary["refused"]["default/jlp-twin"]
    states = {b["book"]: b for b in summary["books"]}
    assert states["default/jlp"]["cycles"] >= 1 and states["default/jlp-twin"]["cycles"] == 0
    assert states["default/jlp-twin"]["state"] == "SharedPositions"


def test_validate_examples_and_crds_round_trip(tmp_path: Path) -> None:
    ok = hedgeops("validate", "manifests/examples/")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("ok  ") == len(list((ROOT / "manifests" / "examples").glob("*.yaml")))
    assert hedgeops("crds", "--check").returncode == 0
    assert hedgeops("crds", "--out", str(tmp_path), "--chart", "").returncode == 0
    for f in (ROOT / "crds").glob("*.yaml"):
        assert (tmp_path / f.name).read_text() == f.read_text()
    (tmp_path / "hedgebooks.hedgeops.io.yaml").write_text("stale")
    stale = hedgeops("crds", "--check", "--out", str(tmp_path), "--chart", "")
    assert stale.returncode == 1 and "out of date" in stale.stderr


def test_broken_yaml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("kind: HedgeBook\n  spec: [\n")
    run = hedgeops("validate", str(tmp_path))
    assert run.returncode == 1 and "broken.yaml: not valid YAML" in run.stderr and "Traceback" not in run.stderr


def test_local_serves_metrics_while_it_runs() -> None:
    import signal
    import time
    import urllib.request

    from .conftest import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hedgeops.cli", "local", "manifests/examples/", "--json",
                             "--metrics-port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wanted = ('hedgeops_exposure_quote{asset="SOL",mode="Paper",name="jlp",namespace="default"}',
                  'hedgeops_deviation_ratio{asset="ETH",mode="Paper",name="spot-bag",namespace="default"}',
                  "hedgeops_rebalances_total{")
        text, deadline = "", time.monotonic() + 60
        # Objects are observed one after another in a tick: scrape until every one has been (a loaded machine
        # can serve a page between the jlp's rebalance and the spot-bag's first look).
        while time.monotonic() < deadline and not all(w in text for w in wanted):
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                time.sleep(0.1)
        assert 'hedgeops_exposure_quote{asset="SOL",mode="Paper",name="jlp",namespace="default"}' in text
        assert 'hedgeops_deviation_ratio{asset="ETH",mode="Paper",name="spot-bag",namespace="default"}' in text
        assert "hedgeops_rebalances_total{" in text
    finally:
        proc.send_signal(signal.SIGINT)  # a user's Ctrl+C: a clean stop, no traceback, the summary so far
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err
    summary = json.loads(out)
    assert summary["interrupted"] is True and summary["to"] < "2026-01-01"
    assert all(b["cycles"] > 0 for b in summary["books"])


def test_a_busy_metrics_port_is_bad_input_and_the_chosen_port_is_said_with_json() -> None:
    """A port in use was `OSError: [Errno 98]` and exit 1, though --help's exit table gives 2 for a port to
    listen on; `--metrics-port 0` picked a port and said which only on a terminal."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        run = hedgeops("local", "manifests/examples/hedgebook-jlp.yaml",
                       "manifests/examples/rebalancepolicy-adaptive.yaml", "--for", "1h", "--json",
                       "--metrics-port", str(busy.getsockname()[1]))
    assert run.returncode == 2 and "--metrics-port: cannot listen on 127.0.0.1:" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    run = hedgeops("local", "manifests/examples/hedgebook-jlp.yaml", "manifests/examples/rebalancepolicy-adaptive.yaml",
                   "--for", "1h", "--json", "--metrics-port", "0")
    assert run.returncode == 0 and "serving metrics on http://127.0.0.1:" in run.stderr
    assert json.loads(run.stdout)["books"]  # stdout stays the JSON alone


def test_emulator_serves_any_ccxt_client_and_never_prints_the_secret() -> None:
    import asyncio
    import signal
    import time
    import urllib.request

    from .conftest import free_port
    from .emulator_fixtures import okx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hedgeops.cli", "emulator", "--port", str(port), "--api-key", "k1",
                             "--secret", "very-secret-value", "--passphrase", "pp", "--at", "2025-06-01",
                             "--speed", "60"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v5/public/time", timeout=2)
                break
            except OSError:
                time.sleep(0.1)

        async def trade() -> tuple[float, float]:
            ex = okx(f"http://127.0.0.1:{port}", key="k1", secret="very-secret-value", passphrase="pp")
            try:
                t = await ex.fetch_ticker("BTC/USDT:USDT")
                await ex.create_order("BTC/USDT:USDT", "market", "buy", 1, None, {"clientOrderId": "cli1"})
                pos = await ex.fetch_positions(["BTC/USDT:USDT"])
                return float(t["last"]), float(pos[0]["contracts"])
            finally:
                await ex.close()

        last, contracts = asyncio.run(trade())
        assert 50_000 < last < 150_000 and contracts == 1  # a real 2025 BTC price; 1 contract = 0.01 BTC
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert "very-secret-value" not in err and "Traceback" not in err and f"127.0.0.1:{port}" in err


def test_emulator_refuses_missing_credentials_clearly() -> None:
    r = hedgeops("emulator", "--port", "0", "--api-key", "k1")
    assert r.returncode == 2 and "--secret" in r.stderr and "Traceback" not in r.stderr
    r = hedgeops("emulator", "--api-key", "k", "--secret", "s", "--passphrase", "p", "--trading-usdt", "lots")
    assert r.returncode == 2 and "not a non-negative amount" in r.stderr
    r = hedgeops("emulator", "--api-key", "k", "--secret", "s", "--passphrase", "p", "--taker-fee", "5")
    assert r.returncode == 2 and "fee rates are fractions" in r.stderr and "Traceback" not in r.stderr


def _alias_bomb() -> str:
    """The "billion laughs" of YAML: 9 levels of 9 aliases each, ~500 bytes that expand to 9**9 strings."""
    lines = ['apiVersion: hedgeops.io/v1alpha1', 'kind: HedgeBook', 'metadata: {name: bomb}', 'x:',
             '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  {cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join([*lines, "spec: {holdings: *i}", ""])


_BOOK_HEAD = "apiVersion: hedgeops.io/v1alpha1\nkind: HedgeBook\n"
HOSTILE: list[tuple[str, bytes, list[str]]] = [
    ("alias-bomb", _alias_bomb().encode(), ["alias", "refused"]),
    ("duplicate-key", (_BOOK_HEAD + "metadata: {name: a}\nkind: RebalancePolicy\n").encode(),
     ["duplicate key 'kind'", "line 4", "line 2"]),
    ("duplicate-nested-key", (_BOOK_HEAD + "metadata:\n  name: a\n  name: b\n").encode(),
     ["duplicate key 'name'", "line 5"]),
    ("not-utf8", _BOOK_HEAD.encode() + b"metadata: {name: \xff\xfe}\n", ["not UTF-8", "line 3"]),
    ("a-list", b"- a\n- b\n", ["document 1", "a list, not a mapping"]),
    ("metadata-list", (_BOOK_HEAD + "metadata: [1, 2]\nspec: {}\n").encode(), ["metadata: expected a mapping"]),
    ("name-list", (_BOOK_HEAD + "metadata: {name: [1]}\nspec: {}\n").encode(), ["metadata.name: expected a string"]),
    ("kind-list", b"apiVersion: hedgeops.io/v1alpha1\nkind: [HedgeBook]\nmetadata: {name: a}\n",
     ["kind: expected a string, got a list"]),
    ("kind-map", b"apiVersion: hedgeops.io/v1alpha1\nkind: {a: 1}\nmetadata: {name: a}\n",
     ["kind: expected a string, got a mapping"]),
    ("deep", ("a: " + "[" * 10_000 + "]" * 10_000 + "\n").encode(), ["nested deeper than"]),
    ("deep-block", ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 2000))).encode(), ["nested deeper than"]),
    ("empty", b"", ["no manifest"]),
    ("only-comments", b"# nothing here\n---\n", ["no manifest"]),
    ("int-key", (_BOOK_HEAD + "metadata: {name: a}\nspec: {1: x}\n").encode(), ["spec: key 1 is not a string"]),
    ("set-value", (_BOOK_HEAD + "metadata: {name: a}\nspec: {x: !!set {a, b}}\n").encode(),
     ["spec.x: a set is not a JSON value"]),
]


@pytest.mark.parametrize(("name", "content", "says"), HOSTILE, ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize("command", ["validate", "local"])
def test_hostile_yaml_is_a_field_named_refusal(tmp_path: Path, command: str, name: str, content: bytes,
                                               says: list[str]) -> None:
    """Hostile or careless files: refused with a message naming the file and what is wrong, quickly, no traceback;
    `validate` exits 1 (an invalid file, for CI), `local` 2 (it cannot start)."""
    import time

    (tmp_path / f"{name}.yaml").write_bytes(content)
    began = time.monotonic()
    run = hedgeops(command, str(tmp_path / f"{name}.yaml"))
    assert run.returncode == (1 if command == "validate" else 2), (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr and f"{name}.yaml" in run.stderr
    for words in says:
        assert words in run.stderr, run.stderr
    assert time.monotonic() - began < 15


def test_an_empty_folder_is_an_error_and_anchors_without_aliases_are_fine(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = hedgeops("validate", str(tmp_path / "empty"))
    assert run.returncode == 2 and "nothing to validate: no .yaml, .yml or .json file" in run.stderr
    jlp = (ROOT / "manifests" / "examples" / "hedgebook-jlp.yaml").read_text()
    # An anchor nothing refers to is harmless; a timestamp stays the text it is, as kubectl keeps it.
    (tmp_path / "anchored.yaml").write_text(jlp.replace("metadata:", "metadata: &meta\n  annotations: "
                                                        "{reviewed: 2025-06-01T12:00:00Z}", 1))
    run = hedgeops("validate", str(tmp_path / "anchored.yaml"))
    assert run.returncode == 0, run.stderr


def test_numbers_are_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    """kubectl (go-yaml) reads `1e4` as a number; PyYAML's YAML 1.1 needs `1.0e+4`, so `amountQuote: 1e4` was a
    string and refused ("'1e4' is not of type 'number'"). A quoted "1e4" stays a string, as in kubectl."""
    from hedgeops.manifest_yaml import load_all

    assert list(load_all("a: 1e4\nb: 2.5E-3\nc: 10\nd: '1e4'\n")) == [{"a": 10000.0, "b": 0.0025, "c": 10,
                                                                         "d": "1e4"}]
    eth = (ROOT / "manifests" / "examples" / "fundingarbitrage-eth.yaml").read_text()
    (tmp_path / "eth.yaml").write_text(eth.replace("amountQuote: 10000", "amountQuote: 1e4"))
    run = hedgeops("validate", str(tmp_path / "eth.yaml"))
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("args", [
    ["approve", "hedgebook/../../../api/v1/namespaces/kube-system/secrets/admin", "3f2a9c1e"],
    ["approve", "hedgebook/jlp", "3f2a9c1e", "-n", "kube-system/secrets/x"],
    ["close-all", "hedgebook/Jlp%2F..", "--yes"],
    ["close-all", "fundingarbitrage/jlp", "--yes", "-n", "../.."],
])
def test_control_refuses_names_that_are_not_kubernetes_names_before_connecting(tmp_path: Path,
                                                                               args: list[str]) -> None:
    """A name or namespace that could walk the API path is refused before any kubeconfig is read."""
    run = hedgeops(*args, "--kubeconfig", str(tmp_path / "no-such-kubeconfig"))
    assert run.returncode == 2 and ("DNS-1123" in run.stderr or "RFC 1123" in run.stderr), run.stderr
    assert "no kubeconfig" not in run.stderr and "Traceback" not in run.stderr


def test_the_emulator_starts_two_weeks_into_the_data_by_default() -> None:
    """README: "It starts two weeks into the data by default, so indicators have history to warm up on"; never
    later than a day before the data ends, and an --at outside the data is refused."""
    from datetime import timedelta

    from hedgeops.cli_emulator import emulator_start
    from hedgeops.exchange.marketdata.replay import MarketReplay
    from hedgeops.local.runner import LocalRunError

    first, last = MarketReplay().common_window(MarketReplay.symbols())
    assert emulator_start(None, first, last) == first + timedelta(days=14)
    assert emulator_start(None, first, first + timedelta(days=10)) == first + timedelta(days=9)
    assert emulator_start(first + timedelta(days=1), first, last) == first + timedelta(days=1)
    with pytest.raises(LocalRunError, match="outside the data"):
        emulator_start(last, first, last)

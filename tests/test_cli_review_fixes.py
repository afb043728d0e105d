"""A hostile review of the CLI: `local` and `backtest` read and refuse what `validate` does, say their warnings off a
terminal, stop on SIGTERM with a summary (a backtest's report marked PARTIAL), keep a failed validation's exit code
through a closed pipe, and say up front what cannot work (no kubeconfig for the operator, no crds/ folder, a name no
object can have, an empty plan id, a window clipped by the data or too short for any price)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hedgeops.cli import main

from .conftest import ROOT, free_port

EXAMPLES = ROOT / "manifests" / "examples"
SPOT, COMPACT = str(EXAMPLES / "hedgebook-spot.yaml"), str(EXAMPLES / "rebalancepolicy-compact.yaml")


def hedgeops(*args: str, cwd: Path = ROOT, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hedgeops.cli", *args], cwd=cwd, capture_output=True, text=True,
                          **{"timeout": 120, **kw})  # type: ignore[call-overload]


def _one_line_error(err: str, says: str) -> None:
    lines = err.splitlines()
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("hedgeops: error: "), err
    assert says in lines[0], err


# 1. `local` reads what `validate` reads, and refuses a book without its policy before the run.

def test_local_reads_subfolders_json_and_stdin_as_validate_does(tmp_path: Path) -> None:
    import yaml

    from hedgeops.manifests import load_resources

    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "spot.yaml").write_text(Path(SPOT).read_text())
    (tmp_path / "policy.json").write_text(json.dumps(yaml.safe_load(Path(COMPACT).read_text())))
    (tmp_path / "README.md").write_text("not a manifest")
    assert hedgeops("validate", str(tmp_path)).returncode == 0
    notes: list[str] = []
    found = load_resources([tmp_path], notes=notes)
    assert sorted(r.key for r in found) == ["default/compact", "default/spot-bag"]
    assert notes == [f"{tmp_path / 'README.md'}: skipped (not a .yaml, .yml or .json file)"]
    # `-` is stdin, as for validate; the whole run on it.
    run = hedgeops("local", "-", str(tmp_path / "policy.json"), "--for", "1h", "-o", "json",
                   input=Path(SPOT).read_text())
    assert run.returncode == 0, run.stderr
    assert [b["book"] for b in json.loads(run.stdout)["books"]] == ["default/spot-bag"]


def test_local_on_a_tree_refuses_what_validate_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    """`local manifests/` said "no .yaml or .yml files in this folder"; it reads the tree and names the invalid
    manifests validate names."""
    assert main(["validate", str(ROOT / "manifests")]) == 1
    problems = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note: ")]
    assert main(["local", str(ROOT / "manifests")]) == 2
    err = capsys.readouterr().err
    assert "no .yaml or .yml files" not in err and "Traceback" not in err
    assert err.startswith(f"hedgeops: error: the manifests cannot run ({len(problems)} problems):"), err[:300]
    assert [line.strip() for line in err.splitlines()[1:]] == problems


@pytest.mark.parametrize("command", ["local", "backtest"])
def test_a_book_without_its_policy_is_refused_before_the_run(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    window = ["--for", "1d"] if command == "local" else ["--to", "2025-01-02"]
    assert main([command, SPOT, "--from", "2025-01-01", *window]) == 2
    _one_line_error(capsys.readouterr().err, "HedgeBook default/spot-bag needs RebalancePolicy default/compact")
    assert time.monotonic() - began < 5  # before any data is loaded, let alone replayed


def test_warnings_are_said_once_on_stderr_off_a_terminal(tmp_path: Path) -> None:
    """Piped or -o json, the run's warnings were dropped (SharedPositions, interrupted): one line each now, once per
    object and reason, however many cycles repeat it."""
    jlp = (EXAMPLES / "hedgebook-jlp.yaml").read_text()
    (tmp_path / "a.yaml").write_text(jlp)
    (tmp_path / "b.yaml").write_text(jlp.replace("name: jlp", "name: jlp-twin"))
    (tmp_path / "p.yaml").write_text((EXAMPLES / "rebalancepolicy-adaptive.yaml").read_text())
    for output in ("json", "text"):
        run = hedgeops("local", str(tmp_path), "--for", "2h", "-o", output)
        assert run.returncode == 0, run.stderr
        warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
        shared = [w for w in warnings if "SharedPositions" in w]
        assert len(shared) == 1 and shared[0].startswith("warning: default/jlp-twin SharedPositions: "), warnings
        assert "owned by HedgeBook/default/jlp" in shared[0]
        dated = [tuple(w.split()[3:5]) for w in warnings if w[9].isdigit()]  # "warning: <day> <time> <key> <Reason>:"
        assert dated and len(dated) == len(set(dated)), warnings
        assert "ExchangeUnavailable" not in run.stderr  # no price before the first bar closes: expected, not said


# 2. The same object twice is refused, as validate refuses it.

@pytest.mark.parametrize("command", ["local", "backtest"])
def test_the_same_object_twice_is_refused_with_validates_words(command: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(Path(SPOT).read_text())
    (tmp_path / "p.yaml").write_text(Path(COMPACT).read_text())
    assert main(["validate", str(tmp_path)]) == 1
    said = capsys.readouterr().err.strip()
    assert said.endswith(f"HedgeBook default/spot-bag is also defined in {tmp_path / 'a.yaml'} (document 1)")
    window = ["--for", "1d"] if command == "local" else ["--to", "2025-01-02"]
    assert main([command, str(tmp_path), "--from", "2025-01-01", *window]) == 2
    _one_line_error(capsys.readouterr().err, said)


# 3. A closed pipe keeps a decided result, else 141.

def _with_stdout_closed(*args: str) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "hedgeops.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader went away before the first line (`| head -0`)
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err, err[-2000:]
    return proc.returncode


def test_a_closed_pipe_keeps_a_failed_validation_failed_and_cuts_a_run_with_141() -> None:
    assert _with_stdout_closed("validate", "manifests/invalid/") == 1
    assert _with_stdout_closed("validate", "manifests/examples/") == 0
    assert _with_stdout_closed("local", SPOT, COMPACT, "--for", "2d") == 141  # cut mid-run: not "done"


# 4. SIGTERM stops a run as Ctrl+C does; a backtest's report is marked PARTIAL.

def test_sigterm_stops_a_backtest_with_a_partial_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = subprocess.Popen([sys.executable, "-m", "hedgeops.cli", "backtest", SPOT, COMPACT, "--from", "2025-01-01",
                             "--to", "2025-12-01", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()  # the first progress line: the run is under way
        assert "simulated" in first, first
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143 and "Traceback" not in err, err
    text = " ".join(rest.split())
    assert "PARTIAL: SIGTERM stopped it; asked for 2025-01-01 00:00 → 2025-12-01 00:00" in text
    assert "warning: interrupted (SIGTERM)" in err
    assert f"report: {out} (PARTIAL: SIGTERM stopped the run at 2025-" in err
    page = out.read_text()
    assert "(PARTIAL: stopped by SIGTERM)</h1>" in page
    assert 'class="partial" data-requested-to="2025-12-01T00:00:00+00:00" data-to="2025-' in page


# 5. No kubeconfig: one line, exit 2, before kopf.

def test_the_operator_without_a_kubeconfig_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    env["KUBECONFIG"] = str(tmp_path / "nonexistent")
    run = hedgeops("operator", "--liveness", "", env=env, timeout=60)
    assert run.returncode == 2
    _one_line_error(run.stderr, f"no kubeconfig at {tmp_path / 'nonexistent'}")


# 6. The emulator: its banner only once bound; one warning when the replay passes the data's end.

def test_the_emulator_says_no_banner_on_a_busy_port() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        run = hedgeops("emulator", "--port", str(busy.getsockname()[1]), "--api-key", "k", "--secret", "s",
                       "--passphrase", "p")
    assert run.returncode == 2
    _one_line_error(run.stderr, "cannot listen on 127.0.0.1:")


def test_the_emulator_warns_once_when_its_replay_passes_the_data() -> None:
    from hedgeops.exchange.marketdata.replay import MarketReplay

    _, last = MarketReplay().common_window(MarketReplay.symbols())
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hedgeops.cli", "emulator", "--port", str(port), "--api-key", "k",
                             "--secret", "s", "--passphrase", "p", "--at", (last - timedelta(minutes=1)).isoformat(),
                             "--speed", "30"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr
    assert stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(stderr.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(x.startswith("warning:") for x in lines):
            time.sleep(0.2)
        time.sleep(2.5)  # a minute of replay more: no second warning
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=10)
    assert lines[0].startswith(f"OKX v5 emulator on http://127.0.0.1:{port} replaying")
    assert [x.strip() for x in lines if x.startswith("warning:")] == [
        f"warning: the replay clock passed the end of the data ({last:%Y-%m-%d %H:%M} UTC): the emulator keeps "
        "serving, its prices stay at the last bar's and its timestamps keep advancing; restart it (--at) to replay "
        "real prices again"]


# 7. Windows: clipped said, too short said, progress never past 100 %, durations positive.

def test_a_window_clipped_by_the_data_is_said() -> None:
    run = hedgeops("local", SPOT, COMPACT, "--for", "1d", "--from", "2026-02-19T15:00", "-o", "json")
    assert run.returncode == 0, run.stderr
    assert ("note: the window asked for ends 2026-02-20 15:00, after the data: clipped to the data's end, "
            "2026-02-19 17:00") in run.stderr.splitlines()
    assert json.loads(run.stdout)["to"] == "2026-02-19T17:00:00+00:00"


@pytest.mark.parametrize(("args", "says"), [
    (["local", str(EXAMPLES), "--for", "5m"], "ends before the data's first bars close (2024-12-31 00:05)"),
    (["backtest", str(EXAMPLES), "--from", "2025-01-01", "--to", "2025-01-02", "--reset-breaker-after", "0h"],
     "--reset-breaker-after must be longer than 0s"),
])
def test_a_window_that_cannot_work_is_refused(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    _one_line_error(capsys.readouterr().err, says)


def test_progress_never_passes_100_percent(capsys: pytest.CaptureFixture[str]) -> None:
    from hedgeops.local.view import RunView, Tallies

    start = datetime(2025, 1, 1, tzinfo=UTC)
    with RunView(start, start + timedelta(minutes=5), quiet=True) as view:
        view.update(start + timedelta(minutes=25), Tallies())
    assert capsys.readouterr().err.startswith("[100%] simulated 2025-01-01 00:25")


# 8. Said before anything is reached.

def test_crds_check_without_a_crds_folder_says_so(tmp_path: Path) -> None:
    run = hedgeops("crds", "--check", cwd=tmp_path)
    assert run.returncode == 2
    _one_line_error(run.stderr, f"no crds/ folder in {tmp_path}")


@pytest.mark.parametrize(("args", "says"), [
    (["journal", "hedgebook/JLP", "--redis-url", "redis://127.0.0.1:{closed}"], "'JLP' is not an object name"),
    (["journal", "hedgebook/jlp", "-n", "Bad_NS", "--redis-url", "redis://127.0.0.1:{closed}"], "RFC 1123"),
    (["approve", "hedgebook/jlp", ""], "the plan id is empty"),
])
def test_names_and_ids_are_checked_before_redis_or_a_kubeconfig(args: list[str], says: str,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    assert main([a.format(closed=free_port()) for a in args]) == 2
    _one_line_error(capsys.readouterr().err, says)

"""What a user of any CLI and any exporter expects (issue 18, first part): the version from the command and in the
metrics, process metrics, and a closed pipe taken quietly."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest
from prometheus_client import generate_latest

from hedgeops import __version__
from hedgeops.cli import main
from hedgeops.runtime.metrics import Metrics

from .conftest import ROOT


def hedgeops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hedgeops.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_version_from_the_flag_and_the_command() -> None:
    for args in (["--version"], ["version"]):
        res = hedgeops(*args)
        assert res.returncode == 0 and res.stdout.startswith(f"hedgeops {__version__} (Python 3."), args


def test_metrics_carry_build_info_and_process_metrics() -> None:
    text = generate_latest(Metrics().registry).decode()
    assert f'hedgeops_build_info{{python="{sys.version.split()[0]}",version="{__version__}"}} 1.0' in text
    for name in ("process_resident_memory_bytes", "process_start_time_seconds", "python_info"):
        assert f"\n{name}" in text, name


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    # `hedgeops … --json | head -c 1`: the reader closes its end before the summary is written.
    proc = subprocess.Popen([sys.executable, "-m", "hedgeops.cli", "local", "manifests/examples/", "--for", "1h",
                             "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_version_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version", "-o", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"version": __version__, "python": platform.python_version()} and err == ""
    assert main(["version", "--output", "text"]) == 0
    assert capsys.readouterr().out == f"hedgeops {__version__} (Python {platform.python_version()})\n"


def test_the_top_level_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    epilog = help_text[help_text.index("exit codes:"):]
    codes = [line.split()[0] for line in epilog.splitlines()[1:] if line[:3].strip().isdigit()]
    assert codes == ["0", "1", "2", "130", "141", "143"]  # 128 + SIGINT, SIGPIPE, SIGTERM
    for words in ("refused", "usage error", "hedgeops: error:", "interrupted", "-o json", "completion"):
        assert words in epilog, words

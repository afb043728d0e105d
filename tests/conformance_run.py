"""Running a plain script (nothing of HedgeOps imported in it) against a freshly started `hedgeops emulator`
subprocess with default flags: what the conformance tests of both dialects share."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .conftest import ROOT, free_port


def run_against_fresh_emulator(tmp_path: Path, script: str, emulator_args: list[str], ready_path: str,
                               script_args: list[str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """Start the emulator on a free port (`emulator_args`: dialect and credentials), wait until `ready_path`
    answers, run `script` with the base URL then `script_args`. Returns the script's run and what the emulator
    printed on stderr (its banner), once stopped."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    emulator = subprocess.Popen([sys.executable, "-m", "hedgeops.cli", "emulator", "--port", str(port),
                                 *emulator_args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        deadline = time.monotonic() + 60  # it loads every served series first: seconds, more on a busy machine
        while True:
            try:
                with urllib.request.urlopen(url + ready_path, timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if emulator.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the emulator did not start: {emulator.communicate(timeout=5)}") from None
                time.sleep(0.1)
        path = tmp_path / "conformance.py"
        path.write_text(script)
        run = subprocess.run([sys.executable, str(path), url, *script_args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    finally:
        emulator.terminate()
        try:
            _, err = emulator.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
            _, err = emulator.communicate()
    return run, err

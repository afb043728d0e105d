"""The frontier picture, looked at: headless Chromium renders docs/hedge_frontier.svg and the screenshot shows
both panels' points and every named policy's marker in its colour (a picture that fails to draw, or draws a
blank, fails here). The screenshot is kept under the test's tmp dir for a person to look at."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hedgeops.backtest.frontier_svg import STYLE

from .conftest import ROOT
from .png import colour_counts

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def test_the_frontier_picture_draws_in_a_real_browser(tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed; `make test` installs it with apt-get")
    shot = tmp_path / "hedge_frontier.png"
    svg = (ROOT / "docs" / "hedge_frontier.svg").as_uri()
    out = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--window-size=1120,480", f"--screenshot={shot}", svg],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and shot.exists(), out.stderr[-2000:]
    counts = colour_counts(shot)
    white = counts[(255, 255, 255)]
    assert white < sum(counts.values()) * 0.98  # not blank
    for name, (colour, _label) in STYLE.items():
        # Every family and named policy is drawn: its exact fill colour covers some pixels (legend and markers).
        assert counts[_rgb(colour)] > 20, (name, colour)

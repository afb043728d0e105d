"""A README block between two markers, rewritten by a benchmark and read back by its test (the hedging study's
and the carry history's)."""

from __future__ import annotations

import re


def replace_between(text: str, block: str, begin: str, end: str) -> str:
    """`text` with the block from `begin` to `end` replaced by `block` (the markers must be there)."""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"the README has no {begin} … {end} block")
    return pattern.sub(lambda _: block, text, count=1)


def between(text: str, begin: str, end: str) -> str:
    """The block from `begin` to `end`, markers included ("" when there is none)."""
    m = re.search(re.escape(begin) + r".*?" + re.escape(end), text, re.S)
    return m.group(0) if m else ""

"""Local mode reads Http holdings from the user's own machine (README: "local mode allows them: it runs your own
files on your machine"), where the operator refuses private destinations by default: a book whose holdings come
from a loopback endpoint is hedged from what the endpoint says, and a dead endpoint stops it trading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp.web
import pytest
import yaml

from hedgeops.local.runner import LocalOptions, run_local

from .conftest import ROOT

START = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
async def endpoint() -> AsyncIterator[dict[str, Any]]:
    state: dict[str, Any] = {"hits": 0, "doc": {"pool": {"sol": "40"}}}

    async def handle(_: aiohttp.web.Request) -> aiohttp.web.Response:
        state["hits"] += 1
        return aiohttp.web.json_response(state["doc"])

    app = aiohttp.web.Application()
    app.router.add_get("/holdings", handle)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/holdings"  # type: ignore[union-attr]
    yield state
    await runner.cleanup()


def manifests(tmp_path: Path, url: str) -> Path:
    book = {"apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook",
            "metadata": {"name": "from-http", "namespace": "default"},
            "spec": {"mode": "Paper", "exchange": {"name": "okx", "account": "http"},
                     "holdings": {"source": "Http", "http": {"url": url, "refreshSeconds": 600,
                                                             "paths": {"SOL": "pool.sol"}}},
                     "objective": {"type": "Hedge", "hedgeRatio": 1},
                     "legs": [{"asset": "SOL", "symbol": "SOL/USDT:USDT"}], "policyRef": {"name": "compact"}}}
    policy = yaml.safe_load((ROOT / "manifests" / "examples" / "rebalancepolicy-compact.yaml").read_text())
    (tmp_path / "book.yaml").write_text(yaml.safe_dump_all([book, policy]))
    return tmp_path


async def test_local_mode_hedges_from_a_loopback_http_source(endpoint: dict[str, Any], tmp_path: Path) -> None:
    summary = await run_local(LocalOptions([manifests(tmp_path, endpoint["url"])], timedelta(hours=6), START,
                                           json=True))
    book = summary["books"][0]
    assert book["book"] == "default/from-http" and book["state"] == "Ready", book
    assert endpoint["hits"] >= 1 and book["rebalances"] >= 1  # the 40 SOL were read and hedged


async def test_local_mode_does_not_trade_when_the_source_is_unreadable(endpoint: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    endpoint["doc"] = {"pool": {}}  # the path is missing: HoldingsUnavailable, nothing trades
    summary = await run_local(LocalOptions([manifests(tmp_path, endpoint["url"])], timedelta(hours=6), START,
                                           json=True))
    book = summary["books"][0]
    assert book["state"] == "HoldingsUnavailable" and book["rebalances"] == 0, book

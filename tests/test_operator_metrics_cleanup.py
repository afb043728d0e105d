"""A deleted object's metric series leave with it (issue 18), kopf on kmock: otherwise a Degraded book that is
deleted keeps its `hedgeops_degraded 1` and pages until the operator restarts."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import pytest

from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS, POLICIES, example

pytestmark = pytest.mark.slow


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {}


async def test_a_deleted_books_series_are_removed(cluster: tuple[ClusterEmulator, str],
                                                  operator: dict[str, Any]) -> None:
    kube, _ = cluster
    url = f"http://127.0.0.1:{operator['metrics_port']}/metrics"
    scraped = {"text": ""}

    async def scrape() -> str:
        try:
            scraped["text"] = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
        except urllib.error.URLError:  # the operator's metrics server not listening yet (a loaded machine): poll on
            scraped["text"] = ""
        return scraped["text"]

    assert (await kube.post(POLICIES, json=example("rebalancepolicy-compact.yaml"))).status == 201
    for name in ("spot-bag", "keeper"):
        book = example("hedgebook-spot.yaml")
        book["metadata"]["name"] = name
        book["spec"]["exchange"]["account"] = f"{name}-account"  # each its own account: no shared positions
        assert (await kube.post(BOOKS, json=book)).status == 201

    async def both_observed() -> bool:
        text = await scrape()
        return all(f'hedgeops_ready{{kind="HedgeBook",mode="Paper",name="{n}",namespace="default"}} 1.0' in text
                   for n in ("spot-bag", "keeper"))

    await wait_until(both_observed, "both books' series")
    assert 'hedgeops_deviation_ratio{asset="ETH",mode="Paper",name="spot-bag"' in scraped["text"]

    assert (await kube.delete(f"{BOOKS}/spot-bag")).status == 200

    async def gone() -> bool:
        text = await scrape()  # account-level series (locks) belong to the account, which is still there
        return 'name="spot-bag"' not in text

    try:
        await wait_until(gone, "the deleted book's series to go")
    except AssertionError as exc:
        left = [line for line in scraped["text"].splitlines() if '="spot-bag"' in line]
        raise AssertionError(f"{exc}; still there: {left[:6]}") from None
    # The other book keeps every series it had, and keeps being observed.
    assert 'hedgeops_ready{kind="HedgeBook",mode="Paper",name="keeper",namespace="default"} 1.0' in scraped["text"]
    assert 'hedgeops_deviation_ratio{asset="ETH",mode="Paper",name="keeper",namespace="default"}' in scraped["text"]


async def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.2)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


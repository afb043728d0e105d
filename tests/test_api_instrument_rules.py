"""A HedgeBook's instrument rules (seed 001 review): the API server refuses what the model refuses, each with its
message, and the model refuses it with the field named. A coin-margined future, an impossible expiry, an instrument
named twice, a Spot instrument the holdings already read, instruments on an Allocation book, a Future or Option
on a venue whose dated markets are never loaded, and a Spot balance beside an option settled in it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hedgeops.api.hedgebook import HedgeBookSpec

from .conftest import ROOT
from .kube_emulator import ClusterEmulator
from .operator_fixtures import BOOKS

INVALID = ROOT / "manifests" / "invalid"
# Each new manifests/invalid file and the words the API server's refusal and the model's must carry.
REFUSED = {
    "instrument-future-inverse.yaml": ("a Future must be linear", "coin-margined (inverse) future"),
    "instrument-expiry-month-13.yaml": ("should match", "should match pattern"),
    "instrument-named-twice.yaml": ("named twice", "named twice"),
    "instrument-spot-is-the-holding.yaml": ("would count twice", "would count twice"),
    "instrument-on-allocation.yaml": ("instruments count in a Hedge book", "instruments count in a Hedge book"),
    "instrument-future-not-on-okx.yaml": ("need exchange.name okx", "need exchange.name okx"),
    "instrument-spot-and-btc-settled-option.yaml": ("details.eq", "details.eq"),
}


def manifest(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((INVALID / name).read_text())
    return doc


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_model_refuses_each_naming_why(name: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(REFUSED[name][1])):
        HedgeBookSpec.model_validate(manifest(name)["spec"])


async def test_the_api_server_refuses_each_with_its_message(cluster: tuple[ClusterEmulator, str]) -> None:
    kube, _ = cluster
    for name, (api_words, _) in sorted(REFUSED.items()):
        resp = await kube.post(BOOKS, json=manifest(name))
        text = await resp.text()
        assert resp.status == 422 and api_words in text, f"{name}: {resp.status} {text}"


async def test_what_the_rules_leave_alone_is_admitted(cluster: tuple[ClusterEmulator, str]) -> None:
    """The linear future, a USDT-settled option beside the Spot balance, the last day of a month, each once."""
    kube, _ = cluster
    doc = manifest("instrument-spot-and-btc-settled-option.yaml")
    doc["spec"]["instruments"] = [
        {"asset": "BTC", "kind": "Spot", "reserve": 0.1},
        {"asset": "BTC", "kind": "Future", "symbol": "BTC/USDT:USDT-261231"},
        {"asset": "BTC", "kind": "Option", "symbol": "BTC/USDT:USDT-261231-100000-C"},
        {"asset": "BTC", "kind": "Option", "symbol": "BTC/USD:BTC-261231-100000-P"}]
    with pytest.raises(ValidationError, match=r"details\.eq"):  # the BTC-settled one beside the Spot balance
        HedgeBookSpec.model_validate(doc["spec"])
    doc["spec"]["instruments"].pop()
    HedgeBookSpec.model_validate(doc["spec"])
    resp = await kube.post(BOOKS, json=doc)
    assert resp.status == 201, await resp.text()

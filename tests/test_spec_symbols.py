"""A spec trades only what it holds: a leg's symbol is its asset's linear swap, a carry pair's legs share a base,
pairs are unique and the margin guard cannot be switched off — refused by the CRD's CEL rules AND the models."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from pydantic import ValidationError

from hedgeops.api import KINDS
from hedgeops.api.crd import crd_for
from hedgeops.api.validate import ManifestError, parse_resource, schema_problems

HEDGEBOOK: dict[str, Any] = {
    "apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeBook", "metadata": {"name": "b"},
    "spec": {"holdings": {"source": "Static", "static": {"SOL": 25}},
    "legs": [{"asset": "SOL", "symbol": "SOL/USDT:USDT"}], "policyRef": {"name": "p"}},
}
CARRY: dict[str, Any] = {
    "apiVersion": "hedgeops.io/v1alpha1", "kind": "FundingArbitrage", "metadata": {"name": "c"},
    "spec": {"pairs": [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"}], "capital": {"amountQuote": 10000},
             "exit": {"stopLossRatio": -0.02}},
}
MAKER: dict[str, Any] = {
    "apiVersion": "hedgeops.io/v1alpha1", "kind": "MarketMaker", "metadata": {"name": "m"},
    "spec": {"symbol": "SOL/USDT:USDT", "spreadRatio": 0.001, "quantity": 1, "positionThreshold": 5,
             "maxPosition": 10, "stopLossQuote": -50},
}


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node = out["spec"]
    *head, last = path.split(".")
    for key in head:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return out


def _fields(problems: list[Any]) -> list[str]:
    return [p.field for p in problems]


def _refused_by_cel_and_model(doc: dict[str, Any], field: str, words: str) -> None:
    """The CRD (schema + CEL) refuses it naming `field`, and the model alone refuses it too."""
    cel = schema_problems(doc)
    assert any(p.field == field and re.search(words, p.message) for p in cel), cel
    with pytest.raises(ManifestError) as err:
        parse_resource(doc)
    assert field in _fields(err.value.problems)
    with pytest.raises(ValidationError, match=words):
        KINDS[doc["kind"]].model_validate(doc)


@pytest.mark.parametrize("symbol", ["BTC/USDT:USDT", "SOLX/USDT:USDT"])
def test_a_leg_on_another_assets_perp_is_refused(symbol: str) -> None:
    """{asset: SOL, symbol: BTC/USDT:USDT} shorted 17.5 BTC to hedge 25 SOL."""
    doc = _with(HEDGEBOOK, "legs", [{"asset": "SOL", "symbol": symbol}])
    _refused_by_cel_and_model(doc, "spec.legs[0].symbol", "base must be the leg's asset")


def test_a_leg_on_an_inverse_swap_is_refused_by_cel() -> None:
    """SETTLE must equal QUOTE (a linear swap); the pattern alone cannot say so, CEL does."""
    doc = _with(HEDGEBOOK, "legs", [{"asset": "SOL", "symbol": "SOL/USD:SOL"}])
    _refused_by_cel_and_model(doc, "spec.legs[0].symbol", "linear")


def test_a_leg_on_a_spot_market_is_refused() -> None:
    """symbol: SOL/USDT (spot) sold 17.5 SOL of spot every cycle."""
    doc = _with(HEDGEBOOK, "legs", [{"asset": "SOL", "symbol": "SOL/USDT"}])
    problems = schema_problems(doc)
    assert any(p.field == "spec.legs[0].symbol" for p in problems), problems
    with pytest.raises(ValidationError, match="symbol"):
        KINDS["HedgeBook"].model_validate(doc)


def test_the_legs_asset_and_its_linear_swap_pass() -> None:
    assert schema_problems(HEDGEBOOK) == []
    doc = _with(HEDGEBOOK, "legs", [{"asset": "SOL", "symbol": "SOL/USDC:USDC"}])
    assert schema_problems(doc) == []
    parse_resource(doc)


@pytest.mark.parametrize("symbol", ["SOL/USD:SOL", "SOL/USDT:USDC"])
def test_a_market_maker_on_a_swap_that_is_not_linear_is_refused(symbol: str) -> None:
    _refused_by_cel_and_model(_with(MAKER, "symbol", symbol), "spec.symbol", "linear")


def test_a_market_maker_on_a_linear_swap_passes() -> None:
    assert schema_problems(MAKER) == []
    parse_resource(MAKER)


def test_a_carry_pair_whose_bases_differ_is_refused() -> None:
    """Long BTC spot against short ETH perp is not delta-neutral."""
    doc = _with(CARRY, "pairs", [{"spot": "BTC/USDT", "perp": "ETH/USDT:USDT"}])
    _refused_by_cel_and_model(doc, "spec.pairs[0].perp", "same base")


def test_a_carry_pair_on_an_inverse_perp_is_refused() -> None:
    doc = _with(CARRY, "pairs", [{"spot": "ETH/USD", "perp": "ETH/USD:ETH"}])
    _refused_by_cel_and_model(doc, "spec.pairs[0].perp", "linear")


@pytest.mark.parametrize("second", [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"},
                                    {"spot": "ETH/USDC", "perp": "ETH/USDT:USDT"}])
def test_duplicate_carry_pairs_are_refused(second: dict[str, str]) -> None:
    """The same pair twice (or two spots on one perp) would have two pairs own one position."""
    doc = _with(CARRY, "pairs", [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"}, second])
    _refused_by_cel_and_model(doc, "spec.pairs", "one pair only")


@pytest.mark.parametrize("ratio", [1e-9, 0.05])
def test_an_emergency_margin_ratio_that_switches_the_guard_off_is_refused(ratio: float) -> None:
    doc = _with(CARRY, "rebalance", {"emergencyMarginRatio": ratio})
    problems = schema_problems(doc)
    assert any(p.field == "spec.rebalance.emergencyMarginRatio" for p in problems), problems
    with pytest.raises(ValidationError, match="emergencyMarginRatio"):
        KINDS["FundingArbitrage"].model_validate(doc)


def test_emergency_margin_ratio_must_stay_below_the_top_up_ratio() -> None:
    doc = _with(CARRY, "rebalance", {"topUpMarginRatio": 0.3, "emergencyMarginRatio": 0.4})
    _refused_by_cel_and_model(doc, "spec.rebalance.topUpMarginRatio", "above emergencyMarginRatio")


def test_the_seed_defaults_and_distinct_pairs_pass() -> None:
    doc = _with(CARRY, "pairs", [{"spot": "ETH/USDT", "perp": "ETH/USDT:USDT"},
                                 {"spot": "BTC/USDT", "perp": "BTC/USDT:USDT"}])
    doc = _with(doc, "rebalance", {"topUpMarginRatio": 0.8, "emergencyMarginRatio": 0.1})
    assert schema_problems(doc) == []
    parse_resource(doc)


# ---- CEL cost: every string, list and map a rule reads is bounded -------------------------------------------

_SELF_PATH = re.compile(r"\bself((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _unbounded(node: dict[str, Any], path: str) -> list[str]:
    """What a CEL cost estimator could not bound in `node` and everything under it that a rule could walk."""
    bad = []
    t = node.get("type")
    if t == "string" and "maxLength" not in node:
        bad.append(f"{path}: string without maxLength")
    if t == "array":
        if "maxItems" not in node:
            bad.append(f"{path}: list without maxItems")
        bad += _unbounded(node.get("items", {}), f"{path}[]")
    for name, sub in node.get("properties", {}).items():
        bad += _unbounded(sub, f"{path}.{name}")
    if t == "object" and isinstance(node.get("additionalProperties"), dict):
        if "maxProperties" not in node:
            bad.append(f"{path}: map without maxProperties")
        bad += _unbounded(node["additionalProperties"], f"{path}.*")
    return bad


def _rule_reads(node: dict[str, Any], path: str) -> list[str]:
    """For every rule under `node`: the fields it reads that are unbounded."""
    bad: list[str] = []
    for r in node.get("x-kubernetes-validations", []):
        if not r["rule"].startswith("self.all(k, k.matches("):  # key-pattern rules read the (bounded) keys
            targets: list[tuple[dict[str, Any], str]] = []
            for match in _SELF_PATH.finditer(r["rule"]):
                sub, where = node, path
                for name in match.group(1).strip(".").split("."):
                    if name not in sub.get("properties", {}):
                        break  # a method (split, size) or a field of a map value: the last field is read
                    sub, where = sub["properties"][name], f"{where}.{name}"
                targets.append((sub, where))
            bad += [b for sub, where in targets for b in _unbounded(sub, where)]
    for name, sub in node.get("properties", {}).items():
        bad += _rule_reads(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        bad += _rule_reads(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        bad += _rule_reads(node["additionalProperties"], f"{path}.*")
    return bad


@pytest.mark.parametrize("kind", ["HedgeBook", "FundingArbitrage", "MarketMaker"])
def test_every_field_a_rule_reads_is_bounded(kind: str) -> None:
    """A real API server estimates a rule's cost from maxLength/maxItems/maxProperties: none may be unbounded."""
    spec = crd_for(KINDS[kind])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert sorted(set(_rule_reads(spec, "spec"))) == []

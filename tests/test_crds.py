"""CRDs are generated from the models; examples pass; invalid examples are refused naming the field."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hedgeops.api import KINDS
from hedgeops.api.crd import crd_for, render_all
from hedgeops.api.validate import ManifestError, parse_resource, schema_problems
from hedgeops.manifests import load_resources, read_documents

from .conftest import ROOT
from .crd_schema import compile_node

INVALID = sorted((ROOT / "manifests" / "invalid").glob("*.yaml"))


def test_committed_crds_equal_generated() -> None:
    for name, text in render_all().items():
        for folder in (ROOT / "crds", ROOT / "charts" / "hedgeops" / "files" / "crds"):
            committed = folder / name
            assert committed.exists(), f"{committed} missing; run `hedgeops crds`"
            assert committed.read_text() == text, f"{committed} is stale; run `hedgeops crds`"


def _walk(node: dict[str, Any], path: str) -> list[str]:
    """Structural-schema violations: nodes without type, unions, refs, missing descriptions."""
    bad = []
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        bad.append(f"{path}: no type")
    for key in ("$ref", "anyOf", "oneOf", "allOf", "patternProperties", "propertyNames", "title"):
        if key in node:
            bad.append(f"{path}: has {key}")
    for name, sub in node.get("properties", {}).items():
        if not sub.get("description"):
            bad.append(f"{path}.{name}: no description")
        bad += _walk(sub, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        bad += _walk(node["additionalProperties"], f"{path}.*")
    if isinstance(node.get("items"), dict):
        bad += _walk(node["items"], f"{path}[]")
    return bad


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_crd_is_structural_and_described(kind: str) -> None:
    crd = crd_for(KINDS[kind])
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert "hedgeops" in crd["spec"]["names"]["categories"]
    assert crd["spec"]["names"]["shortNames"]
    assert any(c["name"] == "Ready" for c in version["additionalPrinterColumns"])
    schema = version["schema"]["openAPIV3Schema"]
    assert _walk(schema["properties"]["spec"], "spec") == []
    assert _walk(schema["properties"]["status"], "status") == []
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"


def test_cross_field_rules_are_cel() -> None:
    text = (ROOT / "crds" / "hedgebooks.hedgeops.io.yaml").read_text()
    assert "x-kubernetes-validations" in text and "hedgeRatioOverrides.all(" in text


def test_leverage_capped_in_schema() -> None:
    spec = crd_for(KINDS["FundingArbitrage"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["leverage"]["maximum"] == 3
    assert "stopLossRatio" in spec["properties"]["exit"]["required"]


def test_examples_validate() -> None:
    kinds = {r.kind for r in load_resources([ROOT / "manifests" / "examples"])}
    assert kinds == set(KINDS)


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_examples_are_refused_naming_the_field(path: Path) -> None:
    expect = path.read_text().splitlines()[0].removeprefix("# expect:").strip()
    assert expect.startswith("spec"), f"{path.name} needs an '# expect: <field>' first line"
    (doc,) = read_documents(path)
    with pytest.raises(ManifestError) as err:
        parse_resource(doc, path.name)
    fields = [p.field for p in err.value.problems]
    assert any(f == expect or f.startswith(expect + ".") for f in fields), (expect, err.value.problems)


def test_models_refuse_what_the_schema_refuses_even_when_bypassed() -> None:
    """The pydantic models hold the same rules: a caller that skips the CRD still cannot build a bad object."""
    (doc,) = read_documents(ROOT / "manifests" / "invalid" / "leverage-above-3.yaml")
    with pytest.raises(Exception, match="leverage"):
        KINDS["FundingArbitrage"].model_validate(doc)
    (doc,) = read_documents(ROOT / "manifests" / "invalid" / "leg-not-held.yaml")
    with pytest.raises(Exception, match="not held"):
        KINDS["HedgeBook"].model_validate(doc)


def test_defaults_apply_before_cel() -> None:
    """objective.type defaults to Hedge before rules run (as the API server defaults before validating)."""
    doc = yaml.safe_load((ROOT / "manifests" / "examples" / "hedgebook-spot.yaml").read_text())
    del doc["spec"]["objective"]["type"]
    assert schema_problems(doc) == []


def test_unknown_kind_is_named() -> None:
    problems = schema_problems({"apiVersion": "hedgeops.io/v1alpha1", "kind": "HedgeFund", "spec": {}})
    assert problems[0].field == "kind" and "HedgeFund" in problems[0].message


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_examples_are_refused_by_the_models_alone(path: Path) -> None:
    """Every refusal holds without the API server too (an object stored before a rule existed, a bypassed CRD)."""
    (doc,) = read_documents(path)
    with pytest.raises(ValidationError):
        KINDS[doc["kind"]].model_validate(doc)


def test_the_generator_refuses_an_unbounded_string_list_or_map() -> None:
    """The API server cannot bound a rule's cost over an unbounded field: the generator refuses to write one."""
    from pydantic import Field as F

    from hedgeops.api.common import Schema
    from hedgeops.api.crd import SchemaError, model_schema

    class Loose(Schema):
        text: str = F(description="free text")

    class Listed(Schema):
        items: list[int] = F(default_factory=list, description="numbers")

    class Mapped(Schema):
        weights: dict[str, int] = F(default_factory=dict, description="weights")

    for model, words in ((Loose, "string without maxLength"), (Listed, "list without maxItems"),
                         (Mapped, "map without maxProperties")):
        with pytest.raises(SchemaError, match=words):
            model_schema(model, "spec")


def test_object_fields_default_to_their_models_whole_default_document() -> None:
    spec = crd_for(KINDS["HedgeBook"])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["exchange"]["default"] == {"name": "okx", "account": "default", "sandbox": False}
    assert spec["properties"]["legs"]["x-kubernetes-list-type"] == "map"
    assert spec["properties"]["legs"]["x-kubernetes-list-map-keys"] == ["asset"]


def test_a_status_message_longer_than_its_bound_is_clipped_not_refused() -> None:
    """One exchange error text must not make the API server refuse the whole status write."""
    from hedgeops.api.common import CONDITION_MESSAGE_LENGTH, Condition
    from hedgeops.api.funding import CarryLegStatus

    leg = CarryLegStatus(spot="ETH/USDT", perp="ETH/USDT:USDT", spotQty=1, perpQty=-1, message="x" * 10_000)
    assert leg.message is not None and len(leg.message) == 4096 and leg.message.endswith("…")
    cond = Condition(type="Ready", status="False", reason="Failed", message="y" * 40_000)
    assert len(cond.message) == CONDITION_MESSAGE_LENGTH


def test_the_readmes_kubectl_get_hedgebooks_shows_the_crds_columns() -> None:
    """The example output has kubectl's columns for a HedgeBook: NAME, then every printer column without a priority
    (priority 1 shows only with `-o wide`), a `date` column printed as an age."""
    columns = crd_for(KINDS["HedgeBook"])["spec"]["versions"][0]["additionalPrinterColumns"]
    shown = [c for c in columns if not c.get("priority")]
    text = (ROOT / "README.md").read_text()
    header, row = text.split("watch `kubectl get hedgebooks`:\n\n```\n", 1)[1].split("\n")[:2]
    assert header.split() == ["NAME", *(c["name"].upper() for c in shown)]
    cells = dict(zip(header.split(), row.split(), strict=True))
    assert cells["MODE"] == "Paper" and cells["OBJECTIVE"] == "Hedge"
    for c in shown:
        if c["type"] == "date":
            assert re.fullmatch(r"\d+[smhd]", cells[c["name"].upper()]), c["name"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_crds_defaults_pass_the_api_servers_check_when_the_crd_is_created(kind: str) -> None:
    """kube-apiserver validates each default as written, CEL rules included (oldSelf the default itself), with
    no nested default filled in: `default: {}` under `self.name == oldSelf.name` made three of the four CRDs
    refused at `kubectl apply -f crds/`. tests/crd_schema.py does the same check, so every test that declares a
    CRD on the strict stand-in would fail too."""
    from .crd_schema import default_causes

    for version in crd_for(KINDS[kind])["spec"]["versions"]:
        root = compile_node(version["schema"]["openAPIV3Schema"])
        assert [str(c) for c in default_causes(root)] == []


def test_the_stand_in_refuses_a_default_its_own_rules_cannot_read() -> None:
    from .crd_schema import CustomResourceSchema, SchemaError

    crd = copy.deepcopy(crd_for(KINDS["MarketMaker"]))
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["exchange"]["default"] = {}
    with pytest.raises(SchemaError, match=r"properties\[exchange\]\.default: .*no such"):
        CustomResourceSchema.from_crd(crd)
    spec["properties"]["exchange"]["default"] = {"name": "okx", "account": "default", "extra": 1}
    with pytest.raises(SchemaError, match="must not have unknown fields"):
        CustomResourceSchema.from_crd(crd)

"""`hedgeops validate` judges a manifest as `kubectl apply` and the API server would: a manifest without `spec`
(a typo, `specs:`) is one field-named problem in the file's report, not a crash of the whole run; unknown fields at
the top level and in metadata are refused as strict field validation refuses them; label and annotation keys are
checked; and a YAML float with no fraction passes an integer field, as kubectl sends it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hedgeops.api.validate import go_numbers, schema_problems

from .conftest import ROOT
from .test_validate_ci import hedgeops

EXAMPLES = ROOT / "manifests" / "examples"


def book() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "hedgebook-jlp.yaml").read_text())
    return doc


def problems(doc: dict[str, Any]) -> list[str]:
    return [str(p) for p in schema_problems(doc)]


def test_a_manifest_without_spec_is_a_problem_in_its_file_and_the_rest_of_the_folder_is_still_judged(
        tmp_path: Path) -> None:
    for example in EXAMPLES.glob("*.yaml"):
        shutil.copy(example, tmp_path / example.name)
    (tmp_path / "typo.yaml").write_text((EXAMPLES / "hedgebook-jlp.yaml").read_text().replace("\nspec:", "\nspecs:"))
    out = hedgeops("validate", str(tmp_path))
    assert out.returncode == 1 and "Traceback" not in out.stderr and "KeyError" not in out.stderr
    lines = out.stdout + out.stderr
    assert 'typo.yaml: HedgeBook/jlp: specs: unknown field "specs"' in lines
    assert "typo.yaml: HedgeBook/jlp: (root): 'spec' is a required property" in lines
    assert lines.count("ok  ") >= 10  # every other file still reported


@pytest.mark.parametrize(("change", "said"), [
    (lambda d: d.update(extra=1), 'extra: unknown field "extra"'),
    (lambda d: d["metadata"].update(bogus=1), 'metadata.bogus: unknown field "metadata.bogus"'),
    (lambda d: d["metadata"].update(labels={"bad label!": "x"}), "metadata.labels: Invalid value: 'bad label!'"),
    (lambda d: d["metadata"].update(labels={"ok": "bad value!"}), "metadata.labels: Invalid value: 'bad value!'"),
    (lambda d: d["metadata"].update(labels={"Not.A/x": "y"}), "prefix part must be a lowercase RFC 1123"),
    (lambda d: d["metadata"].update(annotations={"a" * 64: "y"}), "name part must consist"),
    (lambda d: d["metadata"].update(annotations={"x": 1}), "metadata.annotations.x: must be a string"),
])
def test_what_strict_field_validation_and_metadata_validation_refuse(change: Any, said: str) -> None:
    doc = book()
    change(doc)
    assert any(said in p for p in problems(doc)), problems(doc)


def test_good_labels_and_annotations_pass() -> None:
    doc = book()
    doc["metadata"]["labels"] = {"app.kubernetes.io/part-of": "hedgeops", "tier": "", "x_y.z-1": "v.1_2-3"}
    doc["metadata"]["annotations"] = {"hedgeops.io/halt": "maintenance window: 10 min", "note": ""}
    assert problems(doc) == []


def test_an_integral_float_passes_an_integer_field_as_kubectl_sends_it() -> None:
    doc = yaml.safe_load((EXAMPLES / "rebalancepolicy-compact.yaml").read_text())
    doc["spec"]["checkIntervalSeconds"] = 60.0
    assert problems(doc) == []
    doc["spec"]["checkIntervalSeconds"] = 60.5
    assert any("checkIntervalSeconds" in p for p in problems(doc))
    assert go_numbers({"a": [6e1, 1e21, 0.5, True]}) == {"a": [60, 1e21, 0.5, True]}

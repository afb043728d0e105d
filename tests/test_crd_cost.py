"""Every CEL rule of every CRD within the API server's static cost budget, with a 10x margin.

The API server estimates each rule's worst-case cost from the schema's bounds when the CRD is created and refuses
the CRD over its limits (k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation/validation.go:
StaticEstimatedCostLimit = 10,000,000 per rule x cardinality, StaticEstimatedCRDCostLimit = 100,000,000 per CRD;
the runtime PerCallLimit in k8s.io/apiserver/pkg/apis/cel/config.go is 1,000,000 per evaluation). tests/crd_cost.py
models that estimate, rounding up; see its docstring for the sources.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from hedgeops.api import KINDS
from hedgeops.api.crd import crd_for

from .conftest import ROOT
from .crd_cost import (
    STATIC_ESTIMATED_COST_LIMIT,
    STATIC_ESTIMATED_CRD_COST_LIMIT,
    RuleCost,
    expression_cost,
    rule_costs,
)

MARGIN = 10
# The last commit before the CRDs were bounded (issue 14): maps and strings without maxProperties/maxLength.
UNBOUNDED_COMMIT = "a500806"


def _costs(crd: dict[str, Any]) -> list[RuleCost]:
    return rule_costs(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def _old_crd(plural: str) -> dict[str, Any]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history")
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{UNBOUNDED_COMMIT}:crds/{plural}.hedgeops.io.yaml"],
                           capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        pytest.skip(f"commit {UNBOUNDED_COMMIT} is not in this clone")
    crd: dict[str, Any] = yaml.safe_load(shown.stdout)
    return crd


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_rule_and_the_crd_within_a_tenth_of_the_budget(kind: str) -> None:
    costs = _costs(crd_for(KINDS[kind]))
    assert costs, "every kind has CEL rules"
    over = [c for c in costs if c.total * MARGIN > STATIC_ESTIMATED_COST_LIMIT]
    assert over == [], [f"{c.path}: {c.total:,} ({c.per_call:,} x {c.cardinality}) {c.rule}" for c in over]
    total = sum(c.total for c in costs)
    assert total * MARGIN <= STATIC_ESTIMATED_CRD_COST_LIMIT, f"{kind}: total {total:,}"


def test_the_worst_rule_of_all_crds() -> None:
    """The figure to report: today the HedgeBook rule that refuses a Spot balance beside an option settled in the
    same asset (20 instruments x 20, each option's symbol matched by a regular expression), about 4% of the limit;
    before it, the FundingArbitrage pair-uniqueness rule (50 pairs x 50), about 1%."""
    costs = [c for kind in KINDS for c in _costs(crd_for(KINDS[kind]))]
    worst = max(costs, key=lambda c: c.total)
    assert worst.total * 20 < STATIC_ESTIMATED_COST_LIMIT, (worst.path, f"{worst.total:,}", worst.rule)
    assert worst.path == ".spec" and "s.kind == 'Spot'" in worst.rule and "o.kind == 'Option'" in worst.rule
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"(worst today: {worst.total:,} of {STATIC_ESTIMATED_COST_LIMIT:,}, the HedgeBook rule" in readme


@pytest.mark.parametrize("plural", ["hedgebooks", "rebalancepolicies"])
def test_the_unbounded_crds_were_over_the_budget(plural: str) -> None:
    """The same estimate refuses the CRDs as they were before maps, lists and strings were bounded: the legs'
    O(n^2) uniqueness rule and the key rules over unbounded maps."""
    costs = _costs(_old_crd(plural))
    worst = max(c.total for c in costs)
    total = sum(c.total for c in costs)
    assert worst > STATIC_ESTIMATED_COST_LIMIT or total > STATIC_ESTIMATED_CRD_COST_LIMIT, (worst, total)


def test_the_estimate_grows_with_the_bounds() -> None:
    """Comprehensions multiply by the range's size, nested ones by both; `matches` by string x regex length."""
    keyed = {"type": "object", "maxProperties": 10, "additionalProperties": {"type": "number"}}
    bigger = {**keyed, "maxProperties": 100}
    rule = "self.all(k, k.matches('^[A-Z0-9]{2,12}$'))"
    assert expression_cost(rule, bigger) > 9 * expression_cost(rule, keyed)
    items = {"type": "array", "maxItems": 50,
             "items": {"type": "object", "properties": {"asset": {"type": "string", "maxLength": 12}}}}
    flat = expression_cost("self.all(l, l.asset.startsWith('A'))", items)
    nested = expression_cost("self.all(l, self.exists_one(m, m.asset == l.asset))", items)
    assert nested > 40 * flat
    unbounded = {"type": "string"}
    assert expression_cost("self.matches('^a+$')", unbounded) > STATIC_ESTIMATED_COST_LIMIT / 100

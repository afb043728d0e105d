"""What the kind e2e feeds the cluster, checked here where it cannot run: the objects it applies are valid, the
values it installs with pass the chart's schema, and the commands it types parse. A drift in the chart, the CRDs or
the CLI then fails in `make test`, not first in a user's CI."""

from __future__ import annotations

import helm_python as helm
import yaml

from hedgeops.api.validate import parse_resource
from hedgeops.cli import build_parser

from .conftest import ROOT
from .test_kind import manual_desk


def test_the_desk_objects_are_valid() -> None:
    docs = list(yaml.safe_load_all(manual_desk()))
    assert [(d["kind"], d["metadata"]["namespace"]) for d in docs] == [("RebalancePolicy", "desk"),
                                                                      ("HedgeBook", "desk")]
    for doc in docs:
        parse_resource(doc, f"e2e {doc['kind']}")


def test_the_install_values_and_the_commands_parse() -> None:
    helm.Chart.load(ROOT / "charts" / "hedgeops").validate_schema({"image": {"tag": "e2e", "pullPolicy": "Never"}})
    args = build_parser().parse_args(["approve", "hedgebook/spot-manual", "3f2a9c1e-7b0d44aa", "-n", "desk"])
    assert (args.ref, args.plan_id, args.namespace) == ("hedgebook/spot-manual", "3f2a9c1e-7b0d44aa", "desk")

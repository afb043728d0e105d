"""The shipped Grafana dashboard: one JSON (charts/hedgeops/files/grafana-dashboard.json, copied to
manifests/monitoring/), a ConfigMap Grafana's dashboard sidecar picks up, and panels that read only series HedgeOps
exports or records. That each query returns data from real scraped metrics is tested in tests/test_paging_e2e.py."""

from __future__ import annotations

import json
import re

import yaml

from hedgeops.runtime.metrics import Metrics

from .conftest import ROOT
from .monitoring_stack import dashboard_queries
from .test_chart import one, render

SOURCE = ROOT / "charts" / "hedgeops" / "files" / "grafana-dashboard.json"
RULES = ROOT / "manifests" / "monitoring" / "hedgeops-rules.yaml"


def test_the_configmap_carries_the_sidecar_label_and_the_dashboard_only_when_enabled() -> None:
    assert not [d for d in render() if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    docs = render({"grafanaDashboard": {"enabled": True, "folder": "Trading", "namespace": "monitoring"}})
    cm = one(docs, "ConfigMap", "hedgeops-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["labels"]["app.kubernetes.io/component"] == "dashboard"
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Trading"}
    assert json.loads(cm["data"]["hedgeops.json"]) == json.loads(SOURCE.read_text())
    other = one(render({"grafanaDashboard": {"enabled": True, "label": "dash", "labelValue": "yes"}}), "ConfigMap",
                "hedgeops-dashboard")
    assert other["metadata"]["labels"]["dash"] == "yes"


def test_the_plain_copy_is_the_charts() -> None:
    assert (ROOT / "manifests" / "monitoring" / "grafana-dashboard.json").read_text() == SOURCE.read_text()


def test_panels_read_only_exported_or_recorded_series_and_cover_the_four_areas() -> None:
    dash = json.loads(SOURCE.read_text())
    exported = {m._name for m in vars(Metrics()).values() if hasattr(m, "_labelnames")}
    exported |= {f"{n}_total" for n in exported} | {f"{n}_bucket" for n in exported}
    recorded = {r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r}
    for title, expr in dashboard_queries():
        names = set(re.findall(r"\b[a-z_]+:[a-z_0-9]+:[a-z_0-9]+\b|\bhedgeops_[a-z_]+", expr))
        assert names, title
        assert names <= exported | recorded, f"{title}: {names - exported - recorded}"
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert rows == ["Fleet", "HedgeBooks", "FundingArbitrage", "MarketMakers"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in dash["panels"])
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dash["panels"] if p["type"] != "row")

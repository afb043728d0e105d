"""Render the Helm chart into the plain manifests for users without Helm (and for Argo CD's directory apps):
manifests/install/hedgeops.yaml, manifests/monitoring/{prometheusrule,servicemonitor}.yaml, the plain Prometheus
rule file manifests/monitoring/hedgeops-rules.yaml (what `promtool` checks and tests), and Argo CD's health checks
manifests/argocd/argocd-cm-health.yaml (from manifests/argocd/health.lua).

    python scripts/render_manifests.py           # write them
    python scripts/render_manifests.py --check   # exit 1 if the committed files differ (a test runs this)

The chart is the one source; these are its output with the release name and namespace `hedgeops`.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "hedgeops"
RELEASE = NAMESPACE = "hedgeops"
HEADER = "# Generated from charts/hedgeops by scripts/render_manifests.py: edit the chart, not this file.\n"
MONITORING = {"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": True},
              "grafanaDashboard": {"enabled": True}}
# The plain install names the Redis password Secret instead of letting the chart generate one: a password generated
# at render time would be committed to git (and change at every render).
REDIS_AUTH = "hedgeops-redis-auth"
INSTALL = {"redis": {"auth": {"existingSecret": {"name": REDIS_AUTH, "key": "password"}}}}
INSTALL_NOTE = f"""\
# Before applying: the bundled Redis requires a password from the Secret {REDIS_AUTH} (key `password`), which this
# file does not hold. Create it once (letters and digits: the password goes into a redis:// URL):
#   kubectl create namespace {NAMESPACE}
#   kubectl -n {NAMESPACE} create secret generic {REDIS_AUTH} \\
#     --from-literal=password="$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | head -c 32)"
# NetworkPolicies below: only the operator reaches Redis, only the ingress-nginx controller (namespace ingress-nginx)
# the webhook, only Prometheus (namespace monitoring) the metrics. Edit their `from` for your cluster.
"""


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path (inside the chart) -> rendered text, without NOTES.txt, test hooks and empty templates."""
    out = helm.Chart.load(CHART).render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    # `helm test` hooks (templates/tests/) run only under `helm test`: `kubectl apply` would start them at once.
    return {path.split("/", 1)[1]: text for path, text in sorted(out.items())
            if not path.endswith("NOTES.txt") and "/templates/tests/" not in path and text.strip()}


def _join(parts: dict[str, str], note: str = "") -> str:
    return HEADER + note + "".join(f"---\n# Source: {path}\n{text.strip()}\n" for path, text in parts.items())


def rules_file(prometheus_rule: str) -> str:
    """The PrometheusRule's groups as a plain Prometheus rule file."""
    doc = yaml.safe_load(prometheus_rule)
    job = re.search(r'up\{job="([^"]+)"\}', prometheus_rule)
    note = "" if job is None else (
        f'# HedgeOpsOperatorDown reads up{{job="{job.group(1)}"}}: the job label of the ServiceMonitor in this\n'
        "# folder. Scraping the operator with another scrape config? Replace that job name below with yours (or\n"
        "# render the chart with --set prometheusRule.job=<yours>), or the absent() half keeps the alert firing.\n")
    return HEADER + note + yaml.safe_dump({"groups": doc["spec"]["groups"]}, sort_keys=False, width=120)


KINDS = ("HedgeBook", "RebalancePolicy", "FundingArbitrage", "MarketMaker")


def argocd_health(lua: str) -> str:
    """argocd-cm entries registering the health script for each kind (merge into your argocd-cm)."""
    body = "".join(f"  resource.customizations.health.hedgeops.io_{kind}: |\n{textwrap.indent(lua, '    ')}"
                   for kind in KINDS)
    return ("# Generated from manifests/argocd/health.lua by scripts/render_manifests.py. Merge into Argo CD's own:\n"
            "#   kubectl -n argocd patch configmap argocd-cm --patch-file manifests/argocd/argocd-cm-health.yaml\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n"
            "  labels:\n    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\n"
            f"data:\n{body}")


def expected() -> dict[Path, str]:
    install = render(INSTALL)
    monitoring = render(MONITORING)
    namespace = yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return {
        ROOT / "manifests/install/hedgeops.yaml": _join({"namespace.yaml": namespace, **install}, INSTALL_NOTE),
        ROOT / "manifests/monitoring/prometheusrule.yaml": _join(
            {"templates/prometheusrule.yaml": monitoring["templates/prometheusrule.yaml"]}),
        ROOT / "manifests/monitoring/servicemonitor.yaml": _join(
            {"templates/servicemonitor.yaml": monitoring["templates/servicemonitor.yaml"]}),
        ROOT / "manifests/monitoring/hedgeops-rules.yaml": rules_file(monitoring["templates/prometheusrule.yaml"]),
        ROOT / "manifests/monitoring/grafana-dashboard.json": (CHART / "files/grafana-dashboard.json").read_text(
            encoding="utf-8"),
        ROOT / "manifests/monitoring/grafana-dashboard-configmap.yaml": _join(
            {"templates/grafana-dashboard.yaml": monitoring["templates/grafana-dashboard.yaml"]}),
        ROOT / "manifests/argocd/argocd-cm-health.yaml": argocd_health(
            (ROOT / "manifests/argocd/health.lua").read_text(encoding="utf-8")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the committed files differ")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run `python scripts/render_manifests.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

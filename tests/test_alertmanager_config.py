"""The shipped Alertmanager routing (manifests/monitoring/alertmanager.yaml), checked by the real `amtool`
(Debian's prometheus-alertmanager): it parses, its commented receivers parse once uncommented, and each kind of
alert reaches the receiver it should (Live critical pages, Paper and warnings go to chat)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT

CONFIG = ROOT / "manifests" / "monitoring" / "alertmanager.yaml"
RULES = ROOT / "manifests" / "monitoring" / "hedgeops-rules.yaml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    if binary is None:
        pytest.fail("amtool is not installed; `make test` installs Debian's prometheus-alertmanager with apt-get")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_the_config_passes_amtool() -> None:
    res = amtool("check-config", str(CONFIG))
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr


def test_the_commented_receivers_are_valid_once_uncommented(tmp_path: Path) -> None:
    head, receivers = CONFIG.read_text().split("\nreceivers:\n")
    uncommented = re.sub(r"^(\s*)# (?=[a-z_ -])", r"\1", receivers, flags=re.M)
    assert all(k in uncommented for k in ("telegram_configs", "pagerduty_configs", "slack_configs"))
    path = tmp_path / "all.yaml"
    path.write_text(head + "\nreceivers:\n" + uncommented)
    res = amtool("check-config", str(path))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("labels, receiver", [
    ({"alertname": "HedgeOpsObjectDegraded", "severity": "critical", "mode": "Live", "source": "hedgeops"}, "pager"),
    ({"alertname": "HedgeOpsLockStoreDown", "severity": "critical", "source": "hedgeops"}, "pager"),  # no mode: Live
    ({"alertname": "HedgeOpsObjectDegraded", "severity": "critical", "mode": "Paper", "source": "hedgeops"}, "chat"),
    ({"alertname": "HedgeBookOutOfBand", "severity": "warning", "mode": "Live", "source": "hedgeops"}, "chat"),
    # Not ours: the rest of the cluster's alerts stay with the user's own routes.
    ({"alertname": "KubeAPIDown", "severity": "critical"}, "default"),
    ({"alertname": "Watchdog", "severity": "none"}, "default"),
])
def test_each_alert_reaches_its_receiver(labels: dict[str, str], receiver: str) -> None:
    res = amtool("config", "routes", "test", f"--config.file={CONFIG}", *(f"{k}={v}" for k, v in labels.items()))
    assert res.stdout.strip() == receiver, res.stdout + res.stderr


def test_every_severity_the_rules_use_is_routed_and_the_inhibitions_name_real_alerts() -> None:
    alerts = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert {a["labels"]["severity"] for a in alerts.values()} == {"critical", "warning"}
    assert {a["labels"].get("source") for a in alerts.values()} == {"hedgeops"}  # what the routing matches on
    config = yaml.safe_load(CONFIG.read_text())
    named = {m.split('"')[1] for rule in config["inhibit_rules"]
             for m in rule["source_matchers"] + rule["target_matchers"] if m.startswith('alertname="')}
    assert named and named <= set(alerts)


# ---- the same routing as a Prometheus Operator AlertmanagerConfig (chart value alertmanagerConfig.enabled) --------

_DURATION = {"type": "string", "pattern": r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
                                          r"(([0-9]+)ms)?$"}
_MATCHER = {"type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1}, "value": {"type": "string"},
                           "matchType": {"enum": ["=", "!=", "=~", "!~"]}, "regex": {"type": "boolean"}}}
_ROUTE: dict[str, Any] = {
    "type": "object", "additionalProperties": False,  # child routes are decoded with DisallowUnknownFields
    "properties": {"receiver": {"type": "string"}, "groupBy": {"type": "array", "items": {"type": "string"}},
                   "groupWait": _DURATION, "groupInterval": _DURATION, "repeatInterval": _DURATION,
                   "matchers": {"type": "array", "items": _MATCHER}, "continue": {"type": "boolean"},
                   "routes": {"type": "array", "items": {"$ref": "#/$defs/route"}},
                   "muteTimeIntervals": {"type": "array"}, "activeTimeIntervals": {"type": "array"}}}
# What HedgeOps emits, held to monitoring.coreos.com/v1alpha1 as prometheus-operator's Go types define it
# (pkg/apis/monitoring/v1alpha1/alertmanager_config_types.go): unknown fields refused, matchType an enum.
AMCONFIG_SCHEMA = {
    "$defs": {"route": _ROUTE},
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1alpha1"}, "kind": {"const": "AlertmanagerConfig"},
        "spec": {"type": "object", "additionalProperties": False, "properties": {
            "route": {"$ref": "#/$defs/route"},
            "inhibitRules": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "properties": {"sourceMatch": {"type": "array", "items": _MATCHER},
                               "targetMatch": {"type": "array", "items": _MATCHER},
                               "equal": {"type": "array", "items": {"type": "string"}}}}},
            "receivers": {"type": "array", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string", "minLength": 1},
                               "webhookConfigs": {"type": "array", "items": {
                                   "type": "object", "additionalProperties": False,
                                   "properties": {"url": {"type": "string"}, "sendResolved": {"type": "boolean"},
                                                  "urlSecret": {"type": "object"}, "httpConfig": {"type": "object"},
                                                  "maxAlerts": {"type": "integer"}, "timeout": _DURATION}}}},
                "propertyNames": {"pattern": "^(name|[a-z0-9]+Configs)$"}}},
            "muteTimeIntervals": {"type": "array"}}}}}


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """An AlertmanagerConfig's spec as alertmanager.yml (what the Prometheus Operator generates, without the
    namespace matcher it adds under the default matcher strategy)."""
    def matchers(ms: list[dict[str, str]]) -> list[str]:
        return [f'{m["name"]}{m.get("matchType", "=")}"{m["value"]}"' for m in ms]

    def route(r: dict[str, Any]) -> dict[str, Any]:
        keys = {"receiver": "receiver", "groupBy": "group_by", "groupWait": "group_wait",
                "groupInterval": "group_interval", "repeatInterval": "repeat_interval"}
        out: dict[str, Any] = {keys[k]: v for k, v in r.items() if k in keys}
        if "matchers" in r:
            out["matchers"] = matchers(r["matchers"])
        if "routes" in r:
            out["routes"] = [route(c) for c in r["routes"]]
        return out

    spec = config["spec"]
    return {"route": route(spec["route"]),
            "inhibit_rules": [{"source_matchers": matchers(i["sourceMatch"]),
                               "target_matchers": matchers(i["targetMatch"])} for i in spec["inhibitRules"]],
            "receivers": [{"name": r["name"], "webhook_configs": [
                {"url": w["url"], "send_resolved": w.get("sendResolved", False)} for w in r.get("webhookConfigs", [])]}
                for r in spec["receivers"]]}


def test_the_alertmanagerconfig_is_the_shipped_routing(tmp_path: Path) -> None:
    import jsonschema

    from .test_chart import one, render

    assert not [d for d in render() if d["kind"] == "AlertmanagerConfig"]
    with pytest.raises(Exception, match=r"needs alertmanagerConfig\.pager and \.chat"):
        render({"alertmanagerConfig": {"enabled": True}})  # an empty receiver would drop every alert
    hooks = {name: {"webhookConfigs": [{"url": f"http://gateway.monitoring.svc:9095/{name}", "sendResolved": True}]}
             for name in ("pager", "chat")}
    config = one(render({"alertmanagerConfig": {"enabled": True, **hooks}}), "AlertmanagerConfig")
    jsonschema.validate(config, AMCONFIG_SCHEMA)
    plain, shipped = _plain(config), yaml.safe_load(CONFIG.read_text())
    assert [plain["route"]] == shipped["route"]["routes"] and plain["inhibit_rules"] == shipped["inhibit_rules"]
    ours = [r["name"] for r in shipped["receivers"] if r["name"] != "default"]
    assert [r["name"] for r in plain["receivers"]] == ours
    path = tmp_path / "from-crd.yaml"  # as the Prometheus Operator nests it: under a root route of the user's
    path.write_text(yaml.safe_dump({**plain, "route": {"receiver": "chat", "routes": [plain["route"]]}}))
    res = amtool("check-config", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    # Receivers are the user's: any *Configs list, secrets by reference.
    telegram = {"telegramConfigs": [{"botToken": {"name": "telegram", "key": "token"}, "chatID": -100123}]}
    custom = one(render({"alertmanagerConfig": {"enabled": True, "chat": telegram, "pager": telegram}}),
                 "AlertmanagerConfig")
    assert custom["spec"]["receivers"][1] == {"name": "chat", **telegram}

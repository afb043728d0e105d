"""The shipped Alertmanager routing (manifests/monitoring/alertmanager.yaml), checked by the real `amtool`
(Debian's prometheus-alertmanager): it parses, its commented receivers parse once uncommented, and each kind of
alert reaches the receiver it should (Live critical pages, Paper and warnings go to chat)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

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
    ({"alertname": "HedgeOpsObjectDegraded", "severity": "critical", "mode": "Live"}, "pager"),
    ({"alertname": "HedgeOpsLockStoreDown", "severity": "critical"}, "pager"),  # no mode said: treated as Live
    ({"alertname": "HedgeOpsObjectDegraded", "severity": "critical", "mode": "Paper"}, "chat"),
    ({"alertname": "HedgeBookOutOfBand", "severity": "warning", "mode": "Live"}, "chat"),
])
def test_each_alert_reaches_its_receiver(labels: dict[str, str], receiver: str) -> None:
    res = amtool("config", "routes", "test", f"--config.file={CONFIG}", *(f"{k}={v}" for k, v in labels.items()))
    assert res.stdout.strip() == receiver, res.stdout + res.stderr


def test_every_severity_the_rules_use_is_routed_and_the_inhibitions_name_real_alerts() -> None:
    alerts = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert {a["labels"]["severity"] for a in alerts.values()} == {"critical", "warning"}
    config = yaml.safe_load(CONFIG.read_text())
    named = {m.split('"')[1] for rule in config["inhibit_rules"]
             for m in rule["source_matchers"] + rule["target_matchers"] if m.startswith('alertname="')}
    assert named and named <= set(alerts)

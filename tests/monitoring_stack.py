"""The real monitoring programs for the paging test: Debian's `prometheus` and `prometheus-alertmanager` on loopback
ports with the shipped rules and routing, and a webhook receiver standing for the pager and the chat.

Only time is changed: every rule's `for:` is read in seconds instead of minutes (5m waits 5 s), so the rules fire in
the order they would in production, sixty times sooner; Alertmanager groups after 1 s instead of 10-30 s. How long
each rule waits is tested apart, on promtool's simulated clock (tests/test_alert_rules.py)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from .conftest import ROOT, free_port

RULES = ROOT / "manifests" / "monitoring" / "hedgeops-rules.yaml"
ROUTING = ROOT / "manifests" / "monitoring" / "alertmanager.yaml"
DASHBOARD = ROOT / "manifests" / "monitoring" / "grafana-dashboard.json"
SERVICE_MONITOR = ROOT / "manifests" / "monitoring" / "servicemonitor.yaml"


def _binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs Debian's {package} with apt-get")
    return path


def scaled_rules() -> dict[str, Any]:
    """The shipped rules with each `for:` read in seconds (1m -> 1s, 5m -> 5s); expressions untouched."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                m = re.fullmatch(r"(\d+)([smh])", str(rule["for"]))
                assert m, rule["for"]
                seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
                rule["for"] = f"{max(1, seconds // 60)}s"
    return dict(doc)


def scaled_routing(webhook: str) -> dict[str, Any]:
    """The shipped routing, its receivers' URLs on the test's webhook (same paths), grouping after a second."""
    doc = yaml.safe_load(ROUTING.read_text())

    def fast(route: dict[str, Any]) -> None:
        for key, value in (("group_wait", "1s"), ("group_interval", "1s")):
            if key in route or route is doc["route"]:
                route[key] = value
        for child in route.get("routes", []):
            fast(child)

    fast(doc["route"])
    for receiver in doc["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook + urllib.parse.urlsplit(hook["url"]).path
    return dict(doc)


@dataclass
class Received:
    path: str
    alert: dict[str, Any]
    at: float  # time.monotonic()


@dataclass
class Webhook:
    """Receives Alertmanager's webhook posts: every firing alert, with the path (receiver) it came to."""

    url: str = ""
    alerts: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        now = time.monotonic()
        self.alerts.extend(Received(request.path, a, now) for a in body["alerts"] if a["status"] == "firing")
        return web.Response(text="ok")

    def named(self, alertname: str, path: str | None = None) -> list[Received]:
        return [r for r in self.alerts if r.alert["labels"].get("alertname") == alertname
                and (path is None or r.path == path)]


@dataclass
class Stack:
    prometheus: str
    alertmanager: str
    webhook: Webhook
    procs: list[subprocess.Popen[bytes]]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": promql, **({"time": str(at)} if at is not None else {})}
        url = f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def firing(self) -> list[dict[str, Any]]:
        """Alerts Prometheus has sent (state firing)."""
        with urllib.request.urlopen(f"{self.prometheus}/api/v1/alerts", timeout=10) as r:
            return [a for a in json.load(r)["data"]["alerts"] if a["state"] == "firing"]

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.alertmanager}/api/v2/alerts", timeout=10) as r:
            return list(json.load(r))


def _wait_ready(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else b""
            pytest.fail(f"{what} exited with {proc.returncode}: {err[-2000:]!r}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} did not become ready")


def _scrape_config(job: str, target: str) -> dict[str, Any]:
    """A scrape job as the Prometheus Operator makes it from the shipped ServiceMonitor: the target carries the
    Service's namespace, service, pod, container and endpoint labels, and `honor_labels` is the ServiceMonitor's.
    Without the same target labels, a clash between the series' `namespace` (the object's) and the target's would
    go unseen here."""
    monitor = next(d for d in yaml.safe_load_all(SERVICE_MONITOR.read_text()) if d)
    endpoint = monitor["spec"]["endpoints"][0]
    labels = {"namespace": monitor["metadata"]["namespace"], "service": f"{job}", "pod": f"{job}-7f9c4d-x2x7q",
              "container": "operator", "endpoint": endpoint["port"]}
    return {"job_name": job, "honor_labels": bool(endpoint.get("honorLabels", False)),
            "metrics_path": endpoint["path"], "static_configs": [{"targets": [target], "labels": labels}]}


async def start_stack(tmp: Path, targets: dict[str, str]) -> tuple[Stack, web.AppRunner]:
    """Webhook, Alertmanager, then Prometheus scraping `targets` (job -> host:port) every second."""
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/{receiver}", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    hook.url = f"http://127.0.0.1:{hook_port}"

    am_port, prom_port = free_port(), free_port()
    (tmp / "alertmanager.yaml").write_text(yaml.safe_dump(scaled_routing(hook.url)))
    am = subprocess.Popen([_binary("prometheus-alertmanager", "prometheus-alertmanager"),
                           f"--config.file={tmp / 'alertmanager.yaml'}", f"--storage.path={tmp / 'am'}",
                           f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    (tmp / "rules.yaml").write_text(yaml.safe_dump(scaled_rules(), sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yaml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [_scrape_config(job, target) for job, target in targets.items()],
    }
    (tmp / "prometheus.yaml").write_text(yaml.safe_dump(config))
    prom = subprocess.Popen([_binary("prometheus", "prometheus"), f"--config.file={tmp / 'prometheus.yaml'}",
                             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stack = Stack(f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}", hook, [am, prom])
    await asyncio.to_thread(_wait_ready, f"{stack.alertmanager}/-/ready", am, "alertmanager")
    await asyncio.to_thread(_wait_ready, f"{stack.prometheus}/-/ready", prom, "prometheus")
    return stack, runner


async def stop_stack(stack: Stack, runner: web.AppRunner) -> None:
    for proc in stack.procs:
        proc.terminate()
    for proc in stack.procs:
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
    await runner.cleanup()


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every panel target and template variable of the shipped dashboard, with Grafana's
    variables filled as a user viewing every object would have them."""
    dash = json.loads(DASHBOARD.read_text())
    out = [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":  # label_values(metric, label): Grafana asks for the label's values of the series
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
            assert m, var
            out.append((f"variable {var['name']}", f"count by ({m.group(2)}) ({m.group(1)})"))
    fill = {"$namespace": ".*", "$name": ".*", "$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
    return [(title, re.sub(r"\$\w+", lambda m: fill[m.group(0)], expr)) for title, expr in out]

"""A throw-away kind cluster with the operator image built from this checkout and loaded into it, and the tools to
drive it as a user does (kubectl, helm and the `hedgeops` command, each with the cluster's own kubeconfig)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("docker", "kind", "helm", "kubectl")
IMAGE = "ghcr.io/hedgeops/hedgeops:e2e"
T = TypeVar("T")


def unavailable() -> list[str]:
    """Why the e2e cannot run here (empty: it can): tools not on PATH, a Docker daemon that does not answer."""
    problems = []
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        problems.append(f"not found on PATH: {', '.join(missing)}")
    if "docker" not in missing:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              timeout=60)
        if info.returncode != 0 or not info.stdout.strip():
            said = (info.stderr.strip() or info.stdout.strip()).splitlines()
            problems.append(f"no Docker daemon answers ({said[-1][:200] if said else 'docker info failed'})")
    return problems


def skip_or_fail(reason: str) -> None:
    """Skip, unless HEDGEOPS_E2E_REQUIRED=1 (the CI workflow) says a skipped e2e is a failed one."""
    if os.environ.get("HEDGEOPS_E2E_REQUIRED") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@dataclass
class Cluster:
    """A kind cluster and a kubeconfig of its own (the user's ~/.kube/config is never touched)."""

    name: str
    kubeconfig: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def run(self, *cmd: str, timeout: float = 120, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """A command against this cluster; a failure names the command and shows its output."""
        done = subprocess.run(list(cmd), cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout,
                              input=stdin)
        if check and done.returncode != 0:
            pytest.fail(f"`{' '.join(cmd)}` exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                        f"\n{self.diagnostics()}", pytrace=False)
        return done

    def kubectl(self, *args: str, timeout: float = 120, stdin: str | None = None) -> str:
        return self.run("kubectl", *args, timeout=timeout, stdin=stdin).stdout

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def hedgeops(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The `hedgeops` command as a user runs it, from this checkout, with the cluster's kubeconfig."""
        return self.run(sys.executable, "-m", "hedgeops.cli", *args, timeout=120, check=False)

    def diagnostics(self) -> str:
        """What a person debugging a red run wants first: the pods, the operator's log, our objects."""
        parts = []
        for cmd in (["kubectl", "get", "pods", "-A", "-o", "wide"],
                    ["kubectl", "-n", "hedgeops", "logs", "deploy/hedgeops", "--tail=80", "--all-containers"],
                    ["kubectl", "get", "hedgeops", "-A", "-o", "yaml"],
                    ["kubectl", "get", "events", "-A", "--sort-by=.lastTimestamp"]):
            try:
                out = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=30)
                parts.append(f"$ {' '.join(cmd)}\n{(out.stdout + out.stderr)[-4000:]}")
            except (OSError, subprocess.TimeoutExpired) as exc:
                parts.append(f"$ {' '.join(cmd)}\n{exc}")
        return "\n".join(parts)

    def wait(self, what: str, probe: Callable[[], T | None], timeout: float = 180, every: float = 3) -> T:
        """Poll `probe` until it returns something truthy; on timeout fail with `what` and the diagnostics."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.diagnostics()}", pytrace=False)
            time.sleep(every)


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """kind cluster (node image: $KIND_NODE_IMAGE, default kind's own) with the operator image built and loaded;
    deleted afterwards unless HEDGEOPS_E2E_KEEP=1."""
    if problems := unavailable():
        skip_or_fail(f"kind e2e needs {', '.join(TOOLS)} and a running Docker daemon: {'; '.join(problems)}. "
                     "Run it where Docker exists: pytest tests/e2e -m e2e (tests/e2e/README.md)")
    if "e2e" not in (request.config.option.markexpr or ""):
        pytest.skip("the kind e2e (minutes: a cluster, an image build) runs only when selected: "
                    "pytest tests/e2e -m e2e")
    cluster = Cluster(os.environ.get("HEDGEOPS_E2E_CLUSTER", f"hedgeops-e2e-{os.getpid()}"),
                      tmp_path_factory.mktemp("kind") / "kubeconfig")
    create = ["kind", "create", "cluster", "--name", cluster.name, "--kubeconfig", str(cluster.kubeconfig),
              "--wait", "180s"]
    if os.environ.get("KIND_NODE_IMAGE"):
        create += ["--image", os.environ["KIND_NODE_IMAGE"]]
    try:
        cluster.run(*create, timeout=600)
        cluster.run("docker", "build", "-t", IMAGE, ".", timeout=1200)
        cluster.run("kind", "load", "docker-image", IMAGE, "--name", cluster.name, timeout=600)
        yield cluster
    finally:
        if os.environ.get("HEDGEOPS_E2E_KEEP") != "1":
            subprocess.run(["kind", "delete", "cluster", "--name", cluster.name], capture_output=True, timeout=300)

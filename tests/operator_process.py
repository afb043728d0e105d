"""`hedgeops operator` as a real child process (the installed console script), for the tests that need what a
thread cannot give: SIGKILL, and two operators side by side against one Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A free loopback port (here, not from conftest: bench/failover.py imports this module outside pytest)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OperatorProcess:
    identity: str
    proc: subprocess.Popen[bytes]
    metrics_port: int
    log: Path

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, no last write."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    async def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())

    def sample(self, text: str, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels`."""
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total


async def spawn(identity: str, kubeconfig: str, tmp_path: Path, env: dict[str, str]) -> OperatorProcess:
    """Start an operator process and wait until it serves /metrics (its start-up handler has run)."""
    port = free_port()
    log = tmp_path / f"operator-{identity}.log"
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEDGEOPS_")}
    full = {**base, "KUBECONFIG": kubeconfig, "HEDGEOPS_IDENTITY": identity, "HEDGEOPS_METRICS_PORT": str(port),
            "HEDGEOPS_METRICS_ADDR": "127.0.0.1", "HEDGEOPS_WEBHOOK_PORT": "off", "HEDGEOPS_TICK_SECONDS": "0.2",
            **env}
    exe = Path(sys.executable).parent / "hedgeops"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "operator", "--liveness", ""], env=full, stdout=out,
                                stderr=subprocess.STDOUT)
    op = OperatorProcess(identity, proc, port, log)
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"operator {identity} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            await op.metrics()
            return op
        except OSError:
            await asyncio.sleep(0.2)
    op.kill()
    raise AssertionError(f"operator {identity} did not start:\n{log.read_text()[-3000:]}")

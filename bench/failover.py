"""Failover of the operator's active replica: seconds from a SIGKILL to the standby's first completed cycle.

    python bench/failover.py [--runs 1] [--lease-duration 15] [--renew-deadline 10] [--retry 2] [--lock-ttl 15]
        [--json] [--write]

Two real `hedgeops operator` processes (active and standby, one coordination.k8s.io Lease) run kopf against the kmock
API server (tests/kube_emulator.py) and trade a Live book through real ccxt to the in-process OKX emulator, with a
real redis-server for the account locks and the journal. The active one is SIGKILLed at the worst moment: one leg of
a plan answered, the other at the exchange with its answer still in flight. The scenario is tests/failover.py's
(tests/test_operator_processes.py asserts it). Defaults are the chart's timings (charts/hedgeops/values.yaml).

Figures per run, seconds from the kill: `takeover_s` (the standby holds the Lease), `first_cycle_s` (its first
completed cycle), `recovered_s` (the half-sent plan completed by it); and `orders_sent_twice` (accepted orders
beyond the plan's two legs: must be 0). Expected: the lease duration plus up to one retry period, plus a cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the kmock API server, the emulator rig and the scenario live with the tests


async def _one(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    import kmock

    from tests.emulator_fixtures import start
    from tests.failover import measure_failover
    from tests.kube_emulator import ClusterEmulator, write_kubeconfig

    rigs = start()
    rig = await anext(rigs)
    try:
        async with ClusterEmulator() as kube, kmock.Server(kube) as server:
            kube.declare_crds(ROOT / "crds")
            kubeconfig = workdir / "kubeconfig"
            write_kubeconfig(kubeconfig, str(server.url), "bench")
            return await measure_failover(kube, str(kubeconfig), rig, env["HEDGEOPS_REDIS_URL"], workdir, env)
    finally:
        await rigs.aclose()  # stops the emulator's server


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.conftest import free_port, start_redis

    env = {"HEDGEOPS_LEASE_DURATION_SECONDS": str(args.lease_duration),
           "HEDGEOPS_LEASE_RENEW_DEADLINE_SECONDS": str(args.renew_deadline),
           "HEDGEOPS_LEASE_RETRY_SECONDS": str(args.retry), "HEDGEOPS_LOCK_TTL_SECONDS": str(args.lock_ttl),
           "HEDGEOPS_LOG_LEVEL": "WARNING"}
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            redis = start_redis(port, Path(tmp))
            try:
                url = f"redis://127.0.0.1:{port}/0"
                report = await _one(Path(tmp), {**env, "HEDGEOPS_REDIS_URL": url})
            finally:
                redis.terminate()
                redis.wait(10)
        report.pop("standby_log", None)
        report["orders_sent_twice"] = report["orders_total"] - 2
        print(f"run {i + 1}: standby leads at {report['takeover_s']} s, first cycle at {report['first_cycle_s']} s, "
              f"plan completed at {report['recovered_s']} s, orders sent twice: {report['orders_sent_twice']}",
              file=sys.stderr if args.json else sys.stdout, flush=True)
        runs.append(report)
    first = [r["first_cycle_s"] for r in runs]
    return {"lease_duration_s": args.lease_duration, "renew_deadline_s": args.renew_deadline, "retry_s": args.retry,
            "lock_ttl_s": args.lock_ttl, "runs": runs, "failover_s": max(first),
            "failover_s_median": statistics.median(first), "target_s": 30.0,
            "orders_sent_twice": sum(r["orders_sent_twice"] for r in runs),
            "target_met": max(first) < 30.0 and all(r["orders_sent_twice"] == 0 and r["positions_exact"] for r in runs)}


def main() -> int:
    chart = yaml.safe_load((ROOT / "charts" / "hedgeops" / "values.yaml").read_text())["operator"]
    election = chart["leaderElection"]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--lease-duration", type=float, default=float(election["leaseDurationSeconds"]))
    p.add_argument("--renew-deadline", type=float, default=float(election["renewDeadlineSeconds"]))
    p.add_argument("--retry", type=float, default=float(election["retrySeconds"]))
    p.add_argument("--lock-ttl", type=float, default=float(chart["lockTtlSeconds"]))
    p.add_argument("--json", action="store_true")
    p.add_argument("--write", action="store_true", help="store the figures in bench/results/failover.json")
    args = p.parse_args()
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if not 3 <= args.lease_duration <= 300 or not 2 * args.retry <= args.renew_deadline < args.lease_duration:
        p.error("need 3 <= --lease-duration <= 300 and 2 x --retry <= --renew-deadline < --lease-duration")
    if not 1 <= args.lock_ttl <= 600:
        p.error("--lock-ttl must be within 1..600")
    if shutil.which("redis-server") is None:
        p.error("redis-server is not installed (`make test` installs it with apt-get)")
    report = asyncio.run(run(args))
    if args.write:
        from _results import store

        store("failover", report)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            if key != "runs":
                print(f"{key:24} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

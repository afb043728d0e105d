"""`hedgeops operator`: run the kopf operator with HedgeOps' handlers."""

from __future__ import annotations

import asyncio
import os


def run_operator(namespaces: list[str], clusterwide: bool, liveness: str | None) -> int:
    import kopf

    from hedgeops.operator import handlers  # noqa: F401  (registers the handlers)

    # As `kopf run` does: INFO to stderr (HEDGEOPS_LOG_LEVEL=DEBUG for kopf's own detail, WARNING for quiet).
    level = os.environ.get("HEDGEOPS_LOG_LEVEL", "INFO").upper()
    kopf.configure(debug=level == "DEBUG", quiet=level == "WARNING", log_format=kopf.LogFormat.PLAIN)
    asyncio.run(kopf.operator(clusterwide=clusterwide, namespaces=namespaces, standalone=True,
                              liveness_endpoint=liveness or None))
    return 0

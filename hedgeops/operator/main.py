"""`hedgeops operator`: run the kopf operator with HedgeOps' handlers."""

from __future__ import annotations

import asyncio


def run_operator(namespaces: list[str], clusterwide: bool, liveness: str | None) -> int:
    import kopf

    from hedgeops.operator import handlers  # noqa: F401  (registers the handlers)

    asyncio.run(kopf.operator(clusterwide=clusterwide, namespaces=namespaces, standalone=True,
                              liveness_endpoint=liveness))
    return 0

"""`hedgeops operator`: run the kopf operator with HedgeOps' handlers."""

from __future__ import annotations

import asyncio

from hedgeops.operator import logs
from hedgeops.operator.settings import OperatorSettings


def run_operator(settings: OperatorSettings, namespaces: list[str], clusterwide: bool, liveness: str | None) -> int:
    import kopf

    from hedgeops.operator import handlers  # noqa: F401  (registers the handlers)

    # Before kopf logs anything, so that its lines come out in our format too (HEDGEOPS_LOG_FORMAT).
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(kopf.operator(clusterwide=clusterwide, namespaces=namespaces, standalone=True,
                              liveness_endpoint=liveness or None))
    return 0

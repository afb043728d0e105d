"""Who a halt reaches. Tenants are namespaces: a tenant may stop its own objects (the annotation, or a halt
ConfigMap in its namespace), and only the operator's own namespace stops everyone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hedgeops.engine.common.controls import HALT, halt_annotation

__all__ = ["HALT", "halt_in_force"]


def halt_in_force(meta: Mapping[str, Any], halts: Mapping[str | None, Iterable[Any]],
                  control_namespace: str) -> str | None:
    """Why the object with this metadata must not trade; None when it may. `halts`: the reasons of the halt
    ConfigMaps by their namespace."""
    own = halt_annotation(meta.get("annotations"))
    if own is not None:
        return own
    for namespace in (control_namespace, meta.get("namespace")):
        for reason in halts.get(namespace, []):
            return str(reason)
    return None

"""Who a halt reaches. Tenants are namespaces: a tenant may stop its own objects (the annotation, or a halt
ConfigMap in its namespace), and only the operator's own namespace stops everyone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

HALT = "hedgeops.io/halt"


def halt_in_force(meta: Mapping[str, Any], halts: Mapping[str | None, Iterable[Any]],
                  control_namespace: str) -> str | None:
    """Why the object with this metadata must not trade; None when it may. `halts`: the reasons of the halt
    ConfigMaps by their namespace."""
    if (meta.get("annotations") or {}).get(HALT, "").lower() == "true":
        return f"{HALT}=true is set on the object"
    for namespace in (control_namespace, meta.get("namespace")):
        for reason in halts.get(namespace, []):
            return str(reason)
    return None

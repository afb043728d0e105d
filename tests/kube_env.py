"""What the kubelet does with a container's `env` and `args`: secretKeyRef values and `$(VAR)` expansion, so chart
tests run a rendered container's command line and environment as a pod would, not as the YAML reads."""

from __future__ import annotations

import base64
import re
from typing import Any

_REF = re.compile(r"\$\$|\$\(([^)]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion: `$(NAME)` of a defined variable is its value, `$$` is `$`, anything else stays as is."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REF.sub(one, text)


def secrets_of(docs: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(Secret name, key) -> decoded value of every Secret among rendered documents."""
    out = {}
    for doc in docs:
        if doc["kind"] == "Secret":
            for key, value in (doc.get("data") or {}).items():
                out[(doc["metadata"]["name"], key)] = base64.b64decode(value).decode()
            for key, value in (doc.get("stringData") or {}).items():
                out[(doc["metadata"]["name"], key)] = value
    return out


def container_env(container: dict[str, Any], secrets: dict[tuple[str, str], str], pod: str = "pod-0",
                  namespace: str = "hedgeops") -> dict[str, str]:
    """The container's environment as its process sees it: each value expanded against the variables before it."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = expand(str(var["value"]), env)
            continue
        source = var["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            if (ref["name"], ref["key"]) not in secrets:  # the kubelet refuses to start the container
                raise KeyError(f"env {var['name']}: Secret {ref['name']} has no key {ref['key']}")
            env[var["name"]] = secrets[(ref["name"], ref["key"])]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[var["name"]] = pod
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = namespace
        else:
            raise NotImplementedError(f"env {var['name']}: {source}")
    return env


def command_line(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    """The container's args after expansion (the image's entrypoint comes first in a pod)."""
    return [expand(str(arg), env) for arg in container.get("command", []) + container.get("args", [])]

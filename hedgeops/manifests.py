"""Read manifests from files and folders, validated as the API server would."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from hedgeops.api.common import Resource
from hedgeops.api.validate import ManifestError, Problem, parse_resource


def manifest_files(paths: Iterable[str | Path]) -> list[Path]:
    """YAML files named or found (non-recursively) in the folders named, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.exists():
            files.append(path)
        else:
            raise ManifestError(str(path), [Problem(str(path), "no such file or folder")])
    return files


def read_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document in a file."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(str(path), [Problem(str(path), "not valid YAML: " + str(exc).replace("\n", " "))]) from None
    for d in docs:
        if not isinstance(d, dict):
            raise ManifestError(str(path), [Problem(str(path), "every YAML document must be a mapping (a manifest)")])
    return docs


def load_resources(paths: Iterable[str | Path]) -> list[Resource]:  # type: ignore[type-arg]
    """Every HedgeOps resource in the paths; ManifestError lists every refused document."""
    out: list[Resource] = []  # type: ignore[type-arg]
    errors: list[ManifestError] = []
    for path in manifest_files(paths):
        for i, doc in enumerate(read_documents(path)):
            name = (doc.get("metadata") or {}).get("name", f"#{i}")
            try:
                out.append(parse_resource(doc, f"{path}: {doc.get('kind', '?')}/{name}"))
            except ManifestError as exc:
                errors.append(exc)
    if errors:
        raise ManifestError("manifests", [Problem(e.source, "; ".join(map(str, e.problems))) for e in errors])
    return out

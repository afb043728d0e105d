"""Read manifests from files and folders, validated as the API server would."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from hedgeops import GROUP, VERSION
from hedgeops.api.common import Resource
from hedgeops.api.validate import ManifestError, Problem
from hedgeops.manifest_yaml import ManifestYamlError, load_all, shape_problems

# The API server stores objects of at most ~1.5 MiB; a manifest file several times that is a mistake or an attack.
MAX_FILE_BYTES = 8 << 20


def _refused(path: str | Path, message: str) -> ManifestError:
    return ManifestError(str(path), [Problem(str(path), message)])


def read_bounded(stream: BinaryIO, source: str | Path) -> str:
    """A stream (a file, stdin) as UTF-8 text (what kubectl reads), bounded in size."""
    try:
        raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _refused(source, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _refused(source, f"over {MAX_FILE_BYTES >> 20} MiB: not a manifest")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _refused(source, f"line {line}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); "
                               "save the file as UTF-8") from None


def _text(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            return read_bounded(fh, path)
    except OSError as exc:
        raise _refused(path, f"cannot read: {exc.strerror or exc}") from None


def parse_documents(text: str, source: str | Path) -> list[Any]:
    """Every non-empty YAML document of a text, as loaded (not yet checked to be mappings). None is an error."""
    try:
        docs = [d for d in load_all(text) if d is not None]
    except ManifestYamlError as exc:
        raise _refused(source, str(exc)) from None
    except yaml.YAMLError as exc:
        raise _refused(source, "not valid YAML: " + str(exc).replace("\n", " ")) from None
    if not docs:
        raise _refused(source, "no manifest in this file (it is empty or holds only comments)")
    return docs


def read_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document in a file; each must be a mapping. A file with none is an error."""
    docs = parse_documents(_text(path), path)
    problems: list[Problem] = []
    for i, d in enumerate(docs, 1):
        if not isinstance(d, dict):
            problems.append(Problem(f"{path}: document {i}", f"{type_words(d)}, not a mapping (a manifest)"))
        else:
            problems += [Problem(f"{path}: document {i}: {p.field}", p.message) for p in shape_problems(d)]
    if problems:
        raise ManifestError(str(path), problems)
    return docs


def type_words(value: object) -> str:
    """`a list`, `a string`: the YAML name of a value's type, for messages."""
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def envelope_problems(doc: dict[str, Any]) -> list[Problem]:
    """apiVersion, kind and metadata of the types the API server requires, before anything reads them."""
    problems = [Problem(key, f"expected a string, got {type_words(doc[key])}")
                for key in ("apiVersion", "kind") if key in doc and not isinstance(doc[key], str)]
    meta = doc.get("metadata")
    if "metadata" in doc and not isinstance(meta, dict):
        problems.append(Problem("metadata", f"expected a mapping, got {type_words(meta)}"))
    elif isinstance(meta, dict):
        problems += [Problem(f"metadata.{key}", f"expected a string, got {type_words(meta[key])}")
                     for key in ("name", "namespace") if key in meta and not isinstance(meta[key], str)]
    return problems


def is_ours(doc: dict[str, Any]) -> bool:
    """A HedgeOps object: its apiVersion is in our group (a wrong version or an unknown kind is then an error,
    not something to skip); with no apiVersion, a kind of ours."""
    from hedgeops.api import KINDS

    api_version = doc.get("apiVersion")
    if isinstance(api_version, str):
        return api_version.split("/", 1)[0] == GROUP
    return doc.get("kind") in KINDS


def foreign_group(doc: dict[str, Any]) -> Problem | None:
    """One of our kinds under another group (`hedgeop.io/v1alpha1`): not a kind to skip quietly, a typo that would
    leave the object unmanaged."""
    from hedgeops.api import KINDS

    api_version = doc.get("apiVersion")
    if is_ours(doc) or doc.get("kind") not in KINDS or not isinstance(api_version, str):
        return None
    return Problem("apiVersion", f"{api_version} is not a HedgeOps group: {doc['kind']} is {GROUP}/{VERSION}")


def load_resources(paths: Iterable[str | Path], skipped: list[str] | None = None,
                   stdin: BinaryIO | None = None, notes: list[str] | None = None) -> list[Resource]:  # type: ignore[type-arg]
    """Every HedgeOps resource in the paths, read exactly as `hedgeops validate` reads them (folders recursively,
    .yaml, .yml and .json, `-` for stdin) and refused as it refuses them: ManifestError, one Problem per line
    `validate` would print (an object defined twice in the tree included). Other kinds (a Secret, a ConfigMap beside
    the books) are skipped as `validate` skips them, each named in `skipped` when given; the files and folders not
    read (hidden, not a manifest, already read) in `notes`. manifest_report.UsageError when there is nothing to
    read or a path does not exist."""
    import sys

    from hedgeops.manifest_report import load

    report = load([str(p) for p in paths], stdin if stdin is not None else sys.stdin.buffer)
    if skipped is not None:
        skipped += report.skipped
    if notes is not None:
        notes += report.file_notes
    return report.resources

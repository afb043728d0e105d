"""`hedgeops validate` over a GitOps repository: files, folders (recursively) and stdin; HedgeOps objects checked
as the API server would, every other kind and every non-YAML file skipped with a note, one line per problem."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from hedgeops.api.common import Resource
from hedgeops.api.validate import ManifestError, Problem, parse_resource
from hedgeops.manifest_yaml import shape_problems
from hedgeops.manifests import envelope_problems, foreign_group, is_ours, parse_documents, read_bounded, type_words

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")  # what `kubectl apply -f <folder>` reads
STDIN = "-"


class UsageError(Exception):
    """The command was asked for something that is not there (no such path, nothing to read): exit 2."""


@dataclass
class Report:
    """What validation found, in the order found."""

    ok: list[str] = field(default_factory=list)  # "HedgeBook/default/jlp (file)"
    problems: list[str] = field(default_factory=list)  # "file: HedgeBook/jlp: spec.legs[0]: message"
    notes: list[str] = field(default_factory=list)  # "file: skipped ..."
    files: int = 0
    invalid_documents: int = 0
    skipped_documents: int = 0
    seen: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (kind, namespace, name) -> where
    # What `local` and `backtest` take from the same reading: the valid HedgeOps objects, in the order read; the
    # notes about files and folders (hidden, not a manifest, already read); each document of another kind skipped.
    resources: list[Resource] = field(default_factory=list)  # type: ignore[type-arg]
    file_notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verdict = "invalid" if self.problems else "valid"
        return (f"{verdict}: {self.files} file{'s' * (self.files != 1)}, {len(self.ok)} HedgeOps object"
                f"{'s' * (len(self.ok) != 1)} valid, {self.invalid_documents} invalid "
                f"({len(self.problems)} problem{'s' * (len(self.problems) != 1)}), "
                f"{self.skipped_documents} other document{'s' * (self.skipped_documents != 1)} skipped")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def sources(paths: Iterable[str], report: Report) -> Iterator[str]:
    """The files to read, in order: each path named (stdin for `-`), folders walked recursively in sorted order.
    Hidden folders (.git) and files that are not .yaml/.yml/.json in a folder are skipped with a note; a file
    named explicitly is read whatever its name. UsageError for a path that does not exist."""
    named = list(paths)
    if named.count(STDIN) > 1:
        raise UsageError("'-' (stdin) can be named only once")
    missing = [p for p in named if p != STDIN and not os.path.exists(p)]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    read: set[str] = set()  # real paths already read: a file named twice (or inside a folder named too) once

    def note(text: str) -> None:
        report.notes.append(text)
        report.file_notes.append(text)

    def once(path: str) -> bool:
        real = os.path.realpath(path)
        if real in read:
            note(f"{path}: skipped (already read)")
            return False
        read.add(real)
        return True

    for raw in named:
        if raw == STDIN or not os.path.isdir(raw):
            if raw == STDIN or once(raw):
                yield raw
            continue
        for folder, dirs, files in os.walk(raw):
            hidden = sorted(d for d in dirs if d.startswith("."))
            for d in hidden:
                note(f"{os.path.join(folder, d)}: skipped (hidden folder)")
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = os.path.join(folder, name)
                if not name.endswith(MANIFEST_SUFFIXES):
                    note(f"{path}: skipped (not a .yaml, .yml or .json file)")
                elif once(path):
                    yield path


def _documents(source: str, stdin: BinaryIO) -> list[Any]:
    """The documents of a file or of stdin; ManifestError for a file refused whole, OSError if unreadable."""
    if source == STDIN:
        return parse_documents(read_bounded(stdin, "<stdin>"), "<stdin>")
    with open(source, "rb") as fh:
        return parse_documents(read_bounded(fh, source), source)


def _label(doc: dict[str, Any], index: int) -> str:
    """How a document is named in messages: Kind/name when both are text, else its position in the file."""
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = doc.get("kind")
    return f"{kind}/{name}" if isinstance(kind, str) and isinstance(name, str) else f"document {index}"


def check_document(doc: Any, index: int, where: str, report: Report) -> None:
    """One document: refused with one line per problem, skipped with a note, or counted valid."""
    if not isinstance(doc, dict):
        report.invalid_documents += 1
        report.problems.append(f"{where}: document {index}: {type_words(doc)}, not a mapping (a manifest)")
        return
    label = _label(doc, index)
    shape = shape_problems(doc) or envelope_problems(doc)
    if shape:
        report.invalid_documents += 1
        report.problems += [f"{where}: {label}: {p.field}: {_one_line(p.message)}" for p in shape]
        return
    group = foreign_group(doc)
    if group is not None:
        report.invalid_documents += 1
        report.problems.append(f"{where}: {label}: {group.field}: {group.message}")
        return
    if not is_ours(doc):
        report.skipped_documents += 1
        report.skipped.append(f"{where}: document {index}: {doc.get('apiVersion')} {doc.get('kind')}: not a "
                              "HedgeOps kind, skipped")
        if "kind" not in doc and "apiVersion" not in doc:
            report.notes.append(f"{where}: {label}: skipped (not a Kubernetes object: no apiVersion or kind)")
        else:
            report.notes.append(f"{where}: {label}: skipped ({doc.get('apiVersion')} {doc.get('kind')}: "
                                "not a HedgeOps kind)")
        return
    try:
        resource = parse_resource(doc, where)
    except ManifestError as exc:
        report.invalid_documents += 1
        report.problems += [f"{where}: {label}: {p.field}: {_one_line(p.message)}" for p in exc.problems]
        return
    meta = doc.get("metadata") or {}
    identity = (str(doc["kind"]), str(meta.get("namespace") or ""), str(meta.get("name")))
    here = f"{where} (document {index})"
    first = report.seen.setdefault(identity, here)
    if first != here:  # kubectl apply keeps only the last of the two, Argo CD refuses to sync: refused here
        report.invalid_documents += 1
        report.problems.append(f"{where}: {label}: metadata.name: {identity[0]} {resource.key} is also defined "
                               f"in {first}")
        return
    report.ok.append(f"{resource.kind}/{resource.key} ({where})")
    report.resources.append(resource)


def validate(paths: Iterable[str], stdin: BinaryIO, what: str = "validate") -> Report:
    """Validate every manifest under `paths` (see `sources`). UsageError when there is nothing to `what`."""
    paths = list(paths)
    report = Report()
    for source in sources(paths, report):
        report.files += 1
        where = "<stdin>" if source == STDIN else source
        try:
            docs = _documents(source, stdin)
        except ManifestError as exc:
            report.invalid_documents += 1
            report.problems += [f"{where}: {_one_line(p.message)}" for p in exc.problems]
            continue
        except OSError as exc:
            report.invalid_documents += 1
            report.problems.append(f"{where}: cannot read: {exc.strerror or type(exc).__name__}")
            continue
        for i, doc in enumerate(docs, 1):
            check_document(doc, i, where, report)
    if report.files == 0:
        raise UsageError(f"nothing to {what}: no .yaml, .yml or .json file in {', '.join(paths)}")
    return report


def load(paths: Iterable[str], stdin: BinaryIO, what: str = "run") -> Report:
    """What `hedgeops local` and `backtest` run: exactly what `validate` reads (folders recursively, .json too,
    `-` for stdin), refused as `validate` refuses it (an object defined twice included). ManifestError holds one
    Problem per line `validate` would print, each the same words."""
    report = validate(paths, stdin, what)
    if report.problems:
        raise ManifestError("manifests", [Problem(*line.split(": ", 1)) if ": " in line else Problem(line, "")
                                          for line in report.problems])
    return report

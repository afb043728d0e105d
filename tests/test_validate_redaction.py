"""`hedgeops validate` and `local` name a refused field and say why, but never print a URL's password or token:
jsonschema's messages quote the value (`'ftp://user:pw@host/?token=x' does not match '^https?://'`), and the
README promises the query string of an Http holdings URL never appears in logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hedgeops.api.validate import redact_url, redacted, schema_problems

from .conftest import ROOT

EXAMPLES = ROOT / "manifests" / "examples"


def http_book(url: str) -> dict[str, Any]:
    book: dict[str, Any] = yaml.safe_load((EXAMPLES / "hedgebook-spot.yaml").read_text())
    book["spec"]["holdings"] = {"source": "Http", "http": {"url": url, "paths": {"SOL": "pool.sol"}}}
    return book


@pytest.mark.parametrize(("url", "shown"), [
    ("ftp://user:hunter2@internal/?token=SUPERSECRET", "ftp://***@internal/?token=***"),
    ("ftp://internal/h?token=SUPERSECRET&plain", "ftp://internal/h?token=***&***"),
    ("ftp://user:hun/ter2@internal/", "ftp://***@internal/"),  # a "/" in the password hides it whole
    ("file://internal/h#access_token=SUPERSECRET", "file://internal/h#access_token=***"),
])
def test_a_refused_url_is_named_without_its_credentials_or_query(url: str, shown: str) -> None:
    problems = schema_problems(http_book(url))
    assert [p.field for p in problems] == ["spec.holdings.http.url"], problems
    assert problems[0].message == f"{shown!r} does not match '^https?://'"
    assert redact_url(url) == shown


def test_a_value_too_long_is_redacted_too_and_other_messages_are_unchanged() -> None:
    url = "https://holdings.example/h?token=SUPERSECRET" + "x" * 2048
    (problem,) = schema_problems(http_book(url))
    assert "SUPERSECRET" not in problem.message and problem.message == \
        "'https://holdings.example/h?token=***' is too long"
    assert redacted("'ftp://internal/h' does not match", "ftp://internal/h") == "'ftp://internal/h' does not match"
    assert redacted("'a?b=1' is not valid", "a?b=1") == "'a?b=1' is not valid"  # not a URL: as it was


@pytest.mark.parametrize(("command", "code"), [("validate", 1), ("local", 2)])
def test_the_cli_never_prints_the_password_or_the_token(tmp_path: Path, command: str, code: int) -> None:
    (tmp_path / "book.yaml").write_text(yaml.safe_dump(http_book("ftp://user:hunter2@internal/?token=SUPERSECRET")))
    run = subprocess.run([sys.executable, "-m", "hedgeops.cli", command, str(tmp_path / "book.yaml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == code and "Traceback" not in out, out
    assert "spec.holdings.http.url" in out and "ftp://***@internal/?token=***" in out, out
    assert "hunter2" not in out and "SUPERSECRET" not in out, out


def test_an_unparseable_url_is_refused_by_validate(tmp_path: Path) -> None:
    """`http://[::1` matches the CRD's pattern: the models refuse it, without printing it."""
    (tmp_path / "book.yaml").write_text(yaml.safe_dump(http_book("http://[::1/h?token=SUPERSECRET")))
    run = subprocess.run([sys.executable, "-m", "hedgeops.cli", "validate", str(tmp_path / "book.yaml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "spec.holdings.http.url: does not parse as a URL" in run.stderr, run.stderr
    assert "SUPERSECRET" not in run.stdout + run.stderr

"""The operator image's Dockerfile and build context, read as text (no container engine on the project's machines; the
kind e2e builds the image for real): two stages with no build tool in the final one, the base image pinned by
digest, a numeric non-root user matching the chart's, the OCI labels, and a .dockerignore that lets in exactly what
the Dockerfile copies."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field

import pytest
import yaml

from .conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
OCI = ("title", "description", "source", "licenses", "version", "revision", "created")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def args(self, instruction: str) -> list[str]:
        return [rest for ins, rest in self.instructions if ins == instruction]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments and blank lines dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        word, _, rest = (pending + line).strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARGs (before the first FROM, with their defaults) and the stages."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins, rest in instructions(text):
        if ins == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            assert ins == "ARG", f"only ARG may come before the first FROM, not {ins}"
            key, _, default = rest.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append((ins, rest))
    return global_args, stages


GLOBAL_ARGS, STAGES = parse(DOCKERFILE.read_text(encoding="utf-8"))
FINAL = STAGES[-1]


def labels(stage: Stage) -> dict[str, str]:
    out = {}
    for rest in stage.args("LABEL"):
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            out[key] = value
    return out


def test_two_stages_and_the_final_one_gets_only_the_virtualenv_from_the_builder() -> None:
    assert len(STAGES) >= 2
    builder = STAGES[0]
    assert builder.name == "builder" and FINAL.base == builder.base == "${PYTHON_IMAGE}"  # the same pinned base
    assert any("pip wheel" in run and "pip install" in run for run in builder.args("RUN"))
    copies_from = [c for c in FINAL.args("COPY") if c.startswith("--from=")]
    assert copies_from == ["--from=builder /opt/venv /opt/venv"]
    env = " ".join(FINAL.args("ENV"))
    assert "PATH=/opt/venv/bin:$PATH" in env and "HEDGEOPS_DATA_DIR=/app/data" in env


@pytest.mark.parametrize("tool", ["gcc", "g++", "cc ", "clang", "build-essential", "make ", "apt-get install",
                                  "apk add", "pip install", "pip wheel"])
def test_the_final_stage_installs_no_build_tool(tool: str) -> None:
    for run in FINAL.args("RUN"):
        assert tool not in f"{run} ", run


def test_the_base_image_is_pinned_by_digest() -> None:
    image = GLOBAL_ARGS["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", image), image
    # Every stage starts from it: no unpinned FROM anywhere.
    assert {s.base for s in STAGES} == {"${PYTHON_IMAGE}"}
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert requires == ">=3.11"
    # The Dockerfile and docs/deployment.md say how to update it.
    text = DOCKERFILE.read_text(encoding="utf-8")
    docs = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for how in ("crane digest python:3.11-slim", "docker buildx imagetools inspect python:3.11-slim"):
        assert how in text and how in docs, how
    assert image in docs  # the pin the docs describe is the one in use


def test_the_image_runs_as_a_numeric_non_root_user_matching_the_chart() -> None:
    (user,) = FINAL.args("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or (gid.isdigit() and int(gid) > 0)), user
    values = yaml.safe_load((ROOT / "charts" / "hedgeops" / "values.yaml").read_text(encoding="utf-8"))
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert any(f"--uid {uid}" in run for run in FINAL.args("RUN"))  # a passwd entry for it too
    # The instruction order matters: USER after every RUN.
    order = [ins for ins, _ in FINAL.instructions]
    assert "RUN" not in order[order.index("USER"):]


def test_oci_labels_are_set_from_build_args() -> None:
    found = labels(FINAL)
    for key in OCI:
        assert found.get(f"org.opencontainers.image.{key}"), key
    declared = {rest.partition("=")[0]: rest.partition("=")[2] for rest in FINAL.args("ARG")}
    for key, arg in (("version", "VERSION"), ("revision", "REVISION"), ("created", "CREATED")):
        assert found[f"org.opencontainers.image.{key}"] == f"${{{arg}}}" and arg in declared, key
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    chart = yaml.safe_load((ROOT / "charts" / "hedgeops" / "Chart.yaml").read_text(encoding="utf-8"))
    assert declared["VERSION"] == project["version"] == chart["appVersion"]
    assert found["org.opencontainers.image.licenses"] == project["license"]["text"]
    assert found["org.opencontainers.image.source"] in chart["sources"]


def test_entrypoint_and_ports_are_the_operators() -> None:
    assert FINAL.args("ENTRYPOINT") == ['["hedgeops"]'] and FINAL.args("CMD") == ['["operator"]']
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert "hedgeops" in scripts
    values = yaml.safe_load((ROOT / "charts" / "hedgeops" / "values.yaml").read_text(encoding="utf-8"))
    (exposed,) = FINAL.args("EXPOSE")
    assert {int(p) for p in exposed.split()} == {8080, values["metrics"]["port"], values["webhook"]["port"]}


# --- .dockerignore ---------------------------------------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker's matcher reads it (Go's filepath.Match, plus `**` for any directories)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1].replace("[!", "[^"), end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        cleaned = line.lstrip("!").strip().strip("/")
        rules.append((negate, _pattern(cleaned)))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negate, pattern in rules:
        if any(pattern.fullmatch(c) for c in candidates):
            excluded = not negate
    return not excluded


RULES = dockerignore_rules((ROOT / ".dockerignore").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".git/HEAD", ".git", "tests/test_chart.py", "bench/results/x.json",
    "charts/hedgeops/values.yaml",
    "hedgeops/__pycache__/cli.cpython-311.pyc", "hedgeops/operator/__pycache__/main.cpython-311.pyc",
    "hedgeops/cli.pyc", ".mypy_cache/3.11/x.json", ".ruff_cache/x", ".pytest_cache/v", ".hypothesis/x",
    "hedgeops.egg-info/PKG-INFO", "manifests/install/hedgeops.yaml", "Dockerfile", ".dockerignore",
])
def test_the_build_context_leaves_out(path: str) -> None:
    assert not in_context(path, RULES)


def test_the_build_context_holds_every_file_the_dockerfile_copies() -> None:
    sources = []
    for stage in STAGES:
        for copy in stage.args("COPY"):
            if not copy.startswith("--from="):
                sources += copy.split()[:-1]
    assert set(sources) >= {"pyproject.toml", "README.md", "hedgeops", "data"}
    for source in sources:
        files = [p for p in (ROOT / source).rglob("*") if p.is_file()] if (ROOT / source).is_dir() else [ROOT / source]
        kept = [p for p in files if "__pycache__" not in p.parts and p.suffix != ".pyc"]
        assert kept, source
        for p in kept:
            assert in_context(str(p.relative_to(ROOT)), RULES), p


def test_the_matcher_reads_patterns_as_docker_does() -> None:
    """Not vacuous: the rule order and the parent-directory rule are what decides."""
    rules = dockerignore_rules("*\n!keep/\n**/__pycache__\n")
    assert in_context("keep/a.py", rules) and not in_context("keep/__pycache__/a.pyc", rules)
    assert not in_context("other/a.py", rules) and not in_context("top.txt", rules)
    assert in_context("x/y.py", dockerignore_rules("x/*.txt\n")) and not in_context("x/y.txt", dockerignore_rules(
        "x/*.txt\n"))

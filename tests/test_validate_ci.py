"""`hedgeops validate` in a GitOps CI, as a pipeline runs it: a repository folder walked recursively, stdin, other
kinds and other files skipped with a note, one line per problem naming file and field, a summary line; exit 0
valid, 1 invalid, 2 usage error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import ROOT

EXAMPLES = ROOT / "manifests" / "examples"
INVALID = ROOT / "manifests" / "invalid"

OTHER_KINDS = """\
apiVersion: v1
kind: Secret
metadata: {name: okx-credentials}
stringData: {apiKey: not-a-real-key}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: hedgeops-halt, labels: {hedgeops.io/halt: "true"}}
data: {reason: maintenance}
"""


def hedgeops(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hedgeops.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, input=stdin)


def _repository(root: Path) -> None:
    """A GitOps repository: books in nested folders next to a Secret, a ConfigMap, docs, a .git folder."""
    (root / "tenants" / "a" / "books").mkdir(parents=True)
    (root / "tenants" / "b").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "bad.yaml").write_text("kind: [")  # never read: hidden folders are not manifests
    (root / "README.md").write_text("# books\n")
    (root / "tenants" / "a" / "books" / "jlp.yaml").write_text((EXAMPLES / "hedgebook-jlp.yaml").read_text())
    (root / "tenants" / "a" / "policy.yml").write_text((EXAMPLES / "rebalancepolicy-compact.yaml").read_text())
    (root / "tenants" / "a" / "secrets.yaml").write_text(
        OTHER_KINDS + "---\n" + (EXAMPLES / "hedgebook-spot.yaml").read_text())
    (root / "tenants" / "b" / "too-much-leverage.yaml").write_text((INVALID / "leverage-above-3.yaml").read_text())
    (root / "tenants" / "b" / "wrong-leg.yaml").write_text((INVALID / "leg-spot-symbol.yaml").read_text())
    # The same book twice: kubectl would keep the last, Argo CD would refuse to sync.
    jlp = yaml.safe_load((EXAMPLES / "hedgebook-jlp.yaml").read_text())
    (root / "tenants" / "b" / "jlp-again.json").write_text(json.dumps(jlp))


def test_a_repository_is_walked_and_every_problem_is_one_line(tmp_path: Path) -> None:
    _repository(tmp_path)
    run = hedgeops("validate", str(tmp_path))
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    problems = [line for line in run.stderr.splitlines() if not line.startswith("note: ")]
    b = tmp_path / "tenants" / "b"
    assert problems == [
        f"{b / 'jlp-again.json'}: HedgeBook/jlp: metadata.name: HedgeBook default/jlp is also defined in "
        f"{tmp_path / 'tenants' / 'a' / 'books' / 'jlp.yaml'} (document 1)",
        f"{b / 'too-much-leverage.yaml'}: FundingArbitrage/too-much-leverage: spec.leverage: 5 is greater than the "
        "maximum of 3.0",
        f"{b / 'wrong-leg.yaml'}: HedgeBook/sol-sold-as-spot: spec.legs[0].symbol: 'SOL/USDT' does not match "
        "'^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}:[A-Z0-9]{2,12}$'",
    ], run.stderr
    notes = [line for line in run.stderr.splitlines() if line.startswith("note: ")]
    secrets = tmp_path / "tenants" / "a" / "secrets.yaml"
    assert notes == [
        f"note: {tmp_path / '.git'}: skipped (hidden folder)",
        f"note: {tmp_path / 'README.md'}: skipped (not a .yaml, .yml or .json file)",
        f"note: {secrets}: Secret/okx-credentials: skipped (v1 Secret: not a HedgeOps kind)",
        f"note: {secrets}: ConfigMap/hedgeops-halt: skipped (v1 ConfigMap: not a HedgeOps kind)",
    ], run.stderr
    assert "not-a-real-key" not in run.stdout + run.stderr  # a Secret's values are never echoed
    assert [line.split(" (")[0] for line in run.stdout.splitlines()[:-1]] == [
        "ok  RebalancePolicy/default/compact", "ok  HedgeBook/default/spot-bag", "ok  HedgeBook/default/jlp"]
    assert run.stdout.splitlines()[-1] == ("invalid: 6 files, 3 HedgeOps objects valid, 3 invalid (3 problems), "
                                           "2 other documents skipped")


def test_stdin_and_exit_codes() -> None:
    ok = hedgeops("validate", "-", str(EXAMPLES / "rebalancepolicy-compact.yaml"),
                  stdin=(EXAMPLES / "hedgebook-jlp.yaml").read_text())
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == [
        "ok  HedgeBook/default/jlp (<stdin>)", f"ok  RebalancePolicy/default/compact ({EXAMPLES}/"
        "rebalancepolicy-compact.yaml)", "valid: 2 files, 2 HedgeOps objects valid, 0 invalid (0 problems), "
        "0 other documents skipped"]
    bad = hedgeops("validate", "-", stdin=(INVALID / "hedge-ratio-above-1.yaml").read_text())
    assert bad.returncode == 1 and bad.stderr.splitlines() == [
        "<stdin>: HedgeBook/over-hedged: spec.objective.hedgeRatio: 1.5 is greater than the maximum of 1.0"]
    # Usage errors: exit 2, a message, nothing validated.
    for args, says in ((["-", "-"], "'-' (stdin) can be named only once"),
                       (["no/such.yaml", str(EXAMPLES)], "no such file or folder: no/such.yaml"),
                       ([], "the following arguments are required: paths")):
        run = hedgeops("validate", *args)
        assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr, (args, run.stderr)
        assert "ok  " not in run.stdout


def test_every_invalid_example_is_named_with_its_field() -> None:
    run = hedgeops("validate", str(INVALID))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    problems = [line for line in run.stderr.splitlines() if not line.startswith("note: ")]
    files = sorted(INVALID.glob("*.yaml"))
    # Every file refused, each problem on its own line as "<file>: <Kind>/<name>: <field>: <message>".
    assert {line.split(": ")[0] for line in problems} == {str(f) for f in files}
    assert all(line.split(": ")[2].startswith(("spec.", "metadata.")) for line in problems), problems
    assert run.stdout.splitlines()[-1].startswith(f"invalid: {len(files)} files, 0 HedgeOps objects valid, "
                                                  f"{len(files)} invalid")


def test_a_bad_namespace_a_mistyped_group_and_a_file_named_twice(tmp_path: Path) -> None:
    """kubectl refuses a namespace that is no DNS-1123 label; a HedgeOps kind under a mistyped group would be left
    unmanaged (it used to be skipped with exit 0); a file named twice is one file, not two books."""
    policy = yaml.safe_load((EXAMPLES / "rebalancepolicy-compact.yaml").read_text())
    policy["metadata"]["namespace"] = "Bad NS"
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    book = yaml.safe_load((EXAMPLES / "hedgebook-spot.yaml").read_text())
    book["apiVersion"] = "hedgeop.io/v1alpha1"
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(book))
    run = hedgeops("validate", str(tmp_path))
    assert run.returncode == 1 and run.stderr.splitlines() == [
        f"{tmp_path / 'policy.yaml'}: RebalancePolicy/compact: metadata.namespace: 'Bad NS' is not a DNS-1123 label "
        "(lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
        f"{tmp_path / 'typo.yaml'}: HedgeBook/spot-bag: apiVersion: hedgeop.io/v1alpha1 is not a HedgeOps group: "
        "HedgeBook is hedgeops.io/v1alpha1"], run.stderr
    spot = str(EXAMPLES / "hedgebook-spot.yaml")
    twice = hedgeops("validate", spot, spot, str(EXAMPLES / "hedgebook-spot.yaml"))
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout.splitlines()[-1] == ("valid: 1 file, 1 HedgeOps object valid, 0 invalid (0 problems), "
                                             "0 other documents skipped")
    assert twice.stderr.splitlines() == [f"note: {spot}: skipped (already read)"] * 2


def test_local_skips_the_secret_beside_the_books_as_validate_does(tmp_path: Path) -> None:
    """A folder kubectl applies whole holds the books' Secret too: `local` runs the books and names what it skipped
    (it used to refuse the folder)."""
    (tmp_path / "secret.yaml").write_text(OTHER_KINDS)
    for name in ("hedgebook-spot.yaml", "rebalancepolicy-compact.yaml"):
        (tmp_path / name).write_text((EXAMPLES / name).read_text())
    run = hedgeops("local", str(tmp_path), "--for", "1h", "--json")
    assert run.returncode == 0, run.stderr
    assert [b["book"] for b in json.loads(run.stdout)["books"]] == ["default/spot-bag"]
    assert f"{tmp_path / 'secret.yaml'}: document 1: v1 Secret: not a HedgeOps kind, skipped" in run.stderr
    assert "not-a-real-key" not in run.stdout + run.stderr

"""One exit-code convention for every command (issue 18): 0 done, 1 refused, 2 usage error (a bad value, or what
the command needs missing or unreachable), each with one line on stderr and never a traceback. In-process
(`main([...])`); approve and close-all against a stand-in for the Kubernetes API (the real API server's answers
are tested in tests/test_operator_control.py and tests/test_kube_*.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiException

from hedgeops import kube
from hedgeops.cli import main

from .conftest import ROOT, free_port

EXAMPLES = str(ROOT / "manifests" / "examples")


def _one_line_error(err: str, says: str) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hedgeops: error: ") and says in lines[0], err


@pytest.mark.parametrize(("args", "says"), [
    (["journal", "nokind/x", "--redis-url", "redis://127.0.0.1:1"], "expected <kind>/<name>"),
    (["journal", "hedgebook/"], "expected <kind>/<name>"),
    (["journal", "hedgebook/x"], "no Redis: pass --redis-url"),
    (["journal", "hedgebook/x", "--redis-url", "http://127.0.0.1/"], "--redis-url: Redis URL must specify"),
    (["journal", "hedgebook/x", "--redis-url", "redis://127.0.0.1:{closed}"], "cannot read the journal from Redis"),
    (["approve", "hedgebook/jlp", "3f2a9c1e"], "no kubeconfig at /nonexistent"),
    (["close-all", "fundingarbitrage/eth-carry", "--yes"], "no kubeconfig at /nonexistent"),
    (["approve", "hedgebook/Not_A_Name", "3f2a9c1e"], "DNS-1123"),
    (["validate", "no/such/file.yaml"], "no such file or folder: no/such/file.yaml"),
    (["crds", "--out", "{file}", "--chart", ""], "cannot write"),
    (["emulator", "--api-key", "k", "--secret", "s", "--passphrase", "p", "--speed", "nan"], "--speed must be"),
    (["emulator", "--api-key", "k"], "the emulator needs --api-key, --secret and --passphrase"),
    (["local", EXAMPLES, "--for", "0s"], "--for must be longer than 0s"),
    (["local", "no/such/folder"], "no/such/folder"),
    (["backtest", EXAMPLES, "--from", "2025-01-02", "--to", "2025-01-01"], "must be after --from"),
    (["backtest", EXAMPLES, "--from", "2025-01-01", "--to", "2025-01-02", "--out", "{dir}"], "is a folder"),
])
def test_a_bad_value_found_after_parsing_is_one_line_and_exit_2(
        args: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HEDGEOPS_REDIS_URL", raising=False)
    monkeypatch.delenv("HEDGEOPS_EMULATOR_SECRET", raising=False)
    monkeypatch.delenv("HEDGEOPS_EMULATOR_PASSPHRASE", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    monkeypatch.chdir(ROOT)
    (tmp_path / "file").write_text("a file, not a folder")
    args = [a.format(closed=free_port(), file=tmp_path / "file", dir=tmp_path) for a in args]
    began = time.monotonic()
    assert main(args) == 2
    out, err = capsys.readouterr()
    _one_line_error(err, says)
    assert out == "" and time.monotonic() - began < 15  # nothing reachable is said at once, not after a hang


@pytest.mark.parametrize(("args", "says"), [
    (["emulator", "--at", "garbage"], "is not an ISO time"),
    (["emulator", "--port", "99999"], "is not a port"),
    (["local", EXAMPLES, "--metrics-port", "-1"], "is not a port"),
    (["journal", "hedgebook/x", "--count", "0"], "is not a positive whole number"),
    (["completion", "tcsh"], "invalid choice"),
    (["version", "-o", "yaml"], "invalid choice"),
    (["nosuchcommand"], "invalid choice"),
])
def test_a_parse_error_is_argparses_usage_and_exit_2(args: list[str], says: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: hedgeops") and says in err.splitlines()[-1] and "Traceback" not in err


def test_an_unexpected_failure_is_exit_1_with_the_way_to_the_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr("hedgeops.cli._cmd_version", broken)
    assert main(["version"]) == 1
    _one_line_error(capsys.readouterr().err, "RuntimeError: boom (run with --debug for details)")
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "version"])


class FakeApi:
    """The two calls of kubernetes' CustomObjectsApi that hedgeops.kube.Cluster makes, on a dict of objects."""

    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.objects = objects
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str,
                                     **_: Any) -> dict[str, Any]:
        if (plural, namespace, name) not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        return self.objects[(plural, namespace, name)]

    def patch_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str,
                                       body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.patches.append((plural, namespace, name, body))
        return self.objects[(plural, namespace, name)]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    pending = {"id": "3f2a9c1e-7b0d44aa", "state": "Proposed", "expiresAt": "2025-06-01T00:10:00Z",
               "orders": [{"side": "sell", "amount": "0.6", "symbol": "ETH/USDT:USDT"}]}
    fake = FakeApi({("hedgebooks", "default", "jlp"): {"kind": "HedgeBook", "spec": {"mode": "Paper"},
                                                       "status": {"pendingPlan": pending}},
                    ("hedgebooks", "default", "idle"): {"kind": "HedgeBook", "spec": {}, "status": {}},
                    ("fundingarbitrages", "default", "eth-carry"): {"kind": "FundingArbitrage", "spec": {}}})

    @contextmanager
    def connect(kubeconfig: str | None = None, context: str | None = None) -> Iterator[kube.Cluster]:
        yield kube.Cluster(fake, "https://127.0.0.1:6443", "default", "context 'test'")  # type: ignore[arg-type]

    monkeypatch.setattr(kube, "connect", connect)
    return fake


def test_approve_refusals_are_exit_1_and_change_nothing(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approve", "hedgebook/jlp", "00000000-00000000"]) == 1
    assert capsys.readouterr().err == ("hedgeops: refused: the pending plan of default/jlp is 3f2a9c1e-7b0d44aa "
                                       "(Proposed), not 00000000-00000000\n")
    assert main(["approve", "hedgebook/idle", "3f2a9c1e-7b0d44aa"]) == 1
    assert "has no plan awaiting approval" in capsys.readouterr().err
    assert api.patches == []
    # What could not be asked at all stays a usage error: a name that is not one, an object that is not there.
    assert main(["approve", "hedgebook/nope", "3f2a9c1e-7b0d44aa"]) == 2
    _one_line_error(capsys.readouterr().err, "not found: hedgebooks default/nope")
    assert main(["approve", "hedgebook/jlp", "3f2a9c1e-7b0d44aa", "-n", "Bad_Namespace"]) == 2
    _one_line_error(capsys.readouterr().err, "RFC 1123")
    assert main(["approve", "hedgebook/jlp", "3f2a9c1e-7b0d44aa"]) == 0
    assert capsys.readouterr().out.startswith("approved plan 3f2a9c1e-7b0d44aa of hedgebook default/jlp")
    assert api.patches == [("hedgebooks", "default", "jlp",
                            {"metadata": {"annotations": {"hedgeops.io/approve": "3f2a9c1e-7b0d44aa"}}})]


def test_close_all_declined_is_exit_1_without_a_terminal_exit_2(api: FakeApi, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["close-all", "fundingarbitrage/eth-carry"]) == 2  # no one to ask: say how to, ask nothing
    _one_line_error(capsys.readouterr().err, "no terminal to confirm on: pass --yes")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["n", "yes"])
    monkeypatch.setattr("builtins.input", lambda question: next(answers))
    assert main(["close-all", "fundingarbitrage/eth-carry"]) == 1
    assert capsys.readouterr().err == "hedgeops: refused: not confirmed: nothing was changed\n"
    assert api.patches == []
    assert main(["close-all", "fundingarbitrage/eth-carry"]) == 0
    assert capsys.readouterr().out.startswith("close-all requested for default/eth-carry")
    assert main(["close-all", "carry/eth-carry", "--yes"]) == 0
    assert [p[:3] for p in api.patches] == [("fundingarbitrages", "default", "eth-carry")] * 2


def test_close_all_help_names_every_kind_it_closes(capsys: pytest.CaptureFixture[str]) -> None:
    from hedgeops.control import CLOSABLE

    with pytest.raises(SystemExit):
        main(["close-all", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for kind in {v[:-1] for v in CLOSABLE.values()}:  # hedgebook, fundingarbitrage, marketmaker
        assert f"{kind}/<name>" in text


def test_a_data_dir_without_the_replay_files_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """HEDGEOPS_DATA_DIR pointing at the wrong folder: the error names the file missing and the folder it looked
    in (it used to list the symbols it "has", which were the very ones missing)."""
    for folder, says in ((tmp_path, f"is not in {tmp_path} (HEDGEOPS_DATA_DIR)"),
                         (tmp_path / "nope", f"is not in {tmp_path / 'nope'} (HEDGEOPS_DATA_DIR, which does not "
                                             "exist)")):
        monkeypatch.setenv("HEDGEOPS_DATA_DIR", str(folder))
        assert main(["local", f"{EXAMPLES}/hedgebook-spot.yaml", f"{EXAMPLES}/rebalancepolicy-compact.yaml",
                     "--for", "1h"]) == 2
        _one_line_error(capsys.readouterr().err, "binance_futures_ETH_USDT_5m.csv.gz " + says)

"""`hedgeops rebalance-now hedgebook/<name>` with the habits of approve and close-all: names checked before
connecting, a question (or --yes), exit 0 done, 1 refused (a Hedge book, a request still pending, not confirmed),
2 usage error; the annotation's value is the request's time. Against a stand-in for the Kubernetes API (the real
operator acting on it: tests/test_operator_rebalance_now.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from hedgeops import kube
from hedgeops.cli import main

from .test_cli_exit_codes import FakeApi

ALLOCATION = {"mode": "Live", "objective": {"type": "Allocation"}}


@pytest.fixture
def books(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi({
        ("hedgebooks", "default", "index"): {"kind": "HedgeBook", "metadata": {}, "spec": ALLOCATION,
                                             "status": {"totalDeviationRatio": 0.031}},
        ("hedgebooks", "default", "busy"): {
            "kind": "HedgeBook", "metadata": {"annotations": {"hedgeops.io/rebalance-now": "2025-06-01T00:00:00Z"}},
            "spec": ALLOCATION, "status": {"rebalanceNow": {"value": "2025-06-01T00:00:00Z", "state": "Pending",
                                                            "message": "plan 1 awaits approval"}}},
        ("hedgebooks", "default", "jlp"): {"kind": "HedgeBook", "spec": {"objective": {"type": "Hedge"}}},
    })

    @contextmanager
    def connect(kubeconfig: str | None = None, context: str | None = None) -> Iterator[kube.Cluster]:
        yield kube.Cluster(fake, "https://127.0.0.1:6443", "default", "context 'test'")  # type: ignore[arg-type]

    monkeypatch.setattr(kube, "connect", connect)
    return fake


def test_rebalance_now_asks_then_annotates_with_the_request_time(books: FakeApi, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    questions: list[str] = []
    answers = iter(["", "y"])

    def ask(question: str) -> str:
        questions.append(question)
        return next(answers)

    monkeypatch.setattr("builtins.input", ask)
    assert main(["rebalance-now", "hedgebook/index"]) == 1  # Enter is no
    assert capsys.readouterr().err == "hedgeops: refused: not confirmed: nothing was changed\n"
    assert books.patches == []
    assert main(["rebalance-now", "hb/index"]) == 0
    assert "allocation book default/index (Live)" in questions[0] and "largest drift 0.031" in questions[0]
    assert "Approval, risk limits and the cost tolerance still apply" in questions[0]
    [(plural, ns, name, body)] = books.patches
    value = body["metadata"]["annotations"]["hedgeops.io/rebalance-now"]
    assert (plural, ns, name) == ("hedgebooks", "default", "index")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value)
    assert capsys.readouterr().out.startswith(f"rebalance-now {value} requested for default/index")


def test_rebalance_now_refusals_and_usage_errors(books: FakeApi, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rebalance-now", "hedgebook/jlp", "--yes"]) == 1
    assert "rebalance-now applies to Allocation books" in capsys.readouterr().err
    assert main(["rebalance-now", "hedgebook/busy", "--yes"]) == 1
    assert "is still pending: plan 1 awaits approval" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["rebalance-now", "hedgebook/index"]) == 2
    assert "no terminal to confirm on: pass --yes to rebalance without asking" in capsys.readouterr().err
    assert main(["rebalance-now", "fundingarbitrage/eth-carry", "--yes"]) == 2
    assert "expected <kind>/<name> with kind one of hedgebooks" in capsys.readouterr().err
    assert main(["rebalance-now", "hedgebook/index", "--yes", "-n", "Bad_Namespace"]) == 2
    assert "RFC 1123" in capsys.readouterr().err
    assert books.patches == []


def test_rebalance_now_without_a_cluster_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    assert main(["rebalance-now", "hedgebook/index", "--yes"]) == 2
    err: Any = capsys.readouterr().err
    assert err.startswith("hedgeops: error: ") and "no kubeconfig at /nonexistent" in err


def test_approve_repeats_the_plans_cost_forecast(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pending = {"id": "3f2a9c1e-7b0d44aa", "state": "Proposed", "expiresAt": "2025-06-01T00:10:00Z",
               "orders": [{"side": "buy", "amount": "0.0255", "symbol": "BTC/USDT", "estFeeQuote": "1.09"}],
               "forecast": {"quote": "USDT", "notionalQuote": "2182.5", "costQuote": "1.2", "costRatio": "0.00055"}}
    fake = FakeApi({("hedgebooks", "default", "index"): {"kind": "HedgeBook", "spec": ALLOCATION,
                                                         "status": {"pendingPlan": pending}}})

    @contextmanager
    def connect(kubeconfig: str | None = None, context: str | None = None) -> Iterator[kube.Cluster]:
        yield kube.Cluster(fake, "https://127.0.0.1:6443", "default", "context 'test'")  # type: ignore[arg-type]

    monkeypatch.setattr(kube, "connect", connect)
    assert main(["approve", "hedgebook/index", "3f2a9c1e-7b0d44aa"]) == 0
    out = capsys.readouterr().out
    assert "(buy 0.0255 BTC/USDT); forecast cost 1.2 USDT (0.00055 of 2182.5 traded)" in out

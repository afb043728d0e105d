"""`hedgeops approve`, `hedgeops close-all` and `hedgeops rebalance-now`: a person's decisions, handed to the operator
as annotations (the operator acts on them within one cycle and journals what it did)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from hedgeops import kube
from hedgeops.engine.common.controls import APPROVE, CLOSE_ALL, REBALANCE_NOW
from hedgeops.runtime.names import is_namespace, is_object_name

BOOKS = {"hedgebook": "hedgebooks", "hedgebooks": "hedgebooks", "hb": "hedgebooks"}
CLOSABLE = {**BOOKS, "fundingarbitrage": "fundingarbitrages", "fundingarbitrages": "fundingarbitrages",
            "carry": "fundingarbitrages", "marketmaker": "marketmakers", "marketmakers": "marketmakers",
            "mm": "marketmakers"}


class ControlError(Exception):
    """A request refused before anything was sent, with the reason."""


Connect = Callable[[], AbstractContextManager[kube.Cluster]]


def _namespace(namespace: str) -> str:
    if not is_namespace(namespace):
        raise ControlError(f"{namespace!r} is not a namespace name (lowercase letters, digits and '-', "
                           "at most 63 characters: RFC 1123)")
    return namespace


def _ref(ref: str, kinds: dict[str, str], namespace: str | None) -> tuple[str, str]:
    """The plural and name of `<kind>/<name>`, checked as Kubernetes does before they reach an API path, and the
    namespace if one was given (else the kubeconfig context's, checked once it is known)."""
    kind, _, name = ref.partition("/")
    plural = kinds.get(kind.lower())
    if plural is None or not name:
        raise ControlError(f"expected <kind>/<name> with kind one of {', '.join(sorted(set(kinds.values())))}, "
                           f"got {ref!r}")
    if not is_object_name(name):
        raise ControlError(f"{name!r} is not an object name (lowercase letters, digits, '-' and '.', "
                           "at most 253 characters: DNS-1123)")
    if namespace is not None:
        _namespace(namespace)
    return plural, name


def approve(connect: Connect, ref: str, namespace: str | None, plan_id: str) -> str:
    """Approve the book's pending plan by its id, after checking it is that plan and still awaiting approval
    (the operator checks again, with the expiry, when it executes). Connects only once the names are valid."""
    plural, name = _ref(ref, BOOKS, namespace)
    with connect() as cluster:
        ns = _namespace(cluster.namespace if namespace is None else namespace)
        return _approve(cluster, plural, ns, name, plan_id)


def _approve(cluster: kube.Cluster, plural: str, namespace: str, name: str, plan_id: str) -> str:
    obj = cluster.get(plural, namespace, name)
    pending = (obj.get("status") or {}).get("pendingPlan") or {}
    if not pending:
        raise ControlError(f"{namespace}/{name} has no plan awaiting approval")
    if pending.get("id") != plan_id:
        raise ControlError(f"the pending plan of {namespace}/{name} is {pending.get('id')} "
                           f"({pending.get('state')}), not {plan_id}")
    if pending.get("state") != "Proposed":
        raise ControlError(f"plan {plan_id} is {pending.get('state')}: it can no longer be approved")
    cluster.annotate(plural, namespace, name, {APPROVE: plan_id})
    orders = ", ".join(f"{o['side']} {o['amount']} {o['symbol']}" for o in pending.get("orders", []))
    forecast = pending.get("forecast") or {}
    cost = (f"; forecast cost {forecast['costQuote']} {forecast.get('quote', '')} ({forecast.get('costRatio')} of "
            f"{forecast.get('notionalQuote')} traded)" if forecast.get("costQuote") else "")
    return (f"approved plan {plan_id} of hedgebook {namespace}/{name} ({orders}){cost}; "
            f"expires {pending.get('expiresAt')}")


def close_all(connect: Connect, ref: str, namespace: str | None, confirm: Callable[[str], bool]) -> str:
    """Ask the operator to flatten a book or an arbitrage (every leg at market, the perps reduce-only) and keep
    it flat until the annotation is removed. Nothing is sent unless `confirm` says yes."""
    plural, name = _ref(ref, CLOSABLE, namespace)
    with connect() as cluster:
        ns = _namespace(cluster.namespace if namespace is None else namespace)
        return _close_all(cluster, plural, ns, name, confirm)


def _close_all(cluster: kube.Cluster, plural: str, namespace: str, name: str, confirm: Callable[[str], bool]) -> str:
    obj = cluster.get(plural, namespace, name)
    spec = obj.get("spec") or {}
    mode = spec.get("mode", "Paper")
    what = f"Close every position of {obj.get('kind', plural)} {namespace}/{name} ({mode}) at market?"
    if (spec.get("objective") or {}).get("type") == "Allocation":  # seed 002's emergency exit
        what = (f"Sell every asset of allocation book {namespace}/{name} ({mode}) to "
                f"{spec.get('quoteCurrency', 'USDT')} at market?")
    question = f"{what} It stays flat until the hedgeops.io/close-all annotation is removed. [y/N] "
    if not confirm(question):
        raise ControlError("not confirmed: nothing was changed")
    cluster.annotate(plural, namespace, name, {CLOSE_ALL: "true"})
    return (f"close-all requested for {namespace}/{name}; watch it with `hedgeops journal "
            f"{plural[:-1]}/{name} -n {namespace}`; undo with `kubectl annotate {plural} {name} {CLOSE_ALL}-`")


def rebalance_now(connect: Connect, ref: str, namespace: str | None, confirm: Callable[[str], bool],
                  now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> str:
    """Ask the operator to rebalance an Allocation book to its target weights once, now (reason Manual), still
    through approval, the risk limits and the cost tolerance. The annotation's value is the request's time: each
    value is acted on once, so the annotation may stay. Nothing is sent unless `confirm` says yes."""
    plural, name = _ref(ref, BOOKS, namespace)
    with connect() as cluster:
        ns = _namespace(cluster.namespace if namespace is None else namespace)
        return _rebalance_now(cluster, plural, ns, name, confirm, now().strftime("%Y-%m-%dT%H:%M:%SZ"))


def _rebalance_now(cluster: kube.Cluster, plural: str, namespace: str, name: str, confirm: Callable[[str], bool],
                   value: str) -> str:
    obj = cluster.get(plural, namespace, name)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if (spec.get("objective") or {}).get("type") != "Allocation":
        raise ControlError(f"{namespace}/{name} is a Hedge book: rebalance-now applies to Allocation books (a Hedge "
                           "book trades on its bands; narrow them in its policy to trade sooner)")
    asked = ((obj.get("metadata") or {}).get("annotations") or {}).get(REBALANCE_NOW)
    handled = status.get("rebalanceNow") or {}
    if asked and handled.get("value") == asked and handled.get("state") == "Pending":
        raise ControlError(f"the request {asked} of {namespace}/{name} is still pending: {handled.get('message')}")
    drift = status.get("totalDeviationRatio")
    question = (f"Rebalance allocation book {namespace}/{name} ({spec.get('mode', 'Paper')}) to its target weights "
                f"now{f' (largest drift {drift})' if drift is not None else ''}? Approval, risk limits and the cost "
                "tolerance still apply. [y/N] ")
    if not confirm(question):
        raise ControlError("not confirmed: nothing was changed")
    cluster.annotate(plural, namespace, name, {REBALANCE_NOW: value})
    return (f"rebalance-now {value} requested for {namespace}/{name}; its outcome is status.rebalanceNow and the "
            "event RebalanceNow<Done|Pending|Refused>; watch it with "
            f"`hedgeops journal hedgebook/{name} -n {namespace}`")

"""A FundingArbitrage's self-check holds for the account it ran on only. Switched from Paper to Live, the object
skipped the self-check (it had passed, in Paper), so the Live account's leverage was never set and its leftover
positions never looked for, and the Paper wallets sized the Live orders. Now a changed account starts the object
afresh: the self-check runs on the Live account, sets the leverage and looks for leftovers before any order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedgeops.api.common import ExchangeRef, Mode
from hedgeops.api.funding import FundingArbitrage, Phase
from hedgeops.exchange.paper.venue import PaperVenue
from hedgeops.model.orders import OrderRequest, OrderState
from hedgeops.runtime.cycle import Services
from hedgeops.runtime.kinds.carry import FundingArbitrageReconciler
from hedgeops.runtime.kinds.carry_bootstrap import UNCHECKED, account_of, on_account
from hedgeops.runtime.venues import Account, PaperVenues

from .runtime_fixtures import Rig, rig
from .test_runtime_carry import PERP, SPOT, Carry, carry, reasons

D = Decimal
SECRET = {"name": "okx-live"}


class RecordingVenue(PaperVenue):
    """A paper account standing in for the Live one, its leverage settings and orders recorded in order."""

    calls: list[tuple[str, str, Decimal]]

    async def set_leverage(self, symbol: str, leverage: Decimal, margin_mode: str = "cross") -> None:
        self.calls.append(("leverage", symbol, Decimal(leverage)))
        await super().set_leverage(symbol, leverage, margin_mode)

    async def place(self, order: OrderRequest) -> OrderState:
        self.calls.append(("order", order.symbol, order.amount))
        return await super().place(order)


class PaperAndLive:
    """The rig's paper accounts for Paper objects, and one more account for Live ones."""

    def __init__(self, paper: PaperVenues, now: Any) -> None:
        self.paper = paper
        self.live = RecordingVenue(paper.replay, now, paper.fees)
        self.live.calls = []

    async def account(self, exchange: ExchangeRef, mode: Mode, namespace: str) -> Account:
        if mode is Mode.LIVE:
            assert exchange.credentialsSecretRef is not None
            return Account(self.live, f"live:{exchange.name}:{exchange.credentialsSecretRef.name}")
        return await self.paper.account(exchange, mode, namespace)

    async def close(self) -> None:
        await self.paper.close()


def two_accounts() -> tuple[Carry, PaperAndLive, Rig]:
    r = rig()
    source = PaperAndLive(r.venues, r.clock.now)
    c = Carry(r, carry(leverage="2"))
    c.rec = FundingArbitrageReconciler(Services(source, r.locks, r.journal, r.metrics, owner="test"))
    return c, source, r


def switched(fa: FundingArbitrage, **spec: Any) -> FundingArbitrage:
    """The object after `kubectl apply` of a changed spec: a new generation, the status as it was."""
    body = fa.spec.model_dump(mode="json")
    body.update(spec)
    meta = fa.metadata.model_copy(update={"generation": (fa.metadata.generation or 1) + 1})
    return FundingArbitrage.model_validate({"kind": "FundingArbitrage", "metadata": meta.model_dump(mode="json"),
                                           "spec": body, "status": fa.status.model_dump(mode="json")
                                           if fa.status else None})


LIVE = {"mode": "Live", "exchange": {"name": "okx", "account": "carry", "credentialsSecretRef": SECRET}}


async def open_in_paper(c: Carry) -> None:
    res = await c.tick()
    assert "BootstrapPassed" in reasons(res), res.events
    res = await c.tick(5)
    assert res.status.phase is Phase.OPEN and res.status.bootstrap.account == "Paper okx/carry"


async def test_switched_from_paper_to_live_the_self_check_runs_and_sets_leverage_before_any_order() -> None:
    c, source, _ = two_accounts()
    await open_in_paper(c)
    paper_leg = c.fa.status.legs[0]  # type: ignore[union-attr]
    c.fa = switched(c.fa, **LIVE)
    res = await c.tick(5)
    assert reasons(res)[:2] == ["AccountChanged", "BootstrapPassed"], res.events
    changed = res.events[0]
    assert changed.type == "Warning" and "Paper okx/carry" in changed.message and "ETH/USDT:USDT" in changed.message
    calls = source.live.calls
    assert calls and calls[0] == ("leverage", PERP, D(2)), calls  # the Live account's leverage, first
    assert source.live.leverage[PERP] == D(2) <= 3
    assert res.status.bootstrap.passed and res.status.bootstrap.account == "Live okx/carry"
    # The Live orders are sized from the capital, as on a first cycle, not from what the Paper wallets held.
    first = next(amount for kind, symbol, amount in calls if kind == "order" and symbol == SPOT)
    paper = await c.r.venues.venue_for(ExchangeRef(name="okx", account="carry"), Mode.PAPER, "default")
    assert isinstance(paper, PaperVenue)
    paper_first = next(o.amount for o in paper.account.orders.values() if o.symbol == SPOT)
    assert abs(first - paper_first) / paper_first < D("0.01"), (first, paper_first)
    leg = res.status.legs[0]
    assert leg.machine.get(UNCHECKED) is None
    # Plan numbers go on from the Paper ones: no client order id is used twice by this object.
    assert leg.machine["seq"] > paper_leg.machine["seq"]
    assert not set(paper.account.orders) & set(source.live.account.orders)


async def test_a_leftover_on_the_live_account_is_refused_before_any_order() -> None:
    c, source, _ = two_accounts()
    await open_in_paper(c)
    await source.live.place(OrderRequest("by-hand", PERP, "sell", D("1.000"), "market"))
    source.live.calls.clear()
    c.fa = switched(c.fa, **LIVE)
    res = await c.tick(5)
    assert reasons(res) == ["AccountChanged", "BootstrapFailed"], res.events
    assert not res.status.bootstrap.passed and "did not open" in res.status.bootstrap.problems[0]
    assert source.live.calls == []  # no leverage set, no order
    # The Paper legs are gone from the status: the Live object never trades on them.
    assert [(leg.spotQty, leg.perpQty, leg.phase) for leg in res.status.legs] == [(0, 0, Phase.IDLE)]
    res = await c.tick(300)
    assert reasons(res) == ["BootstrapFailed"] and source.live.calls == []


async def test_the_same_account_is_not_checked_again_and_a_pre_upgrade_status_is_adopted() -> None:
    c, _, _ = two_accounts()
    await open_in_paper(c)
    res = await c.tick(300)
    assert "BootstrapPassed" not in reasons(res) and "AccountChanged" not in reasons(res)
    # A status written before the account was recorded: its pass is adopted for the positions it runs.
    status = c.fa.status
    assert status is not None
    legacy = status.model_copy(update={"bootstrap": status.bootstrap.model_copy(update={"account": None})})
    live = switched(c.fa, **LIVE)
    kept, events = on_account(live, legacy)
    assert events == [] and kept.legs == legacy.legs and kept.bootstrap.account == account_of(live.spec)
    # ... but a flat Live object is checked again.
    flat = legacy.model_copy(update={"legs": [leg.model_copy(update={"spotQty": D(0), "perpQty": D(0),
                                                                     "phase": Phase.IDLE}) for leg in legacy.legs]})
    again, events = on_account(live, flat)
    assert events == [] and not again.bootstrap.passed


def test_every_part_of_the_account_counts_but_the_secret_its_keys_are_in() -> None:
    base = carry()
    seen = {account_of(base.spec)}
    for change in ({"exchange": {"name": "okx", "account": "other"}},
                   {"exchange": {"name": "okx", "account": "carry", "sandbox": True}},
                   LIVE):
        seen.add(account_of(switched(base, **change).spec))
    assert len(seen) == 4
    # Keys rotated into another Secret: the same account, its positions still tracked (a Live object may not
    # change its account label or sandbox, only the Secret).
    rotated = {"mode": "Live", "exchange": {"name": "okx", "account": "carry",
                                            "credentialsSecretRef": {"name": "okx-live-v2"}}}
    assert account_of(switched(base, **rotated).spec) == account_of(switched(base, **LIVE).spec)
    # A Paper account never reads its Secret: naming one ahead of going Live is not another account.
    assert account_of(switched(base, exchange={"name": "okx", "account": "carry",
                                               "credentialsSecretRef": SECRET}).spec) == account_of(base.spec)



async def test_keys_rotated_into_another_secret_keep_a_live_carry_and_its_positions() -> None:
    c, _, _ = two_accounts()
    await open_in_paper(c)
    c.fa = switched(c.fa, **LIVE)
    res = await c.tick(5)
    assert res.status.bootstrap.passed
    held = [(leg.spotQty, leg.perpQty) for leg in res.status.legs]
    rotated = {"mode": "Live", "exchange": {"name": "okx", "account": "carry",
                                            "credentialsSecretRef": {"name": "okx-live-v2"}}}
    status = res.status
    kept, events = on_account(switched(c.fa, **rotated), status)
    assert events == [] and [(leg.spotQty, leg.perpQty) for leg in kept.legs] == held
    # A record that named the Secret (as this round's first version wrote) is the same account too.
    named = status.model_copy(update={"bootstrap": status.bootstrap.model_copy(
        update={"account": "Live okx/carry secret okx-live"})})
    kept, events = on_account(switched(c.fa, **rotated), named)
    assert events == [] and kept is named

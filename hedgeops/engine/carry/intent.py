"""A pair's write-ahead intent: what a plan decided before its first order is sent, so a process killed between
the legs is followed by one that books what reached the venue (found by client id) and sends nothing again.

The JSON field names are the ones written before the intent was typed (`seq`, `machine`, `spotWallet`,
`collateral`, `orders`): an intent a previous version left behind still recovers. It is stored through the one
codec (model/codec.py); the fence the execution context adds beside it is not part of it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedgeops.engine.carry.codec import decode, encode
from hedgeops.engine.carry.machine import CarryState, LegOrder


@dataclass(frozen=True)
class IntentOrder:
    """One leg order of the plan, enough to find it on the venue and book it on its leg."""

    clientOrderId: str
    symbol: str
    leg: str  # spot | perp


@dataclass(frozen=True)
class CarryIntent:
    """The machine as the plan left it, the pair's two wallets before its fills, and its orders."""

    seq: int  # the machine's plan sequence: newer than the status's, the plan was cut short
    machine: dict[str, Any]  # the machine in the status's own encoding (engine/carry/codec.py)
    spotWallet: Decimal
    collateral: Decimal
    orders: tuple[IntentOrder, ...]

    @property
    def state(self) -> CarryState:
        return decode(self.machine)

    @staticmethod
    def of(state: CarryState, spot_wallet: Decimal, collateral: Decimal, orders: list[LegOrder]) -> CarryIntent:
        return CarryIntent(state.seq, encode(state), spot_wallet, collateral,
                           tuple(IntentOrder(o.client_order_id, o.symbol, o.leg) for o in orders))

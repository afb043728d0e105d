"""What an object leaves resting when it is deleted, cancelled before it goes (the operator's finalizer).

Each kind names the orders it may have resting (`resting`): the ones its status lists as not final, and every
order of its newest write-ahead intent. The intent matters because the body a deletion hands over can be older
than the last cycle's status patch: a cycle that sent quotes a moment before the deletion wrote them to the intent
first, never to this body. Each is cancelled by client id under the account lock, like a halt; an id the venue
never saw is skipped. Positions are left as they are (flattening is what close-all is for)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis import exceptions as redis_errors

from hedgeops.exchange.venue import FinalVenueError, OrderNotFound
from hedgeops.model.journal import CancelEntry
from hedgeops.runtime.cycle import Failure, Guard, ObjectCycle, Services
from hedgeops.runtime.intents import IntentStore, UnreadableIntent

REASON = "Deleted"  # the journal's cancel reason, and the events'

Resting = dict[str, str]  # client order id → symbol


class Teardown(Protocol):
    """What a kind adds to a deletion: the orders it may have resting (kinds with none return {})."""

    async def resting(self, obj: Any, status: Any, guard: Guard) -> Resting: ...


@dataclass
class TeardownResult:
    """What a deletion's cancel pass did: the ids cancelled (with what each had filled), and why it could not
    finish (None: nothing of the object's rests any more)."""

    cancelled: dict[str, str] = field(default_factory=dict)  # client id → units filled before the cancel
    failure: Failure | None = None

    @property
    def retry(self) -> bool:
        """Worth another try (the exchange or the lock store down, the lock busy): the finalizer waits for it."""
        return self.failure is not None and self.failure[2]


async def latest_intent_orders(services: Services, key: str, cls: type[Any], after_seq: int) -> Any:
    """The intent under `key` when it is newer than the status's sequence `after_seq` (a cycle whose status patch
    the deletion's body predates); None if none. One the status already accounts for adds nothing: its orders are
    in the status, final or not (an intent is never cleared, so reading it whatever its sequence made every
    object that ever traded need its venue to be deleted)."""
    return await IntentStore(services.journal, cls).pending(key, after_seq)


def unfinished(orders: Iterable[tuple[str, str, str]]) -> Resting:
    """(client id, symbol, state) as a status lists them → the ones not final."""
    return {cid: symbol for cid, symbol, state in orders if state not in ("closed", "canceled", "rejected")}


async def cancel_resting(cycle: ObjectCycle, target: Any, obj: Any, status: Any, kind: Teardown) -> TeardownResult:
    """Cancel what `obj` may have resting, under its account's lock. Any failure is reported, never raised.

    What may rest is read first, from the status and Redis alone: an object with nothing (one that never traded,
    say with a mistyped Secret, or one whose orders are all final) goes at once, without its venue. With
    something, not reaching the venue is worth a retry whatever the reason, a missing Secret too (it can come
    back; the orders are there either way). It is read again under the lock: a cycle that held the lock before
    may have moved on (the reconciler lets none start once a deletion has begun, runtime/reconcile.py)."""
    result = TeardownResult()
    guard = Guard(cycle, target.exchange, target.mode, target.key)
    try:
        if not await kind.resting(obj, status, guard):
            await _drop_intents(cycle, guard)
            return result
        async with guard:
            if guard.failure is None:
                await _cancel(guard, await kind.resting(obj, status, guard), result)
        if guard.failure is None and result.failure is None:
            await _drop_intents(cycle, guard)
    except UnreadableIntent as exc:  # what a killed process was sending is unknown: say so, never guess
        result.failure = ("UnreadableIntent", str(exc), False)
        return result
    except redis_errors.RedisError as exc:
        result.failure = ("LockUnavailable", f"cannot read the object's intents: {type(exc).__name__}", True)
        return result
    except Exception as exc:  # a bug of ours must not be a traceback every minute: told, and retried
        result.failure = ("TeardownFailed", f"{type(exc).__name__}: {exc}", True)
        return result
    if guard.failure is not None:
        reason, message, degraded = guard.failure
        result.failure = (reason, message, degraded or reason == "VenueUnavailable")
    return result


async def _drop_intents(cycle: ObjectCycle, guard: Guard) -> None:
    """Nothing of the object rests any more: its write-ahead intents go with it (one key each, else left in Redis
    for ever). Only under a uid: a name alone is shared with a re-created object's. Best effort: a Redis down now
    must not hold a deletion whose orders are all cancelled."""
    if not cycle.uid:
        return
    with contextlib.suppress(redis_errors.RedisError):
        await cycle.services.journal.drop_intents(guard.intents)


async def _cancel(guard: Guard, resting: Mapping[str, str], result: TeardownResult) -> None:
    """Each order on its own: one the exchange will not cancel now (OKX 51410, cancel pending) does not keep
    the others resting; it is retried with the rest of the deletion."""
    if not resting:
        return
    ctx = guard.context(guard.intents, {})
    refused: list[str] = []
    for cid, symbol in sorted(resting.items()):
        # Looked up first: only what is open now is cancelled and journalled (an intent's order may have filled,
        # or been cancelled by the cycle after it, or never reached the venue).
        found = await ctx.venue.order(cid, symbol)
        if found is None or found.done:
            continue
        try:
            state = await ctx.venue.cancel(cid, symbol)
        except OrderNotFound:  # gone between the look-up and the cancel
            continue
        except FinalVenueError as exc:
            refused.append(f"{cid}: {exc}")
            continue
        result.cancelled[cid] = str(state.filled)
        await ctx.record(CancelEntry(clientOrderId=cid, filled=state.filled, reason=REASON))
    if refused:
        result.failure = ("CancelRefused", f"{len(refused)} cancel(s) refused, retried: {'; '.join(refused)}"[:900],
                          True)

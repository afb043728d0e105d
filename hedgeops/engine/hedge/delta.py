"""Delta per asset (seed 001 §5.1): positions of every kind, options by the delta the venue reports, and
orders still working counted in, so a resting order is never traded a second time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from hedgeops.api.instruments import DeltaInstrument
from hedgeops.api.instruments import InstrumentKind as SpecKind
from hedgeops.engine.common.errors import DeltaCalculationError
from hedgeops.model.orders import Position, Side

ZERO = Decimal(0)


class InstrumentKind(StrEnum):
    """Linear instruments have a delta of one per unit; an option's comes from the venue."""

    SPOT = "spot"
    PERP = "perp"
    FUTURE = "future"
    OPTION = "option"


@dataclass(frozen=True)
class DeltaPosition:
    """A signed position in units of the underlying (contracts already converted)."""

    symbol: str
    asset: str
    kind: InstrumentKind
    qty: Decimal
    option_delta: Decimal | None = None  # per unit, as the venue reports it (options only)

    @classmethod
    def option(cls, symbol: str, asset: str, qty: Decimal, reported: Decimal | None) -> DeltaPosition:
        """An option position from the venue's delta of the whole position (units of the underlying)."""
        per_unit = None if reported is None or qty == 0 or not reported.is_finite() else reported / qty
        return cls(symbol, asset, InstrumentKind.OPTION, qty, per_unit)


@dataclass(frozen=True)
class WorkingOrder:
    """An order still open: its unfilled remainder will change the delta when it fills."""

    symbol: str
    asset: str
    side: Side
    remaining: Decimal


def position_delta(p: DeltaPosition) -> Decimal:
    """Units of exposure to the underlying. An option without a reported delta is an error, never a guess."""
    if p.kind is not InstrumentKind.OPTION or p.qty == 0:  # nothing held: nothing to guess
        return p.qty
    if p.option_delta is None or not p.option_delta.is_finite() or abs(p.option_delta) > 1:
        raise DeltaCalculationError(f"{p.symbol}: the venue reported no usable option delta ({p.option_delta})")
    return p.qty * p.option_delta


def asset_deltas(positions: Iterable[DeltaPosition], working: Iterable[WorkingOrder] = (), *,
                 include_pending: bool = True) -> dict[str, Decimal]:
    """Σ delta per asset, plus (by default) the signed remainder of orders still working."""
    out: dict[str, Decimal] = {}
    for p in positions:
        out[p.asset] = out.get(p.asset, ZERO) + position_delta(p)
    if include_pending:
        for o in working:
            if o.remaining < 0:
                raise DeltaCalculationError(f"{o.symbol}: negative remaining amount {o.remaining}")
            signed = o.remaining if o.side == Side.BUY else -o.remaining
            out[o.asset] = out.get(o.asset, ZERO) + signed
    return out


def rounded(deltas: dict[str, Decimal], precision: int = 4) -> dict[str, Decimal]:
    """Deltas for display at `precision` decimal places (seed 001 get_position_delta(precision=4))."""
    q = Decimal(1).scaleb(-precision)
    return {a: d.quantize(q, rounding=ROUND_HALF_EVEN) for a, d in deltas.items()}


def expired(instruments: Sequence[DeltaInstrument], now: datetime) -> list[DeltaInstrument]:
    """The futures and options whose expiry (08:00 UTC on the day their symbol names) is `now` or before: the venue
    has settled them, so they are not asked for (a venue delists them) and count zero."""
    return [i for i in instruments if (at := i.expiry) is not None and at <= now]


def observed_positions(instruments: Sequence[DeltaInstrument], balances: Mapping[str, Decimal],
                       positions: Mapping[str, Position], now: datetime | None = None) -> tuple[DeltaPosition, ...]:
    """A book's observed instruments as delta positions: a spot balance less its reserve (never below zero), a
    future's position, an option's position with the delta the venue reported for it (None when it reported
    none: position_delta refuses it). An instrument the account does not hold counts zero, and so does one
    expired by `now` (whatever a venue still reports for it)."""
    out = []
    gone = {i.key for i in expired(instruments, now)} if now is not None else set()
    for i in instruments:
        if i.kind is SpecKind.SPOT:
            held = max(balances.get(i.asset, ZERO) - (i.reserve or ZERO), ZERO)
            out.append(DeltaPosition(i.key, i.asset, InstrumentKind.SPOT, held))
            continue
        assert i.symbol is not None  # the spec's rule
        pos = None if i.key in gone else positions.get(i.symbol)
        qty = pos.qty if pos is not None else ZERO
        if i.kind is SpecKind.FUTURE:
            out.append(DeltaPosition(i.symbol, i.asset, InstrumentKind.FUTURE, qty))
        else:
            out.append(DeltaPosition.option(i.symbol, i.asset, qty, pos.delta if pos is not None else None))
    return tuple(out)

"""autoSelect for cash and carry (seed 004's market scan): which pairs to carry, by liquidity and funding."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from hedgeops.api.funding import AutoSelect, Entry

MAX_SCORED = 30  # funding rates are one request each: only the most liquid candidates are scored


@dataclass(frozen=True)
class Candidate:
    """A pair with its 24 h volume (quote) and, once fetched, its funding rate."""

    spot: str
    perp: str
    volume_quote: Decimal | None  # None: unknown (a backtest's mark-priced years)
    rate: Decimal | None = None

    @property
    def volume_rank(self) -> Decimal:
        return self.volume_quote if self.volume_quote is not None else Decimal(-1)


def liquid(candidates: Sequence[Candidate], auto: AutoSelect,
           within: Collection[tuple[str, str]] | None = None) -> list[Candidate]:
    """Candidates with enough volume (and in `within`, when the spec lists pairs), most liquid first, at most
    MAX_SCORED: the ones whose funding rate is worth asking for. A candidate whose volume is unknown cannot be
    judged thin: it passes, after every known one."""
    ok = [c for c in candidates if (c.volume_quote is None or c.volume_quote >= auto.minVolumeQuote)
          and (within is None or (c.spot, c.perp) in within)]
    return sorted(ok, key=lambda c: (-c.volume_rank, c.perp))[:MAX_SCORED]


def select(scored: Sequence[Candidate], auto: AutoSelect, entry: Entry,
           held: Sequence[tuple[str, str]]) -> list[Candidate]:
    """Pairs holding a position first (never abandoned by a scan), then the highest funding rates inside the
    entry range, up to maxSymbols in all; ties go to the more liquid, then the symbol (deterministic)."""
    keep = [c for c in scored if (c.spot, c.perp) in held]
    keep += [Candidate(s, p, Decimal(0)) for s, p in held if all((c.spot, c.perp) != (s, p) for c in scored)]
    room = max(auto.maxSymbols - len(keep), 0)
    fresh = [c for c in scored if (c.spot, c.perp) not in held and c.rate is not None
             and entry.minFundingRate <= c.rate <= entry.maxFundingRate]
    fresh.sort(key=lambda c: (-(c.rate or Decimal(0)), -c.volume_rank, c.perp))
    return keep + fresh[:room]

"""Seed 002's strategy presets for Allocation books, and what a policy resolves to with them: the drift band and
the schedule's cron fill only what the policy leaves unset (explicit fields win).

| preset          | drift | schedule        | cron (UTC)        |
|-----------------|-------|-----------------|-------------------|
| StablecoinVault | 10 %  | weekly          | `0 0 * * 1`       |
| IndexFund       | 5 %   | monthly         | `0 0 1 * *`       |
| BitcoinStrategy | 7 %   | every two weeks | `0 0 1,15 * *`    |
| EtherStrategy   | 7 %   | every two weeks | `0 0 1,15 * *`    |
| Custom          | 5 %   | none            |                   |

Cron cannot count fortnights, so "every two weeks" is the 1st and the 15th of each month (14–17 days apart)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hedgeops.api.policy import AllocationPreset, AllocationRules, RebalancePolicySpec

DEFAULT_DRIFT = Decimal("0.05")  # a Custom policy that sets no driftRatio


@dataclass(frozen=True)
class PresetValues:
    drift_ratio: Decimal
    cron: str | None


PRESETS: dict[AllocationPreset, PresetValues] = {
    AllocationPreset.STABLECOIN_VAULT: PresetValues(Decimal("0.10"), "0 0 * * 1"),
    AllocationPreset.INDEX_FUND: PresetValues(Decimal("0.05"), "0 0 1 * *"),
    AllocationPreset.BITCOIN_STRATEGY: PresetValues(Decimal("0.07"), "0 0 1,15 * *"),
    AllocationPreset.ETHER_STRATEGY: PresetValues(Decimal("0.07"), "0 0 1,15 * *"),
    AllocationPreset.CUSTOM: PresetValues(DEFAULT_DRIFT, None),
}


def drift_ratio(rules: AllocationRules) -> Decimal:
    """The band every asset without its own `assetDrift` gets: explicit, else the preset's."""
    return rules.driftRatio if rules.driftRatio is not None else PRESETS[rules.preset].drift_ratio


def static_cron(policy: RebalancePolicySpec) -> str | None:
    """The fixed cron in force: the schedule's own, else the preset's (when the schedule is unset or names
    neither a cron nor a dynamic table). None: no fixed cron (none at all, or a dynamic schedule)."""
    schedule = policy.schedule
    if schedule is not None and schedule.cron is not None:
        return schedule.cron
    if schedule is not None and schedule.dynamic is not None:
        return None
    return PRESETS[policy.allocation.preset].cron


def notice_seconds(policy: RebalancePolicySpec) -> int:
    """How long before a scheduled rebalance it is announced (the schedule's, else the default of one hour)."""
    return policy.schedule.noticeSeconds if policy.schedule is not None else 3600

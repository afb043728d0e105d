"""The four kinds as pydantic models: the single source of truth the CRDs are generated from."""

from hedgeops.api.common import Resource
from hedgeops.api.funding import FundingArbitrage
from hedgeops.api.hedgebook import HedgeBook
from hedgeops.api.marketmaker import MarketMaker
from hedgeops.api.policy import RebalancePolicy

KINDS: dict[str, type[Resource]] = {  # type: ignore[type-arg]
    cls.KIND: cls for cls in (HedgeBook, RebalancePolicy, FundingArbitrage, MarketMaker)
}

__all__ = ["KINDS", "FundingArbitrage", "HedgeBook", "MarketMaker", "RebalancePolicy", "Resource"]

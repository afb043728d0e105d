"""Types shared by the four kinds: exchange reference, mode, conditions, object envelope."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

# Money and quantities are Decimal in memory; in JSON (status patches, CRDs) they are numbers, as the
# schema says. Status figures are reports: the float's shortest repr round-trips what we store.
_AsNumber = PlainSerializer(float, return_type=float, when_used="json")
Quantity = Annotated[Decimal, Field(allow_inf_nan=False), _AsNumber]
PositiveQuantity = Annotated[Decimal, Field(gt=0, allow_inf_nan=False), _AsNumber]
Ratio = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False), _AsNumber]
# An asset code such as SOL, ETH, BTC, USDT. Every string, list and map a CEL rule reads carries a bound (maxLength,
# maxItems, maxProperties): the API server estimates a rule's cost from them and refuses a CRD it cannot bound.
AssetCode = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,12}$", max_length=12)]
# How many assets (legs, holdings, weights) one object may name.
MAX_ASSETS = 50
# ccxt unified symbols: spot BASE/QUOTE; a perpetual swap BASE/QUOTE:SETTLE, linear when SETTLE is QUOTE.
SpotSymbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}$", max_length=25)]
SwapSymbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}:[A-Z0-9]{2,12}$", max_length=38)]
# A DNS-1123 name of another object in the same namespace.
ObjectName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", max_length=253)]


def symbol_base(symbol: str) -> str:
    """BASE of a ccxt unified symbol."""
    return symbol.split("/", 1)[0]


def is_linear_swap(symbol: str) -> bool:
    """BASE/QUOTE:SETTLE settled in its quote: one contract's value moves with the base like the base itself."""
    market, _, settle = symbol.partition(":")
    return bool(settle) and market.partition("/")[2] == settle


class Schema(BaseModel):
    """Base of every API type: camelCase field names, unknown fields rejected, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Mode(StrEnum):
    """Paper simulates fills on replayed or live prices; Live sends real orders."""

    PAPER = "Paper"
    LIVE = "Live"


class SecretRef(Schema):
    """A Secret in the same namespace holding exchange credentials or a webhook passphrase."""

    name: ObjectName
    """Name of the Secret."""


class ExchangeRef(Schema):
    """Which exchange account a strategy trades on."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,31}$")] = "okx"
    """ccxt exchange id, for example okx, binance, bybit."""
    account: ObjectName = "default"
    """Account label. One lock is held per (exchange, account): no two actors trade one account at once."""
    credentialsSecretRef: SecretRef | None = None
    """Secret with keys apiKey, secret and (OKX) passphrase. Required when mode is Live."""
    sandbox: bool = False
    """Use the exchange's sandbox/testnet endpoints."""


class ObjectRef(Schema):
    """A reference to another HedgeOps object in the same namespace."""

    name: ObjectName
    """Name of the referenced object."""


class ConditionStatus(StrEnum):
    """Kubernetes condition status."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Schema):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z]+$")]
    """Condition type, for example Ready, WithinBand, Degraded."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$")]
    """One CamelCase word explaining the status."""
    message: str = ""
    """Human-readable explanation."""
    lastTransitionTime: datetime | None = None
    """When the status last changed."""
    observedGeneration: int | None = None
    """The spec generation the condition was computed from."""


class ObjectMeta(Schema):
    """The part of Kubernetes object metadata HedgeOps reads."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    name: ObjectName
    """Object name."""
    namespace: str = "default"
    """Object namespace."""
    uid: str | None = None
    """Object uid, used to derive deterministic client order ids."""
    generation: int | None = None
    """Spec generation."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations (hedgeops.io/halt, hedgeops.io/approve)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels."""


SpecT = TypeVar("SpecT", bound=Schema)
StatusT = TypeVar("StatusT", bound=Schema)


class Resource(BaseModel, Generic[SpecT, StatusT]):
    """A whole custom resource: apiVersion, kind, metadata, spec, status."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    SINGULAR: ClassVar[str] = ""
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()
    PRINTER_COLUMNS: ClassVar[tuple[dict[str, Any], ...]] = ()

    apiVersion: Literal["hedgeops.io/v1alpha1"] = "hedgeops.io/v1alpha1"
    kind: str
    metadata: ObjectMeta
    spec: SpecT
    status: StatusT | None = None

    @property
    def key(self) -> str:
        """`namespace/name`, the identity used in journals, locks and metrics."""
        return f"{self.metadata.namespace}/{self.metadata.name}"

"""Types shared by the four kinds: exchange reference, mode, conditions, object envelope."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from hedgeops.api.cel import rule, with_rules

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
# A namespace: a DNS-1123 label, as the API server requires (`Bad NS` is refused by kubectl, so by validate too).
NamespaceName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", max_length=63)]
# A market symbol as the runtime reports it in status (spot or swap; room for any ccxt symbol).
StatusSymbol = Annotated[str, Field(max_length=64)]
# A CamelCase reason or a short code (trigger reasons, plan urgency, order side/type/state).
ShortText = Annotated[str, Field(max_length=64)]
# A Decimal the runtime keeps exact as a string in status (at most 18 significant digits and an exponent).
DecimalText = Annotated[str, Field(max_length=64)]
# An RFC 3339 time the runtime writes as a string (isoformat with microseconds and offset is 32 characters).
TimeText = Annotated[str, Field(max_length=64)]
# Status lists: the most items the runtime writes. A plan has at most 100 orders (client order ids number its legs
# 00-99, engine/ids.py); a working plan may list a maker order and its taker fallback, hence 200.
MAX_PLAN_ORDERS = 200
# Condition types one object carries (Ready, WithinBand, AwaitingApproval, Halted, Degraded, SharedPosition, ...).
MAX_CONDITIONS = 32
# metav1.Condition's own bounds (k8s.io/apimachinery/pkg/apis/meta/v1/types.go): type 316, reason 1024,
# message 32768 characters.
CONDITION_MESSAGE_LENGTH = 32768


def _clipped(limit: int) -> BeforeValidator:
    """Cut a status text to `limit` characters: one over-long message (an exchange's error text) must not make
    the API server refuse the whole status write."""
    return BeforeValidator(lambda v: v[: limit - 1] + "…" if isinstance(v, str) and len(v) > limit else v)


# Free text written into status by the runtime (decisions, exchange errors, problems), clipped to its bound.
StatusMessage = Annotated[str, _clipped(4096), Field(max_length=4096)]


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

    model_config = with_rules(
        # Positions live on the venue: a book pointed at another exchange would forget them, still open.
        rule("self.name == oldSelf.name", "exchange.name is immutable: positions stay on the exchange they were "
             "opened on; create a new object to trade on another exchange", ".name"),
    )

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,31}$", max_length=32)] = "okx"
    """ccxt exchange id, for example okx, binance, bybit. Immutable: positions stay on the exchange they were
    opened on."""
    account: ObjectName = "default"
    """Account label. One lock is held per (exchange, account): no two actors trade one account at once.
    Immutable while the object is Live (its positions are on this account; CEL cannot see whether it holds any):
    to move a flat Live object, set mode Paper, change the account, set mode Live again. A Paper object may move
    freely (for example to its own account when two objects share a position)."""
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

    type: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z]+$", max_length=316)]
    """Condition type, for example Ready, WithinBand, Degraded."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=1024)]
    """One CamelCase word explaining the status."""
    message: Annotated[str, _clipped(CONDITION_MESSAGE_LENGTH), Field(max_length=CONDITION_MESSAGE_LENGTH)] = ""
    """Human-readable explanation (at most 32768 characters, as metav1.Condition)."""
    lastTransitionTime: datetime | None = None
    """When the status last changed."""
    observedGeneration: int | None = None
    """The spec generation the condition was computed from."""


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its $defs inlined: the declared shape of a document kept as a dict."""
    raw = model.model_json_schema(mode="validation")
    defs = raw.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = defs[node["$ref"].rsplit("/", 1)[-1]]
                node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    out: dict[str, Any] = resolve(raw)
    return out


def live_account_rule() -> dict[str, str]:
    """Transition rule for a spec with `mode` and `exchange`: a Live object keeps its exchange account."""
    return rule("self.mode != 'Live' || oldSelf.mode != 'Live' || "
                "(self.exchange.account == oldSelf.exchange.account && "
                "self.exchange.sandbox == oldSelf.exchange.sandbox)",
                "exchange.account and exchange.sandbox are immutable while mode is Live: its positions are on "
                "that account (set mode Paper first to move a flat object)", ".exchange.account")


class ObjectMeta(Schema):
    """The part of Kubernetes object metadata HedgeOps reads."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)

    name: ObjectName
    """Object name."""
    namespace: NamespaceName = "default"
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

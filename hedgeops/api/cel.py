"""CEL rules attached to API models; rendered into the CRD as x-kubernetes-validations."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict


def rule(expr: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One x-kubernetes-validations entry. `fieldPath` points kubectl at the offending field."""
    out = {"rule": expr, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def linear_swap_rule(field: str, example: str) -> dict[str, str]:
    """`self.<field>` is a linear perpetual swap, BASE/QUOTE:SETTLE with SETTLE == QUOTE. `split` is in the
    strings library of Kubernetes' CEL; the field's pattern guarantees one ':' and one '/'."""
    f = f"self.{field}"
    return rule(f"size({f}.split(':')) == 2 && {f}.split(':')[0].endsWith('/' + {f}.split(':')[1])",
                f"{field} must be a linear perpetual swap, BASE/QUOTE:SETTLE settled in its quote currency "
                f"(for example {example})", f".{field}")


def with_rules(*rules: dict[str, str]) -> ConfigDict:
    """Model config for an API type that carries CEL rules (in addition to the Schema defaults)."""
    extra: dict[str, Any] = {"x-kubernetes-validations": list(rules)}
    return ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, json_schema_extra=extra)

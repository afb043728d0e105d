"""The engine's typed errors (seed 001's hierarchy): callers can tell a bad signal from a failed trade."""

from __future__ import annotations


class PositionAdjustmentError(Exception):
    """Base of every error the engine raises about adjusting a position."""


class DeltaCalculationError(PositionAdjustmentError):
    """The current or target delta cannot be computed from what was observed."""


class AdjustmentExecutionError(PositionAdjustmentError):
    """A plan could not be carried out."""


class SignalValidationError(PositionAdjustmentError):
    """A signal is malformed, unauthenticated, stale, a duplicate or loses a conflict. `field` names the part."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class InsufficientBalanceError(PositionAdjustmentError):
    """Not enough balance or margin for the plan."""


class RiskLimitExceededError(PositionAdjustmentError):
    """A plan breaks one of the policy's risk limits (seed 001 §9). `reason` is a CamelCase code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class RedLineError(PositionAdjustmentError):
    """A plan or a spec crosses one of seed 004's red lines (leverage above 3, averaging down, a strategy
    without a stop). Refused however the caller got here, even around the CRD schema."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"red line {rule}: {message}")

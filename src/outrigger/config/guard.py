"""Guardrails configuration: injection screening, the system-prompt canary and output
validation, with per-feature overrides (``guard.features.<feature>``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from outrigger.guard.output import OutputValidator
from outrigger.guard.policy import InjectionPolicy
from outrigger.memo import DEFAULT_ENTRIES


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureGuard(_Section):
    """Overrides for one feature (``X-Outrigger-Feature``); None inherits the defaults."""

    injection: InjectionPolicy | None = None
    canary: bool | None = None
    #: JSON Schema the answer must match. An invalid answer gets one repair retry, then the
    #: feature's fallback answer (status ``invalid`` in the ledger and audit trail).
    output_schema: dict[str, Any] | None = None
    fallback_answer: str | None = None

    @field_validator("output_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            OutputValidator(value)  # raises ConfigError with the reason
        return value


class GuardSettings(_Section):
    #: Screening of untrusted content (user and tool turns): by default blocked at a
    #: high-confidence score (>= 0.9), flagged from 0.5 (header, ledger, audit, metric).
    injection: InjectionPolicy = InjectionPolicy()
    #: Score with the bundled ONNX classifier beside the rules (false: the rules alone).
    injection_classifier: bool = True
    #: Verdicts kept per process for texts a tenant sends again (a chat client re-sends the
    #: whole conversation with each call); keyed by tenant and a digest of the text; 0: screen
    #: every time.
    memo_entries: int = Field(DEFAULT_ENTRIES, ge=0)
    #: Put a random marker into system prompts and withhold answers that repeat it.
    canary: bool = False
    #: Answer of a feature whose output failed validation twice (default: llm.fallback_answer).
    fallback_answer: str | None = None
    features: dict[str, FeatureGuard] = Field(default_factory=dict)

    def for_feature(self, feature: str) -> ResolvedGuard:
        f = self.features.get(feature, FeatureGuard())
        return ResolvedGuard(
            injection=f.injection or self.injection,
            canary=self.canary if f.canary is None else f.canary,
            output_schema=f.output_schema,
            fallback_answer=f.fallback_answer or self.fallback_answer,
            feature_fallback=f.fallback_answer,
        )


class ResolvedGuard(_Section):
    injection: InjectionPolicy
    canary: bool
    output_schema: dict[str, Any] | None
    fallback_answer: str | None
    #: The feature's own fallback only (pipelines take no other: an event deserves a real
    #: result, the step's own fallback text or a dead letter).
    feature_fallback: str | None = None

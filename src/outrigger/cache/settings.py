"""Configuration of the response cache: defaults and per-feature overrides.

Mounted by the settings tree (``Settings.cache``), or built directly in tests::

    CacheSettings(threshold=0.7, features={"triage": FeatureCacheSettings(enabled=False)})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Cosine similarity from which a semantic neighbour is *considered*; the verifier then
#: decides. Measured on benchmarks/data/semantic_pairs.jsonl (docs/semantic-cache.md).
DEFAULT_THRESHOLD = 0.7


#: Who shares a cached answer. ``tenant``: every caller of the tenant. ``user``: only the
#: same user (the request's ``user`` field, else the API key). ``auto``: ``user`` for a
#: request that carried personal data (identifiers were pseudonymised, so the answer is
#: about someone and is re-hydrated for its caller), ``tenant`` otherwise.
Scope = Literal["auto", "user", "tenant"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureCacheSettings(_Section):
    """Overrides for one feature (the ``feature`` a request is tagged with); None inherits."""

    enabled: bool | None = None
    semantic: bool | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    ttl_s: float | None = Field(default=None, gt=0)
    scope: Scope | None = None


class CacheSettings(_Section):
    enabled: bool = True
    #: Semantic look-ups after the exact one; off = exact matches only.
    semantic: bool = True
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=1.0)
    ttl_s: float = Field(default=24 * 3600.0, gt=0)
    #: Nearest neighbours the verifier examines per semantic look-up.
    candidates: int = Field(default=4, ge=1, le=64)
    #: Longer user messages are cached exactly only (the embedding sees 256 tokens).
    max_semantic_chars: int = Field(default=1000, ge=1)
    #: How the cache's local embedder computes (``embeddings.compute`` for the served one):
    #: ``int8`` runs its constant-weight products on integers, one text per call, about
    #: 1.7x faster than ``float`` for a short query (docs/semantic-cache.md).
    embedding_compute: Literal["int8", "float"] = "int8"
    scope: Scope = "auto"
    features: dict[str, FeatureCacheSettings] = {}

    def policy(self, feature: str) -> CachePolicy:
        override = self.features.get(feature, FeatureCacheSettings())
        enabled = self.enabled if override.enabled is None else override.enabled
        semantic = self.semantic if override.semantic is None else override.semantic
        return CachePolicy(
            enabled=enabled,
            semantic=enabled and semantic,
            threshold=self.threshold if override.threshold is None else override.threshold,
            ttl_s=self.ttl_s if override.ttl_s is None else override.ttl_s,
            scope=self.scope if override.scope is None else override.scope,
        )


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The settings that apply to one feature, resolved."""

    enabled: bool
    semantic: bool
    threshold: float
    ttl_s: float
    scope: Scope = "auto"

    def as_dict(self) -> dict[str, object]:
        mode = "semantic" if self.semantic else "exact" if self.enabled else "off"
        floor = self.threshold if self.semantic else None
        return {"mode": mode, "floor": floor, "ttl_s": self.ttl_s, "scope": self.scope}

    def describe(self) -> str:
        """For the ``X-Outrigger-Cache-Policy`` header: ``off``, ``exact;scope=…`` or
        ``semantic;floor=…;scope=…``."""
        if not self.enabled:
            return "off"
        kind = f"semantic;floor={self.threshold:g}" if self.semantic else "exact"
        return f"{kind};scope={self.scope}"

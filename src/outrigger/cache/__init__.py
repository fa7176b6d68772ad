"""The LLM response cache: exact and verified semantic matches, always per tenant."""

from outrigger.cache.request import CacheKeys, CacheRequest, cache_keys
from outrigger.cache.semantic import Hit, SemanticCache, TenantMismatchError, namespace_of
from outrigger.cache.settings import (
    DEFAULT_THRESHOLD,
    CachePolicy,
    CacheSettings,
    FeatureCacheSettings,
)
from outrigger.cache.verify import AcceptAll, HitVerifier, RuleVerifier, Verdict

__all__ = [
    "DEFAULT_THRESHOLD",
    "AcceptAll",
    "CacheKeys",
    "CachePolicy",
    "CacheRequest",
    "CacheSettings",
    "FeatureCacheSettings",
    "Hit",
    "HitVerifier",
    "RuleVerifier",
    "SemanticCache",
    "TenantMismatchError",
    "Verdict",
    "cache_keys",
    "namespace_of",
]

"""The response cache the LLM proxy calls: exact first, then verified semantic matches.

Every entry lives in the vector store namespace ``cache.<tenant>``; the entry id is the
request's exact key (which also hashes the tenant). A look-up for tenant A therefore only
ever reads A's namespace: a cross-tenant hit would need the store to break its contract.

Semantic look-ups embed the last user message, ask the store for the nearest
``candidates`` entries *with the same fingerprint* (same tenant, alias, system prompt and
earlier turns, the last message's fields but its text (its speaker's ``name``),
answer-changing parameters, embedding model), and serve the first one that
is above the threshold, not expired, and accepted by the verifier. A served semantic hit
is also filed under the new request's exact key as an *alias* (same answer, same expiry,
not itself searchable), so a repeat of the paraphrase takes the exact path; aliases never
chain, because verification always compares with the text the answer was made for.

The ``*_sync`` methods block (embedding, store I/O); the async ones run them in a worker
thread so the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from outrigger.cache.request import CacheKeys, CacheRequest, cache_keys
from outrigger.cache.settings import CachePolicy, CacheSettings
from outrigger.cache.verify import HitVerifier, RuleVerifier
from outrigger.embeddings.base import Embedder, Vectors
from outrigger.vector.base import VectorHit, VectorStore, check_namespace

log = logging.getLogger("outrigger.cache")
NAMESPACE_PREFIX = "cache."


@dataclass(frozen=True, slots=True)
class Hit:
    kind: Literal["exact", "semantic"]
    response: dict[str, Any]
    score: float  # cosine similarity of the user messages; 1.0 for an exact hit
    key: str  # the cached entry's exact key
    cached_text: str  # the user message the response was cached for
    age_s: float
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


class TenantMismatchError(ValueError):
    """The tenant the call is made for is not the request's tenant."""


class SemanticCache:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        settings: CacheSettings,
        *,
        verifier: HitVerifier | None = None,
        clock: Callable[[], float] = time.time,
        memo_size: int = 1024,
    ) -> None:
        if store.dim != embedder.dim:
            raise ValueError(f"store holds {store.dim}-d vectors, embedder makes {embedder.dim}-d")
        self._store = store
        self._embedder = embedder
        self._settings = settings
        self._verifier = verifier if verifier is not None else RuleVerifier()
        self._clock = clock
        self._memo: OrderedDict[str, Vectors] = OrderedDict()
        self._memo_size = memo_size
        self._memo_lock = threading.Lock()
        self._placeholder = np.eye(1, embedder.dim, dtype=np.float32)[0]

    @property
    def settings(self) -> CacheSettings:
        return self._settings

    def enabled_for(self, feature: str) -> bool:
        return self._settings.policy(feature).enabled

    async def lookup(self, tenant: str, request: CacheRequest) -> Hit | None:
        return await asyncio.to_thread(self.lookup_sync, tenant, request)

    async def store(self, tenant: str, request: CacheRequest, response: Mapping[str, Any]) -> None:
        await asyncio.to_thread(self.store_sync, tenant, request, response)

    async def purge(self, tenant: str) -> None:
        await asyncio.to_thread(self.purge_sync, tenant)

    async def count(self, tenant: str) -> int:
        return await asyncio.to_thread(self.count_sync, tenant)

    def lookup_sync(self, tenant: str, request: CacheRequest) -> Hit | None:
        namespace = self._namespace(tenant, request)
        policy = self._settings.policy(request.feature)
        if not policy.enabled:
            return None
        keys = cache_keys(request, self._embedder.model_id)
        now = self._clock()
        exact = self._store.get(namespace, [keys.exact])
        if exact:
            payload = exact[0].payload
            if payload.get("exp", 0) <= now:
                self._store.delete(namespace, [keys.exact])
            elif "alias_of" not in payload:
                return _hit("exact", keys.exact, 1.0, payload, now)
            elif policy.semantic and float(payload["alias_score"]) >= policy.threshold:
                # a semantic hit filed for this exact request, served where semantic hits are
                return _hit(
                    "semantic", str(payload["alias_of"]), payload["alias_score"], payload, now
                )
        if not self._semantic_eligible(policy, keys):
            return None
        hit = self._semantic(namespace, policy, keys, now)
        if hit is not None:
            self._file_alias(namespace, keys, hit)
        return hit

    def store_sync(self, tenant: str, request: CacheRequest, response: Mapping[str, Any]) -> None:
        """Cache ``response`` (a complete, successful answer) for ``request``."""
        namespace = self._namespace(tenant, request)
        policy = self._settings.policy(request.feature)
        if not policy.enabled:
            return
        keys = cache_keys(request, self._embedder.model_id)
        semantic = self._semantic_eligible(policy, keys)
        vector = self._embed(keys.text) if semantic and keys.text else self._placeholder
        now = self._clock()
        payload = {
            "fp": keys.fingerprint,
            "sem": semantic,
            "exp": now + policy.ttl_s,
            "at": now,
            "feature": request.feature,
            "model": request.model,
            "text": keys.text or "",
            "response": dict(response),
        }
        self._store.upsert(namespace, [keys.exact], [vector], [payload])

    def purge_sync(self, tenant: str) -> None:
        """Forget every cached answer of ``tenant`` (and nothing of any other tenant)."""
        self._store.delete_all(namespace_of(tenant))

    def count_sync(self, tenant: str) -> int:
        return self._store.count(namespace_of(tenant))

    def _semantic(
        self, namespace: str, policy: CachePolicy, keys: CacheKeys, now: float
    ) -> Hit | None:
        assert keys.text is not None
        vector = self._embed(keys.text)
        wanted: dict[str, str | int | bool] = {"fp": keys.fingerprint, "sem": True}
        candidates = self._store.search(namespace, vector, self._settings.candidates, wanted)
        expired: list[str] = []
        found: Hit | None = None
        for candidate in candidates:
            if candidate.score < policy.threshold:
                break
            if candidate.payload.get("exp", 0) <= now:
                expired.append(candidate.id)
                continue
            if self._accepts(keys.text, candidate):
                found = _hit("semantic", candidate.id, candidate.score, candidate.payload, now)
                break
        if expired:
            self._store.delete(namespace, expired)
        return found

    def _file_alias(self, namespace: str, keys: CacheKeys, hit: Hit) -> None:
        """Remember ``hit`` under the request's exact key (not searchable, same expiry). A
        shortcut only: a failed write is logged and the hit is served all the same. (An
        answer stored under the same key at the same moment may be replaced by the alias;
        the next miss of that request stores it again.)"""
        source = hit.payload
        payload = {**source, "sem": False, "alias_of": hit.key, "alias_score": hit.score}
        try:
            self._store.upsert(namespace, [keys.exact], [self._placeholder], [payload])
        except Exception:
            log.warning("could not file a cache alias in %s", namespace, exc_info=True)

    def _accepts(self, text: str, candidate: VectorHit) -> bool:
        verdict = self._verifier.verify(text, str(candidate.payload.get("text", "")))
        if not verdict.ok:
            log.debug(
                "semantic candidate refused (score %.3f): %s", candidate.score, verdict.reason
            )
        return verdict.ok

    def _semantic_eligible(self, policy: CachePolicy, keys: CacheKeys) -> bool:
        text = keys.text
        return (
            policy.semantic and text is not None and len(text) <= self._settings.max_semantic_chars
        )

    def _embed(self, text: str) -> Vectors:
        with self._memo_lock:
            known = self._memo.get(text)
            if known is not None:
                self._memo.move_to_end(text)
                return known
        vector: Vectors = self._embedder.embed([text])[0]
        with self._memo_lock:
            self._memo[text] = vector
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return vector

    @staticmethod
    def _namespace(tenant: str, request: CacheRequest) -> str:
        if request.tenant != tenant:
            raise TenantMismatchError(f"request of tenant {request.tenant!r} used for {tenant!r}")
        return namespace_of(tenant)


def namespace_of(tenant: str) -> str:
    """The vector-store namespace of a tenant's cache; ValueError for an invalid tenant id."""
    if not tenant:
        raise ValueError("a cache entry always belongs to a tenant")
    return check_namespace(NAMESPACE_PREFIX + tenant)


def _hit(
    kind: Literal["exact", "semantic"],
    key: str,
    score: float,
    payload: Mapping[str, Any],
    now: float,
) -> Hit:
    return Hit(
        kind=kind,
        response=dict(payload.get("response") or {}),
        score=float(score),
        key=key,
        cached_text=str(payload.get("text", "")),
        age_s=max(0.0, now - float(payload.get("at", now))),
        payload=payload,
    )

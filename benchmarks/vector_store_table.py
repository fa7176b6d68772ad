"""The embedded store's latency table (``semantic_cache.py --store-table``).

One case per (mode, size), each in a child process of its own so its peak RSS is its own:
``exact`` (no graph) or ``ann`` (usearch graph past ``--exact-below`` entries, the default
settings otherwise). One namespace holds N entries with the semantic cache's payloads, all
under the query's fingerprint (every entry is a candidate); then:

* ``populate_s``: the upserts in batches of 2,000 (SQLite + index + graph), of which
  ``graph_add_s`` inside the graph;
* ``search``: the cache's filtered top-4 search alone (``ef_sweep``: at ef_search 64, 128 and
  256; the rest at the default), p50/p95, and ``recall_at_4`` against
  an exact scan of the same vectors, on queries drawn like the data; ``planted_recall_at_4``:
  the stored vector a query was made from (cosine ~0.75, a paraphrase near the threshold)
  is among the 4;
* ``lookup``: ``SemanticCache.lookup_sync`` end to end (exact probe, embedding of a fresh
  text with the cache's embedder, the search, verification), p50/p95;
* ``close_s`` (saves the graph), ``reopen_s`` (the next process: rows from SQLite, the saved
  graph loaded and checked), ``rebuild_s`` with ``--rebuild`` (the graph built from scratch,
  as after losing its file), peak and steady RSS.

Vectors (``--vectors``): ``latent`` (default, a model of sentence embeddings, see
ann_libraries.py) or ``random`` unit vectors (latency as representative, recall the worst case).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ann_libraries import make_rows, planted, rss_mb
from outrigger.cache import CacheRequest, CacheSettings, SemanticCache, cache_keys
from outrigger.embeddings.local import OnnxEmbedder
from outrigger.vector.embedded import EmbeddedVectorStore
from outrigger.vector.graph import GraphOptions, Keys, NeighbourGraph
from outrigger.vector.usearch_graph import UsearchGraphs

NAMESPACE = "cache.bench"
SYSTEM = {"role": "system", "content": "You are the support assistant. Answer briefly."}


class TimedGraphs(UsearchGraphs):
    """usearch, with the time spent adding to graphs summed."""

    def __init__(self) -> None:
        super().__init__()
        self.add_s = 0.0

    def new(self, dim: int, options: GraphOptions) -> NeighbourGraph:
        graph = super().new(dim, options)
        inner = graph.add

        def add(keys: Keys, vectors: Any) -> None:
            started = time.perf_counter()
            inner(keys, vectors)
            self.add_s += time.perf_counter() - started

        graph.add = add  # type: ignore[method-assign]
        return graph


def request(text: str) -> CacheRequest:
    return CacheRequest(
        "bench", "bench", "chat-default", [SYSTEM, {"role": "user", "content": text}]
    )


def open_store(path: Path, mode: str, exact_below: int, graphs: Any) -> EmbeddedVectorStore:
    return EmbeddedVectorStore(
        path, 384, synchronous="OFF", graphs=graphs if mode == "ann" else None,
        exact_below=exact_below,
    )  # fmt: skip


def populate(store: EmbeddedVectorStore, data: np.ndarray, fingerprint: str) -> None:
    now = time.time()
    for start in range(0, data.shape[0], 2000):
        count = min(2000, data.shape[0] - start)
        payloads = [
            {
                "fp": fingerprint, "sem": True, "exp": now + 86400, "at": now, "feature": "bench",
                "model": "chat-default", "text": f"synthetic question {start + i}",
                "response": {"choices": [{"message": {"content": f"answer {start + i}"}}]},
            }
            for i in range(count)
        ]  # fmt: skip
        ids = [f"syn{start + i}" for i in range(count)]
        store.upsert(NAMESPACE, ids, data[start : start + count], payloads)


def timings(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
    }


def ef_sweep(
    store: EmbeddedVectorStore, data: np.ndarray, kind: str, wanted: dict[str, Any], count: int
) -> dict[str, Any]:
    """The search figures at other search breadths (the graph's setting changed in place)."""
    graph = store._indexes[NAMESPACE].graph  # a benchmark may look inside
    if graph is None:
        return {}
    usearch_index = graph._index  # type: ignore[attr-defined]
    default = usearch_index.expansion_search
    sweep = {}
    for ef in (64, 128, 256):
        usearch_index.expansion_search = ef
        sweep[str(ef)] = search_figures(store, data, kind, wanted, count)
    usearch_index.expansion_search = default
    return sweep


def search_figures(
    store: EmbeddedVectorStore, data: np.ndarray, kind: str, wanted: dict[str, Any], count: int
) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    probes = make_rows(kind, rng, count)
    near, targets = planted(rng, data, count, kind)
    times, found, near_found = [], 0, 0
    for probe, close, target in zip(probes, near, targets, strict=True):
        started = time.perf_counter()
        hits = store.search(NAMESPACE, probe, 4, wanted)
        times.append((time.perf_counter() - started) * 1000)
        exact = np.argpartition(-np.einsum("ij,j->i", data, probe), 4)[:4]
        found += len({h.id for h in hits} & {f"syn{i}" for i in exact.tolist()})
        near_found += f"syn{target}" in {h.id for h in store.search(NAMESPACE, close, 4, wanted)}
    return {
        "search": timings(times),
        "recall_at_4": round(found / (4 * count), 4),
        "planted_recall_at_4": round(near_found / count, 4),
    }


def run_case(mode: str, size: int, args: dict[str, Any], out: Any) -> None:
    kind = args["vectors"]
    data = make_rows(kind, np.random.default_rng(size), size)
    embedder = OnnxEmbedder.minilm(compute=CacheSettings().embedding_compute)
    fingerprint = cache_keys(request("x"), embedder.model_id).fingerprint
    wanted = {"fp": fingerprint, "sem": True}
    root = Path(tempfile.mkdtemp(prefix="outrigger-store-"))
    graphs = TimedGraphs()
    result: dict[str, Any] = {"mode": mode, "size": size, "vectors": kind}
    try:
        store = open_store(root / "v.sqlite3", mode, args["exact_below"], graphs)
        started = time.perf_counter()
        populate(store, data, fingerprint)
        result["populate_s"] = round(time.perf_counter() - started, 1)
        result["graph_add_s"] = round(graphs.add_s, 1)
        result.update(search_figures(store, data, kind, wanted, args["queries"]))
        if mode == "ann":
            result["ef_sweep"] = ef_sweep(store, data, kind, wanted, args["queries"])
        cache = SemanticCache(store, embedder, CacheSettings())
        for i in range(10):
            cache.lookup_sync("bench", request(f"warm-up question {i}"))
        times = []
        for text in args["texts"]:
            started = time.perf_counter()
            cache.lookup_sync("bench", request(text))
            times.append((time.perf_counter() - started) * 1000)
        result["lookup"] = timings(times)
        started = time.perf_counter()
        store.close()
        result["close_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        store = open_store(root / "v.sqlite3", mode, args["exact_below"], graphs)
        store.count(NAMESPACE)
        result["reopen_s"] = round(time.perf_counter() - started, 1)
        result["steady_rss_mb"] = round(rss_mb())
        if args["rebuild"] and mode == "ann":
            store.close()
            shutil.rmtree(root / "v.sqlite3.graphs")
            started = time.perf_counter()
            store = open_store(root / "v.sqlite3", mode, args["exact_below"], graphs)
            store.count(NAMESPACE)
            result["rebuild_s"] = round(time.perf_counter() - started, 1)
        store.close()
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        result["load1"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out.put(result)


def store_table(
    modes: list[str], sizes: list[int], texts: list[str], args: dict[str, Any]
) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    rows = []
    print(f"\nembedded store, {args['vectors']} vectors (one child process per case)")
    for mode in modes:
        for size in sizes:
            queue = context.Queue()
            child = context.Process(
                target=run_case, args=(mode, size, {**args, "texts": texts}, queue)
            )
            child.start()
            row = queue.get(timeout=4 * 3600)
            child.join()
            rows.append(row)
            print(
                f"  {mode:5s} {size:8d}  search p50 {row['search']['p50_ms']:6.2f} ms"
                f" p95 {row['search']['p95_ms']:6.2f}  look-up p50 {row['lookup']['p50_ms']:6.2f}"
                f" p95 {row['lookup']['p95_ms']:6.2f}  recall@4 {row['recall_at_4']:.3f}"
                f" planted {row['planted_recall_at_4']:.3f}  populate {row['populate_s']} s"
                f" (graph {row['graph_add_s']} s)  reopen {row['reopen_s']} s"
                f"  rebuild {row.get('rebuild_s', '-')} s  peak RSS {row['peak_rss_mb']} MB"
                f"  load {row['load1']}",
                flush=True,
            )
    return rows

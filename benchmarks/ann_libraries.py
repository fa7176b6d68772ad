"""Approximate-nearest-neighbour libraries compared for the embedded vector store.

Each case runs in a child process of its own (so peak RSS is the case's): N unit vectors of
dimension 384 (the embedder's), an HNSW graph built with M 16 and
ef_construction 128 on all cores, then one query at a time on the calling thread, as the
semantic cache searches. Reported per library and storage type:

* build time, the index's resident memory (RSS after the build less RSS before it, the data
  set of N x 384 float32 excluded) and the process's peak RSS;
* look-up p50/p95 for top-10 at each ``ef`` (search breadth);
* recall@10 against exact search, on random queries: the worst case for a graph index
  (random 384-d vectors are nearly equidistant, real embeddings cluster);
* "planted" recall: the stored vector a query was made from, at cosine ~0.75 (a
  paraphrase near the cache's threshold), found in the top 4 (the cache's candidates);
Two kinds of data (``--data``): ``random`` unit vectors, nearly equidistant in 384-d, on
which no graph can navigate (the worst case; latency is representative, recall is not), and
``latent``, a model of sentence embeddings: unit vectors on a random 48-dimensional subspace,
plus a direction they all share and 30% full-dimensional noise, calibrated on
all-MiniLM-L6-v2's vectors of the 799 texts of benchmarks/data/semantic_pairs.jsonl
(pairwise cosine median 0.10 / p90 0.26 / participation ratio 55; the model's own:
0.10 / 0.28 / 56). Neither is real traffic; real embeddings of a million texts were not
affordable here.

* delete support: 1% of the keys removed, then searched for by their own vectors;
* save and load time of the index file and its size.

    python benchmarks/ann_libraries.py [--size 100000] [--libs usearch-f32,usearch-f16,...]
        [--ef 32,64,128] [--queries 300] [--data random|latent] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
M = 16
EF_CONSTRUCTION = 128
LIBS = ("usearch-f32", "usearch-f16", "usearch-i8", "hnswlib", "faiss-hnsw")


def unit_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    rows = rng.standard_normal((count, DIM)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


class Latent:
    """The sentence-embedding model described above (seeded: one space per run)."""

    def __init__(self, seed: int = 384, dim: int = 48) -> None:
        rng = np.random.default_rng(seed)
        self.basis = np.linalg.qr(rng.standard_normal((DIM, dim)))[0].astype(np.float32)
        self.shared = unit_rows(rng, 1)[0] * 0.35

    def rows(self, rng: np.random.Generator, count: int) -> np.ndarray:
        out = np.empty((count, DIM), dtype=np.float32)
        for start in range(0, count, 50_000):
            n = min(50_000, count - start)
            z = rng.standard_normal((n, self.basis.shape[1])).astype(np.float32)
            z /= np.linalg.norm(z, axis=1, keepdims=True)
            block = z @ self.basis.T + self.shared + 0.3 * unit_rows(rng, n)
            out[start : start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out


def make_rows(kind: str, rng: np.random.Generator, count: int) -> np.ndarray:
    return unit_rows(rng, count) if kind == "random" else Latent().rows(rng, count)


def planted(
    rng: np.random.Generator, data: np.ndarray, count: int, kind: str = "random"
) -> tuple[np.ndarray, Any]:
    """Queries at cosine ~0.75 from stored vectors (and which ones)."""
    targets = rng.choice(data.shape[0], count, replace=False)
    noise = make_rows(kind, rng, count)
    noise -= (noise * data[targets]).sum(axis=1, keepdims=True) * data[targets]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    queries = 0.75 * data[targets] + np.sqrt(1 - 0.75**2) * noise
    return queries.astype(np.float32), targets


class Lib:
    """One library behind four calls: build, search, remove, save/load."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.index: Any = None

    def build(self, data: np.ndarray) -> None:
        keys = np.arange(data.shape[0], dtype=np.uint64)
        if self.name.startswith("usearch"):
            from usearch.index import Index

            self.index = Index(
                ndim=DIM, metric="ip", dtype=self.name.split("-")[1],
                connectivity=M, expansion_add=EF_CONSTRUCTION,
            )  # fmt: skip
            self.index.add(keys, data, threads=os.cpu_count() or 1)
        elif self.name == "hnswlib":
            import hnswlib

            self.index = hnswlib.Index(space="ip", dim=DIM)
            self.index.init_index(
                max_elements=data.shape[0], ef_construction=EF_CONSTRUCTION, M=M,
                allow_replace_deleted=True,
            )  # fmt: skip
            self.index.set_num_threads(os.cpu_count() or 1)
            self.index.add_items(data, keys)
            self.index.set_num_threads(1)
        else:
            import faiss

            faiss.omp_set_num_threads(os.cpu_count() or 1)
            self.index = faiss.IndexHNSWFlat(DIM, M, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = EF_CONSTRUCTION
            self.index.add(data)
            faiss.omp_set_num_threads(1)

    def searcher(self, ef: int) -> Callable[[np.ndarray, int], np.ndarray]:
        if self.name.startswith("usearch"):
            self.index.expansion_search = ef
            return lambda q, k: self.index.search(q, k, threads=1).keys.astype(np.int64)
        if self.name == "hnswlib":
            self.index.set_ef(ef)
            return lambda q, k: self.index.knn_query(q, k)[0][0].astype(np.int64)
        self.index.hnsw.efSearch = ef
        return lambda q, k: self.index.search(q[None, :], k)[1][0]

    def remove(self, keys: np.ndarray) -> str:
        if self.name.startswith("usearch"):
            self.index.remove(keys.astype(np.uint64))
            return "remove() frees the slot"
        if self.name == "hnswlib":
            for key in keys:
                self.index.mark_deleted(int(key))
            return "mark_deleted(); the slot is reused by add(replace_deleted=True)"
        return "none: HNSW has no remove_ids; only an IDSelector filter at search"

    def save_load(self, path: Path) -> tuple[float, float, int]:
        started = time.perf_counter()
        if self.name.startswith("usearch"):
            self.index.save(str(path))
            saved = time.perf_counter()
            from usearch.index import Index

            Index.restore(str(path))
        elif self.name == "hnswlib":
            import hnswlib

            self.index.save_index(str(path))
            saved = time.perf_counter()
            again = hnswlib.Index(space="ip", dim=DIM)
            again.load_index(str(path), max_elements=self.size)
        else:
            import faiss

            faiss.write_index(self.index, str(path))
            saved = time.perf_counter()
            faiss.read_index(str(path))
        loaded = time.perf_counter()
        return saved - started, loaded - saved, path.stat().st_size


def rss_mb() -> float:
    """The resident set now (``ru_maxrss`` is the peak)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run_case(
    name: str, size: int, efs: list[int], queries: int, out: Any, kind: str = "random"
) -> None:
    rng = np.random.default_rng(size)
    data = make_rows(kind, rng, size)
    probes = make_rows(kind, rng, queries)
    near, targets = planted(rng, data, queries, kind)
    exact = np.stack([np.argsort(-np.einsum("ij,j->i", data, q))[:10] for q in probes])
    rss_data = rss_mb()
    lib = Lib(name, size)
    started = time.perf_counter()
    lib.build(data)
    result: dict[str, Any] = {
        "lib": name,
        "size": size,
        "data": kind,
        "build_s": round(time.perf_counter() - started, 1),
        "data_rss_mb": round(rss_data),
        "index_mb": round(rss_mb() - rss_data),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load1": os.getloadavg()[0],
        "ef": {},
    }
    for ef in efs:
        search = lib.searcher(ef)
        for q in probes[:20]:
            search(q, 10)
        times, found = [], 0
        for i, q in enumerate(probes):
            t = time.perf_counter()
            keys = search(q, 10)
            times.append((time.perf_counter() - t) * 1000)
            found += len(set(keys.tolist()) & set(exact[i].tolist()))
        near_found = sum(
            int(t) in set(search(q, 4).tolist()) for q, t in zip(near, targets, strict=True)
        )
        result["ef"][str(ef)] = {
            "p50_ms": round(statistics.median(times), 3),
            "p95_ms": round(percentile(times, 95), 3),
            "recall_at_10": round(found / (10 * queries), 4),
            "planted_recall_at_4": round(near_found / queries, 4),
        }
    doomed = rng.choice(size, max(1, size // 100), replace=False)
    result["delete"] = lib.remove(doomed)
    search = lib.searcher(max(efs))
    if not result["delete"].startswith("none"):
        back = sum(int(d) in set(search(data[d], 10).tolist()) for d in doomed[:200])
        result["deleted_returned"] = back
    with tempfile.TemporaryDirectory() as tmp:
        save_s, load_s, size_b = lib.save_load(Path(tmp) / "index")
    result.update(save_s=round(save_s, 2), load_s=round(load_s, 2), file_mb=size_b >> 20)
    out.put(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--libs", default=",".join(LIBS))
    parser.add_argument("--ef", default="32,64,128")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--data", choices=["random", "latent"], default="random")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    efs = [int(e) for e in args.ef.split(",")]
    results = []
    context = multiprocessing.get_context("spawn")
    for name in args.libs.split(","):
        queue = context.Queue()
        child = context.Process(
            target=run_case, args=(name, args.size, efs, args.queries, queue, args.data)
        )
        child.start()
        try:
            result = queue.get(timeout=7200)
        except Exception as exc:
            result = {"lib": name, "error": repr(exc)}
        child.join()
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        summary = {"size": args.size, "data": args.data, "cpus": os.cpu_count()}
        print(json.dumps({**summary, "results": results}))


if __name__ == "__main__":
    main()

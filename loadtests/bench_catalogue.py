"""Retrieval's cost against catalogue size: faiss exact against IVF, and IVF's recall (not a test).

    python -m loadtests.bench_catalogue --build artifacts [--sizes 10000,100000,1000000]
        [--queries 500] [--out catalogue_size.json]

A real catalogue of 1M items needs a build of that size; the item vectors here are the build's
own item-tower vectors resampled to each size (each a real vector plus Gaussian noise of a tenth
of each dimension's spread, so items stay distinct and keep the real vectors' clusters), and the
queries are the build's query tower run on real users. For each size and index kind, as the
served retrieval stage uses it (one query per search, one faiss thread, `training.build.index`'s
factory and nprobe): build time, index bytes, per-query p50 / p99 at k = 150 (100 candidates and
what the filter may remove), and recall@100 against the exact search. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from loadtests.machine import machine
from training.build import index

K = 150
RECALL_AT = 100
BUILD_THREADS = 2
"""Threads for building an index (the build's, offline); searches use one, as served."""
Vectors = npt.NDArray[np.float32]


def build_vectors(build_dir: Path) -> Vectors:
    table = pq.read_table(build_dir / "item_embeddings.parquet")
    flat = np.asarray(table.column("embedding").combine_chunks().flatten(), dtype=np.float32)
    return flat.reshape(table.num_rows, -1)


def query_vectors(build_dir: Path, count: int) -> Vectors:
    """The query tower's vectors of `count` of the build's users (their encoded features)."""
    from services.ensemble.graph import QUERY_TOWER_INPUTS
    from services.ensemble.stages.predict import load_signature

    users = pq.read_table(build_dir / "feature_repo" / "data" / "user_features.parquet")
    rows = np.random.default_rng(0).choice(users.num_rows, size=min(count, users.num_rows))
    _, predict, takes = load_signature(build_dir / "query_tower")
    columns = [users.column(QUERY_TOWER_INPUTS[name]).to_numpy()[rows] for name in takes]
    return np.asarray(predict(*(c.astype(np.int32) for c in columns)), dtype=np.float32)


def resampled(vectors: Vectors, size: int, seed: int = 0) -> Vectors:
    """`size` vectors: the build's, drawn with replacement, each moved by N(0, (std/10)^2)."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.integers(0, len(vectors), size=size)]
    noise = rng.normal(0.0, 0.1, size=picked.shape) * vectors.std(axis=0)
    return np.ascontiguousarray(picked + noise, dtype=np.float32)


def measure(
    items: Vectors, queries: Vectors, config: index.IndexConfig
) -> tuple[dict[str, Any], npt.NDArray[np.int64]]:
    faiss.omp_set_num_threads(BUILD_THREADS)
    started = time.perf_counter()
    built = index.build(items, np.arange(len(items)), config)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)  # as the served stage: one query per call
    latencies, found = [], []
    for query in queries:
        started = time.perf_counter()
        _, ids = index.search(built, query[None, :], K)
        latencies.append(time.perf_counter() - started)
        found.append(ids[0])
    ms = np.asarray(latencies) * 1000
    figures = {
        "factory": index.describe(len(items), config),
        "build_s": round(build_s, 2),
        "index_mb": round(faiss.serialize_index(built).nbytes / 2**20, 1),
        "search_p50_ms": round(float(np.percentile(ms, 50)), 3),
        "search_p99_ms": round(float(np.percentile(ms, 99)), 3),
    }
    return figures, np.stack(found)


def recall(found: npt.NDArray[np.int64], exact: npt.NDArray[np.int64]) -> float:
    hits = [len(set(a[:RECALL_AT]) & set(b[:RECALL_AT])) for a, b in zip(found, exact, strict=True)]
    return round(float(np.mean(hits)) / RECALL_AT, 4)


def run(build_dir: Path, sizes: list[int], queries: int) -> dict[str, Any]:
    base, asked = build_vectors(build_dir), query_vectors(build_dir, queries)
    exact_config = index.IndexConfig(exact_max=max(sizes))
    ivf_config = replace(index.IndexConfig(), exact_max=0)
    rows = []
    for size in sizes:
        items = resampled(base, size)
        exact, exact_ids = measure(items, asked, exact_config)
        ivf, ivf_ids = measure(items, asked, ivf_config)
        ivf["recall_at_100"] = recall(ivf_ids, exact_ids)
        rows.append({"items": size, "exact": exact, "ivf": ivf})
        print(json.dumps(rows[-1]), flush=True)
    return {
        "machine": machine("faiss-cpu", "tensorflow"),
        "build": str(build_dir),
        "dimension": int(base.shape[1]),
        "queries": len(asked),
        "k": K,
        "served_default": f"exact up to {index.IndexConfig().exact_max} items, IVF above",
        "sizes": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    document = run(args.build, [int(size) for size in args.sizes.split(",")], args.queries)
    text = json.dumps(document, indent=1)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""Faiss inner-product index over the item embeddings, keyed by catalogue item ids.

Exact search (a flat index) up to `exact_max` items: it is fast enough there and never misses.
Above, IVF with nlist ~ 4*sqrt(n), capped so every list gets at least 39 training points
(faiss' own minimum), searched with `nprobe` lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from services.ensemble.faiss_index import search

__all__ = ["IndexConfig", "build", "describe", "load", "save", "search"]

MIN_POINTS_PER_LIST = 39


@dataclass(frozen=True)
class IndexConfig:
    exact_max: int = 100_000
    nprobe: int = 32


def describe(items: int, config: IndexConfig) -> str:
    """The faiss factory string this catalogue size gets."""
    if items <= config.exact_max:
        return "IDMap,Flat"
    nlist = max(1, min(int(4 * np.sqrt(items)), items // MIN_POINTS_PER_LIST))
    return f"IVF{nlist},Flat"


def build(vectors: npt.ArrayLike, ids: npt.ArrayLike, config: IndexConfig) -> faiss.Index:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.index_factory(
        vectors.shape[1], describe(len(vectors), config), faiss.METRIC_INNER_PRODUCT
    )
    if not index.is_trained:
        index.train(vectors)
    index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = min(config.nprobe, index.nlist)
    return index


def save(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))

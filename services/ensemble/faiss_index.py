"""Searching the item index: catalogue ids out, never faiss' -1 padding."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray


def search(
    index: faiss.Index, queries: NDArray[Any], k: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Top-k (scores, ids) per query, k capped at the catalogue size.

    An IVF probe can come back short (faiss pads with id -1): such rows are searched again
    exhaustively, so a result never holds -1.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, index.ntotal)
    scores, ids = index.search(queries, k)
    short = (ids < 0).any(axis=1)
    if short.any() and isinstance(index, faiss.IndexIVF):
        previous = index.nprobe
        index.nprobe = index.nlist
        scores[short], ids[short] = index.search(queries[short], k)
        index.nprobe = previous
    return scores, ids

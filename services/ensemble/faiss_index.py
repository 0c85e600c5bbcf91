"""Searching the item index: catalogue ids out, never faiss' -1 padding."""

from __future__ import annotations

import faiss
import numpy as np


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
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

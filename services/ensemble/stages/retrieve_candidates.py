"""Stage: query embeddings -> the top-K catalogue item ids by inner product (faiss)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from services.ensemble.rules import Rules
from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage


class RetrieveCandidates(Stage):
    """`query` embeddings -> `retrieved` item ids, best first.

    It asks faiss for `candidate_count` (K) plus as many as the filter may remove (the user's
    `past` items and the deny-list), so K candidates remain after filtering whenever the
    catalogue has them.
    """

    artifact = "items.faiss"

    def __init__(
        self,
        source: Path | None,
        candidate_count: int,
        rules: Rules,
        query: str,
        past: str,
        retrieved: str,
    ) -> None:
        super().__init__(
            reads=(query, past), writes={retrieved: (np.int32, PER_USER_LIST)}, source=source
        )
        self.candidate_count, self.rules, self.retrieved = candidate_count, rules, retrieved

    def load(self, path: Path) -> Any:
        import faiss

        faiss.omp_set_num_threads(1)  # one query per call: threads only add overhead here
        return faiss.read_index(str(path))

    def run(self, columns: Columns) -> Columns:
        from services.ensemble.faiss_index import search

        query, past = (columns[name] for name in self.reads)
        extra = int((past >= 0).sum(axis=1).max()) + len(self.rules.deny_items)
        _, ids = search(self.state, query, self.candidate_count + extra)
        return {self.retrieved: ids.astype(np.int32)}

    def items_changed(self, ids: Any, features: Any, vectors: Any, proxies: Any) -> None:
        """Items added or changed at run time (online_items.py): searchable under their ids,
        a build item's vector replaced."""
        index = self.state
        index.remove_ids(np.asarray(ids, dtype=np.int64))
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))


class NoRetrieval(Stage):
    """The standby graph's retrieval: no tower candidates ([users, 0]), so the merge fills
    every place from the second source. Runs without TensorFlow or faiss."""

    def __init__(self, users: str, retrieved: str) -> None:
        super().__init__(reads=(users,), writes={retrieved: (np.int32, PER_USER_LIST)})
        self.users, self.retrieved = users, retrieved

    def run(self, columns: Columns) -> Columns:
        return {self.retrieved: np.zeros((len(columns[self.users]), 0), dtype=np.int32)}

"""Stage: drop each user's past items and the denied items from the retrieved candidates."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.rules import Rules
from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage


def excluded_mask(
    ids: NDArray[Any], past: NDArray[Any], deny: frozenset[int] | NDArray[np.int64]
) -> NDArray[np.bool_]:
    """True where ids[row, j] is one of the row's past items or on the deny-list (a set, or an
    array as `Rules.deny_array`)."""
    mask = (ids[:, :, None] == past[:, None, :]).any(axis=2)
    if len(deny):
        denied = deny if isinstance(deny, np.ndarray) else np.fromiter(deny, dtype=np.int64)
        mask |= np.isin(ids, denied)
    return np.asarray(mask, dtype=bool)


class FilterCandidates(Stage):
    """`retrieved` minus `past` and denied items -> the best `candidate_count` (K) in
    `candidates` (padded with -1 only when the catalogue has fewer left). `rules`: the
    export's Rules, or the LiveRules the executor swaps in (services/ensemble/live_rules.py)."""

    def __init__(
        self, candidate_count: int, rules: Rules, retrieved: str, past: str, candidates: str
    ) -> None:
        super().__init__(reads=(retrieved, past), writes={candidates: (np.int32, PER_USER_LIST)})
        self.candidate_count, self.rules, self.candidates = candidate_count, rules, candidates

    def run(self, columns: Columns) -> Columns:
        retrieved, past = (columns[name] for name in self.reads)
        excluded = excluded_mask(retrieved, past, self.rules.deny_array)
        candidates = np.full((len(retrieved), self.candidate_count), -1, dtype=np.int32)
        for row in range(len(retrieved)):
            kept = retrieved[row][~excluded[row]][: self.candidate_count]
            candidates[row, : len(kept)] = kept
        return {self.candidates: candidates}

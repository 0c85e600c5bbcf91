"""Stage: repeat each user's features once per candidate, to line up with the item rows."""

from __future__ import annotations

import numpy as np

from services.ensemble.stages.base import PER_ROW, Columns, Stage

UNROLLED_PREFIX = "unrolled_"


def unrolled(column: str) -> str:
    """The name of a per-user column repeated per candidate."""
    return f"{UNROLLED_PREFIX}{column}"


class UnrollUserFeatures(Stage):
    """`features` (one row per user) -> `unrolled_<feature>` (one row per candidate), with K
    taken from the `candidates` column's width."""

    def __init__(self, features: tuple[str, ...], candidates: str) -> None:
        writes = {unrolled(name): (np.int32, PER_ROW) for name in features}
        super().__init__(reads=(*features, candidates), writes=writes)
        self.features = features
        self.candidates = candidates

    def run(self, columns: Columns) -> Columns:
        candidates = columns[self.candidates]
        per_user = candidates.shape[1] if candidates.ndim == 2 else 0
        return {
            unrolled(name): np.repeat(columns[name].reshape(-1), per_user) for name in self.features
        }

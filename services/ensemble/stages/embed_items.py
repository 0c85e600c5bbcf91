"""Stage: what the items added at run time need, loaded: the build's item tower, vocabulary and
its items' encoded rows (to find a new item's proxy).

The executor builds its OnlineItems (services/ensemble/online_items.py) from this stage's
state; the pass itself only reports how many change-log entries the process has applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.stages.base import PER_ROW, Columns, Stage
from services.ensemble.stages.predict import load_signature
from services.ensemble.vocabulary import FILE_NAME, Vocabulary


class EmbedOnlineItems(Stage):
    """`users` -> `applied`: per user, the online catalogue's change-log entries this process
    has applied when the pass ran (its state: the vocabulary and the item tower's call).

    The vocabulary is the feature repo's (exported beside this stage's item tower)."""

    artifact = "item_tower"
    follows_online_items = True
    runtime_attributes = ("online",)
    online: Any = None
    """The process' OnlineItems, set by the executor once loaded."""

    def __init__(self, source: Path | None, users: str, applied: str) -> None:
        super().__init__(reads=(users,), writes={applied: (np.int64, PER_ROW)}, source=source)
        self.users, self.applied = users, applied

    def load(self, path: Path) -> Any:
        from services.ensemble.live_rules import log_line
        from services.ensemble.online_items import ITEM_COLUMNS

        repo = path.parent / "feature_repo"
        try:
            vocabulary = Vocabulary.load(repo / FILE_NAME)
            _, predict, takes = load_signature(path)
            order = [ITEM_COLUMNS.index(name) for name in takes]
        except Exception as exc:  # serving goes on; only new items wait for a version that can
            log_line(
                f"the item tower or vocabulary cannot be loaded ({type(exc).__name__}: {exc}): "
                "items added online are not served by this version, retirements and users are"
            )
            return None, None, None

        def embed(features: NDArray[np.int32]) -> NDArray[np.float32]:
            return np.asarray(predict(*(features[:, i] for i in order)), dtype=np.float32)

        return vocabulary, embed, build_items(repo)

    def run(self, columns: Columns) -> Columns:
        applied = self.online.applied if self.online is not None else 0
        return {self.applied: np.full(len(columns[self.users]), applied, dtype=np.int64)}


def build_items(repo: Path) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """The build's items: ids and encoded rows (id code first), from the feature repo's table."""
    import pyarrow.parquet as pq

    from services.ensemble.online_items import ITEM_COLUMNS

    columns = ["item_id", "item_id_encoded", *ITEM_COLUMNS[1:]]
    table = pq.read_table(repo / "data" / "item_features.parquet", columns=columns)
    ids = table.column("item_id").to_numpy().astype(np.int64)
    rows = np.stack([table.column(name).to_numpy() for name in columns[1:]], axis=1)
    return ids, rows.astype(np.int32)

"""Stage: catalogue ids -> their encoded features from one Feast view, and a found flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from services.ensemble.settings import EnsembleSettings
from services.ensemble.stages.base import FLAG, PER_ROW, Columns, Stage


class FetchFeatures(Stage):
    """`ids` column -> one int32 column per feature of `view`, plus the `found` flag column.

    "user_features" on the request's user ids gives one row per user; "item_features" on the
    candidate ids one row per (user, candidate). Both views live in one feature repo: the
    stage with `copies_repo=False` uses the copy the other one exported.
    """

    artifact = "feature_repo"

    def __init__(
        self,
        source: Path | None,
        view: str,
        ids: str,
        features: tuple[str, ...],
        found: str,
        copies_repo: bool = True,
    ) -> None:
        writes = {name: (np.int32, PER_ROW) for name in features}
        super().__init__(reads=(ids,), writes={**writes, found: (FLAG, PER_ROW)}, source=source)
        self.view = view
        self.ids = ids
        self.features = features
        self.found = found
        self.copies_repo = copies_repo

    @property
    def label(self) -> str:
        return f"FetchFeatures[{self.view}]"

    def save_artifacts(self, artifact_path: Any = None) -> None:
        if self.copies_repo:
            super().save_artifacts(artifact_path)

    def load(self, path: Path) -> Any:
        from services.ensemble.online_store import open_reader

        reader, view = open_reader(path, self.view, EnsembleSettings())
        self.check_loaded("the feature repo's view", view.features, self.features)
        return reader, view

    def run(self, columns: Columns) -> Columns:
        reader, view = self.state
        values, found = reader.read(view, columns[self.ids].reshape(-1).astype(np.int32))
        out = {name: values[:, i] for i, name in enumerate(self.features)}
        out[self.found] = found
        return out

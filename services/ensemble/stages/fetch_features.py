"""Stage: catalogue ids -> their encoded features from one Feast view, and a found flag."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

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
        if self.copies_repo and artifact_path and self.source is not None:
            from services.ensemble.online_store import write_layout

            super().save_artifacts(artifact_path)
            write_layout(Path(artifact_path) / self.artifact)

    def load(self, path: Path) -> Any:
        from services.ensemble.online_store import open_reader

        reader, view = open_reader(path, self.view, EnsembleSettings())
        self.check_loaded("the feature repo's view", view.features, self.features)
        return reader, view

    def run(self, columns: Columns) -> Columns:
        values, found = self.read(columns)
        out = {name: values[:, i] for i, name in enumerate(self.features)}
        out[self.found] = found
        return out

    def read(self, columns: Columns) -> tuple[NDArray[Any], NDArray[Any]]:
        """(values int32 [rows, features], found bool [rows]) of the `ids` column's entities."""
        reader, view = self.state[:2]
        values, found = reader.read(view, columns[self.ids].reshape(-1).astype(np.int32))
        return values, found


class FetchCatalogueFeatures(FetchFeatures):
    """FetchFeatures for the candidates' item features, from memory by default.

    With `EnsembleSettings.item_features == "memory"` the whole catalogue is read from the
    online store when the model loads (CatalogueFeatures) and again when the `build_epoch`
    column (FetchPastItems: how often this process saw Redis' build marker change) moved on;
    with "online_store", every request reads its candidates' hashes as FetchFeatures does.
    """

    def __init__(
        self,
        source: Path | None,
        view: str,
        ids: str,
        features: tuple[str, ...],
        found: str,
        build_epoch: str,
        copies_repo: bool = True,
    ) -> None:
        super().__init__(source, view, ids, features, found, copies_repo)
        self.reads = (*self.reads, build_epoch)
        self.build_epoch = build_epoch

    def load(self, path: Path) -> Any:
        from services.ensemble.catalogue import CatalogueFeatures, catalogue_ids
        from services.ensemble.redis_store import OnlineStoreUnavailable

        reader, view = super().load(path)
        if EnsembleSettings().item_features == "online_store":
            return reader, view, None
        catalogue = CatalogueFeatures(reader, view, catalogue_ids(path, view))
        with suppress(OnlineStoreUnavailable):  # then the first request that reaches it reads
            catalogue.refresh(epoch=0)
        return reader, view, catalogue

    def read(self, columns: Columns) -> tuple[NDArray[Any], NDArray[Any]]:
        catalogue = self.state[2]
        if catalogue is None:
            return super().read(columns)
        epochs = columns[self.build_epoch].reshape(-1)
        epoch = int(epochs[0]) if len(epochs) else 0
        values, found = catalogue.read(columns[self.ids], epoch)
        return values, found

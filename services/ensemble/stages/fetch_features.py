"""Stage: catalogue ids -> their encoded features from one Feast view, and a found flag."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.settings import EnsembleSettings
from services.ensemble.stages.base import FLAG, PER_ROW, Columns, Stage
from services.ensemble.vocabulary import FILE_NAME as VOCABULARY_FILE
from services.ensemble.vocabulary import Vocabulary


class FetchFeatures(Stage):
    """`ids` column -> one int32 column per feature of `view`, plus the `found` flag column.

    "user_features" on the request's user ids gives one row per user; "item_features" on the
    candidate ids one row per (user, candidate). Both views live in one feature repo: the
    stage with `copies_repo=False` uses the copy the other one exported.
    """

    artifact = "feature_repo"
    online_records: str | None = None
    """A Redis hash of raw records (contract.ONLINE_USERS_KEY) read for the ids the view does
    not hold: entities added at run time, encoded with the repo's vocabulary."""
    _online: tuple[Any, Vocabulary] | None = None
    """(Redis client, vocabulary) once loaded, for `online_records`."""
    runtime_attributes = ("_online", "_overlay")

    def __init__(
        self,
        source: Path | None,
        view: str,
        ids: str,
        features: tuple[str, ...],
        found: str,
        copies_repo: bool = True,
        online_records: str | None = None,
    ) -> None:
        writes = {name: (np.int32, PER_ROW) for name in features}
        super().__init__(reads=(ids,), writes={**writes, found: (FLAG, PER_ROW)}, source=source)
        self.view = view
        self.ids = ids
        self.features = features
        self.found = found
        self.copies_repo = copies_repo
        self.online_records = online_records

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
        if self.online_records is not None and (path / VOCABULARY_FILE).is_file():
            from services.ensemble.redis_store import connect

            self._online = connect(EnsembleSettings()), Vocabulary.load(path / VOCABULARY_FILE)
        return reader, view

    def run(self, columns: Columns) -> Columns:
        values, found = self.read(columns)
        out = {name: values[:, i] for i, name in enumerate(self.features)}
        out[self.found] = found
        return out

    def read(self, columns: Columns) -> tuple[NDArray[Any], NDArray[Any]]:
        """(values int32 [rows, features], found bool [rows]) of the `ids` column's entities."""
        reader, view = self.state[:2]
        ids = columns[self.ids].reshape(-1).astype(np.int32)
        values, found = reader.read(view, ids)
        if self._online is not None and not found.all():
            self.read_online(ids, values, found)
        return values, found

    def read_online(self, ids: NDArray[Any], values: NDArray[Any], found: NDArray[Any]) -> None:
        """Fill the rows of ids the view does not hold from `online_records` (one HMGET), in
        place; a record that is missing or unreadable leaves its row not found."""
        from services.ensemble.online_items import parse_record, record_attributes
        from services.ensemble.redis_store import unavailable_on_redis_errors

        assert self._online is not None
        client, vocabulary = self._online
        missing = np.flatnonzero(~found)
        with unavailable_on_redis_errors():
            records = client.hmget(self.online_records, [int(ids[row]) for row in missing])
        columns = tuple(name.removesuffix("_encoded") for name in self.features)
        for row, raw in zip(missing, records, strict=True):
            attributes = record_attributes(parse_record(raw), columns[1:])
            if attributes is not None:
                encoded = vocabulary.encode_rows(
                    columns, [{columns[0]: int(ids[row]), **attributes}]
                )
                values[row], found[row] = encoded[0], True


class FetchCatalogueFeatures(FetchFeatures):
    """FetchFeatures for the candidates' item features, from memory by default.

    With `EnsembleSettings.item_features == "memory"` the whole catalogue is read from the
    online store when the model loads (CatalogueFeatures) and again when the `build_epoch`
    column (FetchPastItems: how often this process saw Redis' build marker change) moved on;
    with "online_store", every request reads its candidates' hashes as FetchFeatures does.
    """

    _overlay: Any = None
    """ItemOverlay of the items added or changed at run time (online_items.py), once any was."""

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
            values, found = super().read(columns)
            return self.overlaid(columns[self.ids], values, found)
        epochs = columns[self.build_epoch].reshape(-1)
        epoch = int(epochs[0]) if len(epochs) else 0
        values, found = catalogue.read(columns[self.ids], epoch)
        return self.overlaid(columns[self.ids], values, found)

    def overlaid(
        self, ids: NDArray[Any], values: NDArray[Any], found: NDArray[Any]
    ) -> tuple[NDArray[Any], NDArray[Any]]:
        """`values`, `found` with the rows of items added or changed at run time replaced."""
        if self._overlay is None:
            return values, found
        rows = self._overlay.rows(ids.reshape(-1))
        hit = rows >= 0
        if hit.any():
            values[hit], found[hit] = self._overlay.values[rows[hit]], True
        return values, found

    def items_changed(
        self, ids: Any, features: NDArray[np.int32], vectors: Any, proxies: Any
    ) -> None:
        """Items added or changed at run time (online_items.py): their encoded features."""
        from services.ensemble.online_items import ItemOverlay

        if self._overlay is None:
            self._overlay = ItemOverlay(len(self.features), np.int32)
        self._overlay.update(ids, features)

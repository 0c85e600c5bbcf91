"""The catalogue's encoded item features held in memory, read once from the online store.

Ranking needs the features of 100 candidates per user: read per request that is 100 Redis
hashes per user. The catalogue is small (one int32 row per item), so the executor reads all of
it through the same feature reader (the values are Feast's) when the model loads, and again
when the build marker in Redis changed since (a new materialize), then looks candidates up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from services.ensemble.online_store import FeatureReader, ViewSpec

READ_CHUNK = 2_000
"""Entities per pipelined read while loading (bounded Redis replies)."""


def catalogue_ids(feature_repo: Path, view: ViewSpec) -> NDArray[np.int32]:
    """Every entity id of `view`: the join key column of the feature repo's source table."""
    table = pq.read_table(feature_repo / "data" / f"{view.name}.parquet", columns=[view.join_key])
    ids: NDArray[np.int32] = np.unique(table.column(view.join_key).to_numpy().astype(np.int32))
    return ids


class CatalogueFeatures:
    """Sorted entity ids and their features (int32 [items, features]) and found flags."""

    def __init__(self, reader: FeatureReader, view: ViewSpec, ids: NDArray[np.int32]) -> None:
        self.reader = reader
        self.view = view
        self.ids = np.unique(ids)
        self.values = np.zeros((0, len(view.features)), dtype=np.int32)
        self.found = np.zeros(0, dtype=bool)
        self.epoch: int | None = None
        """The build-marker epoch the arrays were read in; None until read."""

    def refresh(self, epoch: int) -> None:
        """Read every entity's features from the online store (OnlineStoreUnavailable if it
        cannot answer: the arrays stay as they were)."""
        values, found = [], []
        for start in range(0, len(self.ids), READ_CHUNK):
            chunk_values, chunk_found = self.reader.read(
                self.view, self.ids[start : start + READ_CHUNK]
            )
            values.append(chunk_values)
            found.append(chunk_found)
        width = len(self.view.features)
        self.values = np.concatenate(values) if values else np.zeros((0, width), np.int32)
        self.found = np.concatenate(found) if found else np.zeros(0, bool)
        self.epoch = epoch

    def read(self, ids: NDArray[Any], epoch: int) -> tuple[NDArray[Any], NDArray[Any]]:
        """Like FeatureReader.read, from memory; re-read first if the epoch moved on."""
        if self.epoch != epoch:
            self.refresh(epoch)
        ids = np.asarray(ids).reshape(-1).astype(np.int32)
        if len(self.ids) == 0:
            return np.zeros((len(ids), len(self.view.features)), np.int32), np.zeros(len(ids), bool)
        position = np.searchsorted(self.ids, ids).clip(max=len(self.ids) - 1)
        found = (self.ids[position] == ids) & self.found[position]
        values = np.where(found[:, None], self.values[position], 0)
        return values.astype(np.int32), found

"""CatalogueFeatures: the catalogue read once into arrays, looked up, re-read on a new epoch."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.catalogue import CatalogueFeatures
from services.ensemble.online_store import ViewSpec

VIEW = ViewSpec("item_features", "item_id", ("item_category", "item_shop"))


class TableReader:
    """A FeatureReader over a dict (our own edge; the Redis and Feast readers are tested
    against a real Redis in tests/integration/test_online_store.py)."""

    def __init__(self, table: dict[int, tuple[int, int]]) -> None:
        self.table = table
        self.reads = 0

    def read(self, view: ViewSpec, ids: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        self.reads += 1
        rows = [self.table.get(int(i)) for i in ids]
        values = np.array([row or (0, 0) for row in rows], dtype=np.int32).reshape(-1, 2)
        return values, np.array([row is not None for row in rows], dtype=bool)


def test_lookup_equals_the_readers_answer_and_reads_only_once() -> None:
    reader = TableReader({5: (1, 2), 9: (3, 4), 2: (5, 6)})
    catalogue = CatalogueFeatures(reader, VIEW, np.array([9, 2, 5, 7], dtype=np.int32))
    catalogue.refresh(epoch=0)
    ids = np.array([9, -1, 5, 7, 100, 2, 9], dtype=np.int32)
    for _ in range(3):
        values, found = catalogue.read(ids, epoch=0)
    expected_values, expected_found = TableReader(reader.table).read(VIEW, ids)
    np.testing.assert_array_equal(values, expected_values)
    assert found.tolist() == expected_found.tolist()
    assert reader.reads == 1


def test_a_new_epoch_reads_the_catalogue_again() -> None:
    reader = TableReader({5: (1, 2)})
    catalogue = CatalogueFeatures(reader, VIEW, np.array([5], dtype=np.int32))
    catalogue.refresh(epoch=0)
    reader.table[5] = (7, 8)
    assert catalogue.read(np.array([5]), epoch=0)[0].tolist() == [[1, 2]]
    assert catalogue.read(np.array([5]), epoch=1)[0].tolist() == [[7, 8]]


def test_an_empty_catalogue_finds_nothing() -> None:
    catalogue = CatalogueFeatures(TableReader({}), VIEW, np.zeros(0, dtype=np.int32))
    values, found = catalogue.read(np.array([1, 2]), epoch=0)
    assert values.shape == (2, 2) and not found.any()

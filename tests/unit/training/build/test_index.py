import numpy as np
import pytest

from training.build import index


@pytest.mark.parametrize(
    ("items", "factory"),
    [
        (5, "IDMap,Flat"),
        (100_000, "IDMap,Flat"),
        (100_001, "IVF1264,Flat"),
        (1_000_000, "IVF4000,Flat"),
    ],
)
def test_index_type_follows_catalogue_size(items: int, factory: str) -> None:
    assert index.describe(items, index.IndexConfig()) == factory


def test_nlist_never_exceeds_what_the_catalogue_supports() -> None:
    config = index.IndexConfig(exact_max=10)
    for items in (11, 40, 77, 500, 5000):
        factory = index.describe(items, config)
        nlist = int(factory.removeprefix("IVF").split(",")[0])
        assert 1 <= nlist <= max(1, items // index.MIN_POINTS_PER_LIST)


@pytest.mark.parametrize("items", [3, 31, 200, 3000])
def test_search_returns_catalogue_ids_and_never_minus_one(items: int) -> None:
    rng = np.random.default_rng(items)
    vectors = rng.normal(size=(items, 16)).astype(np.float32)
    ids = 1_000_003 + np.arange(items) * 11
    built = index.build(vectors, ids, index.IndexConfig(exact_max=100, nprobe=1))
    scores, found = index.search(built, rng.normal(size=(20, 16)), k=100)
    assert found.shape == (20, min(100, items))
    assert (found >= 0).all()
    assert set(found.ravel()) <= set(ids)
    assert all(len(set(row)) == len(row) for row in found)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_exact_index_finds_the_true_best_item() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    ids = np.arange(50) + 5_000_000
    built = index.build(vectors, ids, index.IndexConfig())
    query = rng.normal(size=(1, 8)).astype(np.float32)
    _, found = index.search(built, query, k=1)
    assert found[0, 0] == ids[np.argmax(vectors @ query[0])]

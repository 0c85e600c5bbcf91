"""The second synthetic generator: raw schema, sparse ids, determinism, and a truth that
explains its clicks."""

from __future__ import annotations

import numpy as np
import pytest

from training import data, metrics, synthetic
from training.schema import RAW_COLUMNS


@pytest.fixture(scope="module")
def made() -> synthetic.SyntheticData:
    return synthetic.generate("longtail", 30_000, seed=3)


def test_raw_schema_and_sparse_ids(made: synthetic.SyntheticData) -> None:
    for frame, split in ((made.train, "train"), (made.valid, "valid")):
        assert list(frame.columns) == list(RAW_COLUMNS)
        data.validate(frame, split)
        assert frame["user_id"].min() >= synthetic.FIRST_SPARSE_ID
        assert frame["item_id"].min() >= synthetic.FIRST_SPARSE_ID
        assert frame["item_id"].max() < 10_000_000


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = synthetic.generate("longtail", 2_000, seed=5)
    again = synthetic.generate("longtail", 2_000, seed=5)
    other = synthetic.generate("longtail", 2_000, seed=6)
    assert first.train.equals(again.train)
    assert not first.train.equals(other.train)


def test_long_tail_and_density_differ_from_planted(made: synthetic.SyntheticData) -> None:
    both = made.train
    counts = both["item_id"].value_counts()
    assert counts.head(len(counts) // 10).sum() > 0.3 * counts.sum()  # top 10% of items
    planted = synthetic.generate("planted", 30_000, seed=3).train
    assert both["item_id"].nunique() < planted["item_id"].nunique() / 3


def test_truth_explains_the_clicks(made: synthetic.SyntheticData) -> None:
    assert made.truth is not None
    valid = made.valid
    p = made.truth.probability(valid["user_id"].to_numpy(), valid["item_id"].to_numpy())
    assert 0.75 < metrics.auc(valid["click"].to_numpy(), p) < 0.95
    assert abs(p.mean() - valid["click"].mean()) < 0.08  # position lowers clicks a little


def test_truth_broadcasts_and_unknown_ids_get_zero(made: synthetic.SyntheticData) -> None:
    assert made.truth is not None
    users = made.truth.user_ids[:3, None]
    items = np.array([[made.truth.item_ids[0], made.truth.item_ids[1], -1]] * 3)
    p = made.truth.probability(users, items)
    assert p.shape == (3, 3)
    assert (p[:, :2] > 0).all() and (p[:, 2] == 0).all()


def test_unknown_generator_is_a_build_error() -> None:
    with pytest.raises(data.BuildError, match="longtail"):
        data.generate("nope", 100, 1)

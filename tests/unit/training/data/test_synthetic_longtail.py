"""The second synthetic generator: raw schema, sparse ids, determinism, and a truth that
explains its clicks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from training.data import generator_common, generators, raw_data
from training.data.schema import RAW_COLUMNS
from training.evaluation import metrics


@pytest.fixture(scope="module")
def made() -> generator_common.SyntheticData:
    return generators.generate("longtail", 30_000, seed=3)


def test_raw_schema_and_sparse_ids(made: generator_common.SyntheticData) -> None:
    for frame, split in ((made.train, "train"), (made.valid, "valid")):
        assert list(frame.columns) == list(RAW_COLUMNS)
        raw_data.validate(frame, split)
        assert frame["user_id"].min() >= generator_common.FIRST_SPARSE_ID
        assert frame["item_id"].min() >= generator_common.FIRST_SPARSE_ID
        assert frame["item_id"].max() < 10_000_000


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = generators.generate("longtail", 2_000, seed=5)
    again = generators.generate("longtail", 2_000, seed=5)
    other = generators.generate("longtail", 2_000, seed=6)
    assert first.train.equals(again.train)
    assert not first.train.equals(other.train)


def test_long_tail_and_density_differ_from_planted(made: generator_common.SyntheticData) -> None:
    both = made.train
    counts = both["item_id"].value_counts()
    assert counts.head(len(counts) // 10).sum() > 0.3 * counts.sum()  # top 10% of items
    planted = generators.generate("planted", 30_000, seed=3).train
    assert both["item_id"].nunique() < planted["item_id"].nunique() / 3


def test_truth_explains_the_clicks(made: generator_common.SyntheticData) -> None:
    assert made.truth is not None
    valid = made.valid
    p = made.truth.probability(valid["user_id"].to_numpy(), valid["item_id"].to_numpy())
    assert 0.75 < metrics.auc(valid["click"].to_numpy(), p) < 0.95
    assert abs(p.mean() - valid["click"].mean()) < 0.08  # position lowers clicks a little


def test_truth_broadcasts_and_unknown_ids_get_zero(made: generator_common.SyntheticData) -> None:
    assert made.truth is not None
    users = made.truth.user_ids[:3, None]
    items = np.array([[made.truth.item_ids[0], made.truth.item_ids[1], -1]] * 3)
    p = made.truth.probability(users, items)
    assert p.shape == (3, 3)
    assert (p[:, :2] > 0).all() and (p[:, 2] == 0).all()


def _exposure_distances(
    made: generator_common.SyntheticData, exposure: object
) -> tuple[float, float]:
    """Total-variation distances between the impressions drawn and those `exposure` expects:
    per item over all users, and per (user, category)."""
    assert made.truth is not None
    rows = pd.concat([made.train, made.valid])
    users = np.searchsorted(made.truth.user_ids, rows["user_id"].to_numpy())
    items = np.searchsorted(made.truth.item_ids, rows["item_id"].to_numpy())
    shown, per_user = np.unique(users, return_counts=True)
    expected = exposure.probability(shown) * per_user[:, None]  # type: ignore[attr-defined]
    drawn = np.bincount(items, minlength=len(made.truth.item_ids))
    by_item = np.abs(drawn - expected.sum(axis=0)).sum() / (2 * len(rows))
    category = exposure.item_category  # type: ignore[attr-defined]
    expected_category = np.stack(
        [expected[:, category == c].sum(axis=1) for c in range(category.max() + 1)], axis=1
    )
    drawn_category = pd.crosstab(users, category[items]).reindex(
        index=shown, columns=range(category.max() + 1), fill_value=0
    )
    by_user_category = np.abs(drawn_category.to_numpy() - expected_category).sum() / (2 * len(rows))
    return by_item, by_user_category


def test_the_exposure_probabilities_are_how_impressions_were_drawn() -> None:
    made = generators.generate("longtail", 20_000, seed=3)
    exposure = made.exposure
    assert exposure is not None
    probability = exposure.probability(np.arange(5))
    np.testing.assert_allclose(probability.sum(axis=1), 1.0)
    by_item, by_user_category = _exposure_distances(made, exposure)
    # Sampling noise alone gives about 0.04 and 0.15 here; a wrong model much more.
    assert by_item < 0.08 and by_user_category < 0.2
    categories = exposure.category_preference.shape[1]
    uniform_taste = np.full_like(exposure.category_preference, 1 / categories)
    flat = dataclasses.replace(exposure, category_preference=uniform_taste)
    assert _exposure_distances(made, flat)[1] > 0.25
    by_popularity = (
        exposure.popularity
        / np.bincount(exposure.item_category, weights=exposure.popularity)[exposure.item_category]
    )
    steeper = dataclasses.replace(exposure, within_category=by_popularity)
    assert _exposure_distances(made, steeper)[0] > 0.1


def test_the_visible_taste_is_part_of_the_true_taste(made: generator_common.SyntheticData) -> None:
    assert made.truth is not None and made.visible_user_vecs is not None
    visible, full = made.visible_user_vecs, made.truth.user_vecs
    assert visible.shape == full.shape
    share = np.einsum("ud,ud->u", visible, full) / np.square(full).sum(axis=1)
    assert 0.1 < share.mean() < 0.5  # a quarter of the taste's variance is visible


def test_unknown_generator_is_a_build_error() -> None:
    with pytest.raises(raw_data.BuildError, match="longtail"):
        raw_data.generate("nope", 100, 1)

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.data import generator_common, raw_data, synthetic
from training.data.schema import RAW_COLUMNS
from training.errors import BuildError


def test_planted_data_has_the_raw_schema_of_merlins_generator() -> None:
    from merlin.datasets.synthetic import generate_data

    merlin = generate_data("aliccp-raw", 20).to_ddf().compute()
    train, valid = synthetic.generate_planted(2_000, seed=1, valid_share=0.3)
    for frame in (train, valid):
        assert list(frame.columns) == list(merlin.columns) == list(RAW_COLUMNS)
        assert frame.dtypes.astype(str).tolist() == merlin.dtypes.astype(str).tolist()
    assert 0.2 < len(valid) / 2_000 < 0.4


def test_planted_ids_are_sparse_and_features_consistent_per_id() -> None:
    train, _ = synthetic.generate_planted(5_000, seed=2, valid_share=0.3)
    assert train["user_id"].min() >= generator_common.FIRST_SPARSE_ID
    assert train["item_id"].min() >= generator_common.FIRST_SPARSE_ID
    assert train["item_id"].max() - train["item_id"].min() > 10 * train["item_id"].nunique()
    assert (train.groupby("user_id")["user_group"].nunique() == 1).all()
    assert (train.groupby("item_id")["item_category"].nunique() == 1).all()


def test_planted_data_is_reproducible_from_its_seed() -> None:
    first = synthetic.generate_planted(1_000, seed=3, valid_share=0.3)
    second = synthetic.generate_planted(1_000, seed=3, valid_share=0.3)
    pd.testing.assert_frame_equal(first[0], second[0])


def test_merlin_generator_is_available_and_conformed() -> None:
    raw = raw_data.generate("merlin", 500, seed=1)
    assert list(raw.train.columns) == list(RAW_COLUMNS)
    assert len(raw.train) + len(raw.valid) == 500


def _write(tmp_path: Path, train: pd.DataFrame, valid: pd.DataFrame) -> Path:
    for split, frame in (("train", train), ("valid", valid)):
        (tmp_path / split).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp_path / split / "part_0.parquet")
    return tmp_path


def test_load_accepts_wider_integers_that_fit(tmp_path: Path) -> None:
    train, valid = synthetic.generate_planted(500, seed=4, valid_share=0.3)
    loaded = raw_data.load(_write(tmp_path, train.astype("int64"), valid))
    assert loaded.train.dtypes.astype(str).tolist() == list(RAW_COLUMNS.values())
    assert np.array_equal(loaded.train["user_id"], train["user_id"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["item_brand"]), "missing column"),
        (lambda f: f.iloc[:0], "no rows"),
        (lambda f: f.assign(user_age=f["user_age"].astype(str)), "user_age has dtype object"),
        (lambda f: f.assign(item_shop=f["item_shop"].astype(float)), "item_shop has dtype float64"),
        (lambda f: f.assign(click=f["click"] * 2), "click must hold only 0 and 1"),
        (lambda f: f.assign(user_id=f["user_id"].astype("int64") + 2**40), "outside int32"),
    ],
)
def test_validate_rejects_bad_frames(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    train, _ = synthetic.generate_planted(200, seed=5, valid_share=0.3)
    with pytest.raises(BuildError, match=message):
        raw_data.validate(mutate(train), "train")


def test_generate_rejects_too_few_rows() -> None:
    with pytest.raises(BuildError, match="at least 10"):
        raw_data.generate("planted", 3, seed=1)

"""Build data with a held-back future: `python -m training generate` and `convert-ratings`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.cli import main
from training.data import held_back, ratings_log


def test_cut_future_keeps_each_users_first_third_in_order() -> None:
    valid = pd.DataFrame({"user_id": [1] * 6 + [2] * 2, "item_id": range(8), "click": 1})
    kept, future = held_back.cut_future(valid)
    assert kept["item_id"].tolist() == [0, 1, 6]  # a third of 6; at least one of 2
    assert future["item_id"].tolist() == [2, 3, 4, 5, 7]


def test_generate_writes_three_splits_that_partition_the_generators_valid(tmp_path: Path) -> None:
    assert (
        main(["generate", "--synthetic", "ratings", "--rows", "3000", "--out", str(tmp_path)]) == 0
    )
    train = pd.read_parquet(tmp_path / "train")
    valid = pd.read_parquet(tmp_path / "valid")
    future = pd.read_parquet(tmp_path / "future.parquet")
    assert len(train) > len(future) > len(valid) > 0
    users = set(valid["user_id"])
    assert set(future["user_id"]) <= users
    pairs = [set(zip(f["user_id"], f["item_id"], strict=True)) for f in (valid, future)]
    assert not pairs[0] & pairs[1]


def test_generate_rejects_a_negative_seed_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--seed", "-1", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "error: --seed must be >= 0, got -1"


def test_convert_ratings_splits_each_user_by_time(tmp_path: Path) -> None:
    ratings = pd.DataFrame(
        {"user": [7] * 10, "item": range(10), "rating": [5, 1] * 5, "time": range(10, 0, -1)}
    )
    counts = ratings_log.convert(ratings, tmp_path, like=4)
    assert counts == {"users": 1, "items": 10, "train": 7, "valid": 1, "future": 2}
    future = pd.read_parquet(tmp_path / "future.parquet")
    # Time runs backwards over the items: the latest two ratings are items 0 and 1.
    future = future.sort_values("item_id")
    assert (future["item_id"] - ratings_log.FIRST_ITEM_ID).tolist() == [0, 1]
    assert future["click"].tolist() == [1, 0]  # rated 5 and 1, a click at 4 or more

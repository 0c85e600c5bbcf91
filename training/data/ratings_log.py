"""A rating log (user, item, rating, time: MovieLens-style CSV or parquet) as build data.

Each rating is an impression and a click when the rating is at least `like`. Per user, by
time: the first 70% of their ratings are `DIR/train/`, the next 10% `DIR/valid/` (both read by
`python -m training build --data DIR`) and the last 20% `DIR/future.parquet`, which the build
never reads: the clicks to measure the served list on (`loadtests/heldout_quality.py`). Item
and user features the log does not have are 0 (one value: the models learn from the ids).

    python -m training convert-ratings --ratings ratings.csv --out data/ratings [--like 4]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.data import held_back
from training.data.schema import RAW_COLUMNS
from training.errors import BuildError

TRAIN_TENTHS, VALID_TENTHS = 7, 1  # the rest, 2 tenths, is the future
FIRST_USER_ID, FIRST_ITEM_ID = 1_000, 500_000


@dataclass(frozen=True)
class RatingColumns:
    user: str = "userId"
    item: str = "movieId"
    rating: str = "rating"
    time: str = "timestamp"


def read(path: Path, columns: RatingColumns) -> pd.DataFrame:
    """user, item, rating, time from a CSV (any delimiter pandas sniffs) or parquet file."""
    if not path.is_file():
        raise BuildError(f"--ratings {path}: not a readable file")
    try:
        frame = (
            pd.read_parquet(path)
            if path.suffix == ".parquet"
            else pd.read_csv(path, sep=None, engine="python")
        )
    except (OSError, ValueError) as exc:
        raise BuildError(f"--ratings {path}: cannot read it ({exc})") from exc
    names = (columns.user, columns.item, columns.rating, columns.time)
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise BuildError(f"--ratings {path}: no column(s) {', '.join(missing)}")
    frame = frame[list(names)].set_axis(["user", "item", "rating", "time"], axis=1)
    if frame.isna().any().any() or not pd.api.types.is_numeric_dtype(frame["rating"]):
        raise BuildError(f"--ratings {path}: empty cells, or ratings that are not numbers")
    return frame


def convert(ratings: pd.DataFrame, out: Path, like: float) -> dict[str, int]:
    """Write `out/train/part.parquet`, `out/valid/part.parquet` and `out/future.parquet`."""
    ordered = ratings.sort_values(["user", "time", "item"], kind="stable").reset_index(drop=True)
    ordered = ordered.drop_duplicates(["user", "item"], keep="last").reset_index(drop=True)
    count = ordered.groupby("user")["item"].transform("size").to_numpy()
    rank = ordered.groupby("user").cumcount().to_numpy()
    # Integer arithmetic: floor(0.8 * 10) in floating point is 7.
    train_end = count * TRAIN_TENTHS // 10
    valid_end = count * (TRAIN_TENTHS + VALID_TENTHS) // 10
    part = np.where(rank < train_end, 0, np.where(rank < valid_end, 1, 2))
    raw = pd.DataFrame(0, index=ordered.index, columns=list(RAW_COLUMNS))
    raw["user_id"] = FIRST_USER_ID + pd.factorize(ordered["user"], sort=True)[0]
    raw["item_id"] = FIRST_ITEM_ID + pd.factorize(ordered["item"], sort=True)[0]
    raw["click"] = (ordered["rating"] >= like).astype("int64")
    raw = raw.astype(RAW_COLUMNS)
    return held_back.write(out, raw[part == 0], raw[part == 1], raw[part == 2])

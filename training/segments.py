"""The segment lists behind the second candidate source: per user segment (the encoded values
of some of `SEGMENT_COLUMNS`), the items its users clicked most in train, at most ITEMS per
segment. Which of the columns make the segment, each build chooses (training/merge_choice.py,
among `COLUMN_CHOICES`): finer segments are closer to a user's taste, coarser ones have more
clicks each.

Users alike in these raw Ali-CCP fields see and click alike items, so "most clicked in my
segment" is both a baseline a personalized model must beat (training/evaluate.py) and a
source of candidates where the Two-Tower is weak; serving reads the same columns from the
user features it already fetches.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from services.ensemble.candidates import SegmentLists, segment_keys
from training.schema import TARGET

SEGMENT_COLUMNS = ("user_group", "user_age", "user_gender")
COLUMN_CHOICES: tuple[tuple[str, ...], ...] = tuple(
    columns
    for size in range(len(SEGMENT_COLUMNS), 0, -1)
    for columns in combinations(SEGMENT_COLUMNS, size)
)
"""Every non-empty subset of SEGMENT_COLUMNS, all three first (the segment of builds made
before the choice)."""
ITEMS = 300
"""Per segment: as many as the most clicked list (a row reads at most 2 K + its history)."""
COLUMNS = ("segment", "item_id", "clicks")


def keys(frame: pd.DataFrame, columns: tuple[str, ...] = SEGMENT_COLUMNS) -> np.ndarray:
    """int64 segment key per row of an encoded frame (`candidates.segment_keys`)."""
    return segment_keys([frame[name].to_numpy() for name in columns])


def table(
    train: pd.DataFrame, columns: tuple[str, ...] = SEGMENT_COLUMNS, items: int = ITEMS
) -> pd.DataFrame:
    """From the encoded train rows: segment (keyed by `columns`), item_id (catalogue id),
    clicks; per segment the most clicked first (ties: smaller id first), at most `items`. A
    user's own clicks count: the serving filter removes them from that user's list."""
    clicked = train[TARGET].to_numpy() == 1
    segment = keys(train, columns)[clicked]
    clicks = pd.DataFrame({"segment": segment, "item_id": train["item_id_raw"].to_numpy()[clicked]})
    clicks = clicks[clicks["segment"] >= 0]
    counts = clicks.groupby(["segment", "item_id"]).size().rename("clicks").reset_index()
    counts = counts.sort_values(["segment", "clicks", "item_id"], ascending=[True, False, True])
    best = counts.groupby("segment", sort=False).head(items).reset_index(drop=True)
    return best.astype({"segment": "int64", "item_id": "int32", "clicks": "int64"})


def as_lists(frame: pd.DataFrame) -> SegmentLists:
    return SegmentLists.from_columns(frame["segment"], frame["item_id"])

"""The segment lists behind the second candidate source: per user segment (the encoded
`SEGMENT_COLUMNS`), the items its users clicked most in train, at most ITEMS per segment.

Users alike in these raw Ali-CCP fields see and click alike items, so "most clicked in my
segment" is both a baseline a personalized model must beat (training/evaluate.py) and a
source of candidates where the Two-Tower is weak; serving reads the same columns from the
user features it already fetches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.ensemble.candidates import SegmentLists, segment_keys
from training.schema import TARGET

SEGMENT_COLUMNS = ("user_group", "user_age", "user_gender")
ITEMS = 300
"""Per segment: as many as the most clicked list (a row reads at most 2 K + its history)."""
COLUMNS = ("segment", "item_id", "clicks")


def keys(frame: pd.DataFrame) -> np.ndarray:
    """int64 segment key per row of an encoded frame (`candidates.segment_keys`)."""
    return segment_keys([frame[name].to_numpy() for name in SEGMENT_COLUMNS])


def table(train: pd.DataFrame, items: int = ITEMS) -> pd.DataFrame:
    """From the encoded train rows: segment, item_id (catalogue id), clicks; per segment the
    most clicked first (ties: smaller id first), at most `items`. A user's own clicks count:
    the serving filter removes them from that user's list."""
    clicked = train[TARGET].to_numpy() == 1
    clicks = pd.DataFrame(
        {"segment": keys(train)[clicked], "item_id": train["item_id_raw"].to_numpy()[clicked]}
    )
    clicks = clicks[clicks["segment"] >= 0]
    counts = clicks.groupby(["segment", "item_id"]).size().rename("clicks").reset_index()
    counts = counts.sort_values(["segment", "clicks", "item_id"], ascending=[True, False, True])
    best = counts.groupby("segment", sort=False).head(items).reset_index(drop=True)
    return best.astype({"segment": "int64", "item_id": "int32", "clicks": "int64"})


def as_lists(frame: pd.DataFrame) -> SegmentLists:
    return SegmentLists.from_columns(frame["segment"], frame["item_id"])

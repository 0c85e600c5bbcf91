"""The most clicked items of the train rows: the answer for users the system does not know,
and the last list of the second candidate source."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.schema import TARGET

POPULAR_ITEMS = 300
"""Enough for the fallback's top-k and for the second candidate source after the filter."""


def most_clicked(train: pd.DataFrame) -> pd.DataFrame:
    """The POPULAR_ITEMS most clicked items of the encoded train rows (ties: more shown first):
    item_id (catalogue id), clicks; most clicked first."""
    clicks = train.groupby("item_id_raw")[TARGET].agg(["sum", "count"])
    top = clicks.sort_values(["sum", "count"], ascending=False).head(POPULAR_ITEMS)
    return pd.DataFrame(
        {"item_id": top.index.astype("int32"), "clicks": top["sum"].astype("int64")}
    )


def most_clicked_ids(train: pd.DataFrame) -> np.ndarray:
    """`most_clicked`'s catalogue ids, most clicked first."""
    ids: np.ndarray = most_clicked(train)["item_id"].to_numpy()
    return ids

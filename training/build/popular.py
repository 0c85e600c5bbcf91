"""The most clicked items of the train rows: the answer for users the system does not know,
and the last list of the second candidate source."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.data.schema import TARGET

POPULAR_ITEMS = 300
"""Enough for the fallback's top-k and for the second candidate source after the filter."""


def most_clicked(train: pd.DataFrame) -> pd.DataFrame:
    """The POPULAR_ITEMS most clicked items of the encoded train rows (ties: more shown first):
    item_id (catalogue id), clicks, item_category (encoded, as serving reads it: the ordering
    stage fills a per-category capped answer with these); most clicked first."""
    clicks = train.groupby("item_id_raw")[TARGET].agg(["sum", "count"])
    top = clicks.sort_values(["sum", "count"], ascending=False).head(POPULAR_ITEMS)
    category = train.drop_duplicates("item_id_raw", keep="last").set_index("item_id_raw")
    return pd.DataFrame(
        {
            "item_id": top.index.astype("int32"),
            "clicks": top["sum"].astype("int64"),
            "item_category": category["item_category"].reindex(top.index).astype("int64"),
        }
    ).reset_index(drop=True)


def most_clicked_ids(train: pd.DataFrame) -> npt.NDArray[np.integer[Any]]:
    """`most_clicked`'s catalogue ids, most clicked first."""
    ids: npt.NDArray[np.integer[Any]] = most_clicked(train)["item_id"].to_numpy()
    return ids


def item_clicks(train: pd.DataFrame) -> pd.Series:
    """Catalogue item id -> its clicks in the encoded `train` rows (items with any): the
    final score's popularity part reads log(1 + clicks)."""
    clicks = train.loc[train[TARGET] == 1].groupby("item_id_raw").size()
    clicks.index = clicks.index.astype("int64")
    return clicks.astype("int64").rename("clicks")

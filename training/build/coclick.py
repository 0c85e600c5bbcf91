"""The co-click table behind the second candidate source: for each item, the items most often
clicked by the same users (cosine of their user sets), at most NEIGHBOURS per item."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from services.ensemble.candidates import NeighbourTable

NEIGHBOURS = 50
COLUMNS = ("item_id", "neighbour_id", "score")


def table(pairs: pd.DataFrame, neighbours: int = NEIGHBOURS) -> pd.DataFrame:
    """From distinct (user_id, item_id) click pairs (catalogue ids): item_id, neighbour_id,
    score (float32), best first per item."""
    if pairs.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(COLUMNS, ("int32", "int32", "float32"), strict=True)
            }
        )
    users, user_rows = np.unique(pairs["user_id"].to_numpy(), return_inverse=True)
    items, item_cols = np.unique(pairs["item_id"].to_numpy(), return_inverse=True)
    clicked = sparse.csr_matrix(
        (np.ones(len(pairs), np.float32), (user_rows, item_cols)), shape=(len(users), len(items))
    )
    clicked.data[:] = 1.0  # duplicates count once
    together = (clicked.T @ clicked).tocoo()
    off_diagonal = together.row != together.col
    rows, cols = together.row[off_diagonal], together.col[off_diagonal]
    counts = np.asarray(clicked.sum(axis=0)).ravel()
    score = together.data[off_diagonal] / np.sqrt(counts[rows] * counts[cols])
    frame = pd.DataFrame(
        {
            "item_id": items[rows].astype("int32"),
            "neighbour_id": items[cols].astype("int32"),
            "score": score.astype("float32"),
        }
    )
    frame = frame.sort_values(["item_id", "score", "neighbour_id"], ascending=[True, False, True])
    return frame.groupby("item_id", sort=False).head(neighbours).reset_index(drop=True)


def as_table(frame: pd.DataFrame) -> NeighbourTable:
    return NeighbourTable.from_columns(frame["item_id"], frame["neighbour_id"], frame["score"])

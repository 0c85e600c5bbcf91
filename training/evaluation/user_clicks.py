"""Clicks as the evaluation reads them, in catalogue ids: (user_id, item_id) pairs of the encoded
rows, each user's history, the target clicks a list is measured on, and recall on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ensemble.candidates import IdArray
from training.data.schema import TARGET

CatalogueIds = npt.NDArray[np.integer[Any]]
"""Catalogue (raw) user or item ids as the frames hold them: int32 in the raw schema, int64
where pandas made them (an index, a test's frame). The candidate lists are `IdArray` (int32)."""


def histories(pairs: pd.DataFrame, user_ids: npt.ArrayLike) -> list[CatalogueIds]:
    """Per user of `user_ids`, their distinct clicked item ids, ascending."""
    unique = pairs[["user_id", "item_id"]].drop_duplicates().sort_values(["user_id", "item_id"])
    users, items = unique["user_id"].to_numpy(), unique["item_id"].to_numpy()
    wanted = np.asarray(user_ids).astype(users.dtype)
    starts = np.searchsorted(users, wanted, side="left")
    ends = np.searchsorted(users, wanted, side="right")
    return [items[start:end] for start, end in zip(starts, ends, strict=True)]


def click_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    clicks = frame.loc[frame[TARGET] == 1, ["user_id_raw", "item_id_raw"]]
    return clicks.rename(columns={"user_id_raw": "user_id", "item_id_raw": "item_id"})


def shown_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """(user_id, item_id) of every encoded row: each item shown, clicked or not."""
    shown = frame[["user_id_raw", "item_id_raw"]]
    return shown.rename(columns={"user_id_raw": "user_id", "item_id_raw": "item_id"})


def new_targets(targets: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """The distinct valid (user, item) clicks the user had not clicked in train."""
    pairs = targets[["user_id", "item_id"]].drop_duplicates()
    had = pairs.merge(history[["user_id", "item_id"]].drop_duplicates(), how="left", indicator=True)
    return pairs[(had["_merge"] == "left_only").to_numpy()].reset_index(drop=True)


def target_rows(
    user_ids: CatalogueIds, targets: pd.DataFrame, history: pd.DataFrame
) -> tuple[npt.NDArray[np.int64], CatalogueIds]:
    """(row of `user_ids`, item id) of every target click the user had not had in `history`."""
    new = new_targets(targets, history)
    row_of_user = pd.Series(np.arange(len(user_ids)), index=user_ids)
    rows = row_of_user.reindex(new["user_id"].to_numpy()).to_numpy()
    known = ~np.isnan(rows)
    return rows[known].astype(np.int64), new["item_id"].to_numpy()[known]


def recall(candidates: IdArray, rows: npt.NDArray[np.int64], items: CatalogueIds) -> float:
    return float((candidates[rows] == items[:, None]).any(axis=1).mean()) if len(rows) else 0.0

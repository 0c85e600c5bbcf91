"""The item-item model: EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019).

With X the binary user x item matrix (clicks, or every item shown: the build chooses), the
weights are B = I - P diag(1 / diag(P)) with P = (X^T X + l2 I)^-1 (a zero diagonal), and a
user's score for item j is sum over their items h of B[h, j]. The inverse is dense: the model
covers the `max_items` items with the most interactions (the rest get no item-item score; the
co-click table covers every item). The final score's item-item part reads the dense weights
(`save_dense`, `DenseItemItem`: exact, one gather a batch); the candidate list keeps each item's
`neighbours` weights of the
largest size, negative ones too (`NeighbourTable`, as the co-click table): on a rating log
with 2,000 items covered, the served top-10 with 500 kept weights per item was 0.7% below the
dense model's NDCG@10, with 200 2.7% (keeping the positive ones alone lost more).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from services.ensemble.candidates import IdArray, NeighbourTable
from services.ensemble.final_score import EXCLUDES
from training.data.schema import TARGET

COLUMNS = ("item_id", "neighbour_id", "score")
INPUTS = EXCLUDES
"""What X holds: each user's clicked items, or every item shown to them (clicked or not)."""


@dataclass(frozen=True)
class ItemItemConfig:
    l2: float = 200.0
    """EASE's lambda. The model's quality was flat between 50 and 500 on the four data sets
    compared (two rating logs, both generators); 200 is also the published baseline's."""
    max_items: int = 2000
    """The dense inverse costs max_items^3: 0.2 s at 1,500 items, 1.2 s at 3,000, 4.5 s at
    5,000 on a 2-core machine (float64)."""
    neighbours: int = 500
    """Weights kept per item for serving (memory: items x neighbours x 12 bytes)."""


def weights(pairs: pd.DataFrame, config: ItemItemConfig) -> tuple[IdArray, npt.NDArray[np.float32]]:
    """(item ids [m], B [m, m] float32) from distinct or repeated (user_id, item_id) pairs:
    the `config.max_items` items with the most users (ties: smaller id), B's diagonal 0."""
    items = _covered_items(pairs, config.max_items)
    kept = pairs[pairs["item_id"].isin(items)]
    if kept.empty:
        return items, np.zeros((len(items), len(items)), np.float32)
    users, user_rows = np.unique(kept["user_id"].to_numpy(), return_inverse=True)
    item_cols = np.searchsorted(items, kept["item_id"].to_numpy())
    x = sparse.csr_matrix(
        (np.ones(len(kept), np.float64), (user_rows, item_cols)), shape=(len(users), len(items))
    )
    x.data[:] = 1.0  # repeated pairs count once
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += config.l2
    inverse = np.linalg.inv(gram)
    b = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(b, 0.0)
    return items, b.astype(np.float32)


def table(pairs: pd.DataFrame, config: ItemItemConfig) -> pd.DataFrame:
    """The served weights: item_id, neighbour_id, score (float32), each item's
    `config.neighbours` weights of the largest size, best first."""
    items, b = weights(pairs, config)
    return as_frame(items, b, config.neighbours)


def as_frame(items: IdArray, b: npt.NDArray[np.float32], neighbours: int) -> pd.DataFrame:
    """Each row of `b` pruned to its `neighbours` weights of the largest size, as table rows
    (zeros dropped)."""
    keep = min(neighbours, max(len(items) - 1, 0))
    if keep == 0:
        return _empty()
    cols = np.argpartition(-np.abs(b), keep - 1, axis=1)[:, :keep].reshape(-1)
    rows = np.repeat(np.arange(len(items)), keep)
    values = b[rows, cols].astype(np.float32)
    kept = values != 0
    rows, cols, values = rows[kept], cols[kept], values[kept]
    # items are sorted, so by row, then best weight first, ties by the smaller neighbour
    order = np.lexsort((cols, -values, rows))
    return pd.DataFrame(
        {
            "item_id": items[rows[order]].astype("int32"),
            "neighbour_id": items[cols[order]].astype("int32"),
            "score": values[order],
        }
    )


def save_dense(path: Path, items: IdArray, b: npt.NDArray[np.float32]) -> None:
    """The dense weights the final score's item-item part reads (`DenseItemItem`)."""
    with path.open("wb") as out:
        np.savez(out, item_ids=items.astype(np.int32), weights=b.astype(np.float32))


def as_table(frame: pd.DataFrame) -> NeighbourTable:
    return NeighbourTable.from_columns(frame["item_id"], frame["neighbour_id"], frame["score"])


def pairs_of(frame: pd.DataFrame, model_input: str) -> pd.DataFrame:
    """The (user_id, item_id) pairs X holds for `model_input` ("clicks" or "shown"), from raw
    or encoded rows with catalogue ids (`user_id`/`item_id` or `*_raw`)."""
    if model_input not in INPUTS:
        raise ValueError(f"the item-item input is one of {INPUTS}, got {model_input!r}")
    user, item = (
        ("user_id_raw", "item_id_raw") if "item_id_raw" in frame else ("user_id", "item_id")
    )
    rows = frame if model_input == "shown" else frame[frame[TARGET] == 1]
    return pd.DataFrame({"user_id": rows[user].to_numpy(), "item_id": rows[item].to_numpy()})


def _covered_items(pairs: pd.DataFrame, max_items: int) -> IdArray:
    users_per_item = pairs.drop_duplicates(["user_id", "item_id"]).groupby("item_id").size()
    ranked = users_per_item.reset_index(name="users").sort_values(
        ["users", "item_id"], ascending=[False, True]
    )
    return np.sort(ranked["item_id"].to_numpy()[:max_items]).astype(np.int32)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=t) for c, t in zip(COLUMNS, ("int32", "int32", "float32"), strict=True)}
    )

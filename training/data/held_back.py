"""Build data with a held-back future: `DIR/train/`, `DIR/valid/` (read by `python -m training
build --data DIR`) and `DIR/future.parquet`, which no build reads: the clicks the served list
is measured on through the gateway (`loadtests/heldout_quality.py`, `make quality DATA=DIR`).

    python -m training generate --synthetic ratings --rows 100000 --seed 42 --out data/ratings

writes a generator's train split as it is and cuts its valid split per user, in the generator's
row order (for `ratings`, the order the user chose the items in): the first third stays valid,
the rest is the future.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

VALID_SHARE_KEPT = 1 / 3


def cut_future(valid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's first third of `valid` rows (at least one), and the rest."""
    rank = valid.groupby("user_id", sort=False).cumcount().to_numpy()
    count = valid.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    kept = rank < np.maximum(1, np.floor(VALID_SHARE_KEPT * count))
    return valid[kept].reset_index(drop=True), valid[~kept].reset_index(drop=True)


def write(
    out: Path, train: pd.DataFrame, valid: pd.DataFrame, future: pd.DataFrame
) -> dict[str, int]:
    """Write the three splits; their row counts, users and items."""
    for name, frame in (("train", train), ("valid", valid)):
        (out / name).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out / name / "part.parquet", index=False)
    future.to_parquet(out / "future.parquet", index=False)
    every = pd.concat([train, valid, future])
    return {
        "users": int(every["user_id"].nunique()),
        "items": int(every["item_id"].nunique()),
        "train": len(train),
        "valid": len(valid),
        "future": len(future),
    }

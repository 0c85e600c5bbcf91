"""The workflow's encodings as plain arrays, for encoding raw values where NVTabular is not.

The model process encodes the raw attributes of items and users added at run time
(contract.ONLINE_ITEMS_KEY, ONLINE_USERS_KEY) with `services.ensemble.vocabulary`, from the
file written here into the build's feature repo. Each column's codes come from the fitted
workflow itself (its subgraph run on every value it knows, and on one it does not know for the
out-of-vocabulary code), so they equal what the build's own encoding gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import nvtabular as nvt
import pandas as pd

from services.ensemble.contract import ITEM_FEATURES, USER_FEATURES
from services.ensemble.vocabulary import FILE_NAME, Vocabulary

SIDES = {"user": ("user_id", *USER_FEATURES), "item": ("item_id", *ITEM_FEATURES)}
"""The workflow's subgraphs (training/build/features.py) and their raw input columns."""
INT32 = np.iinfo(np.int32)


def write(workflow: nvt.Workflow, categories_dir: Path, folder: Path) -> Path:
    """`folder`/FILE_NAME: the vocabulary of every user and item column; its path."""
    columns: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], int]] = {}
    for side, names in SIDES.items():
        columns.update(side_vocabulary(workflow.get_subworkflow(side), names, categories_dir))
    path = folder / FILE_NAME
    Vocabulary(columns).save(path)
    return path


def side_vocabulary(
    subworkflow: nvt.Workflow, names: tuple[str, ...], categories_dir: Path
) -> dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], int]]:
    """Per column: (known raw values ascending, their codes, the out-of-vocabulary code)."""
    known = {name: known_values(categories_dir, name) for name in names}
    length = max(len(values) for values in known.values()) + 1
    probe = pd.DataFrame({name: padded_probe(values, length) for name, values in known.items()})
    encoded = subworkflow.transform(probe)
    out = {}
    for name, values in known.items():
        codes = encoded[name].to_numpy()
        out[name] = (values, codes[: len(values)].astype(np.int32), int(codes[-1]))
    return out


def known_values(categories_dir: Path, name: str) -> npt.NDArray[np.int64]:
    """The raw values the workflow's Categorify holds for `name`, ascending (nulls dropped)."""
    frame = pd.read_parquet(categories_dir / f"unique.{name}.parquet", columns=[name])
    values: npt.NDArray[np.int64] = np.unique(frame[name].dropna().to_numpy().astype(np.int64))
    return values


def padded_probe(values: npt.NDArray[np.int64], length: int) -> npt.NDArray[np.int32]:
    """`values`, then their first value repeated, then (last row) a value the column never
    saw: every column of the probe frame has `length` rows."""
    fill = values[0] if len(values) else 0
    column = np.full(length, fill, dtype=np.int64)
    column[: len(values)] = values
    column[-1] = unseen_value(values)
    return column.astype(np.int32)


def unseen_value(values: npt.NDArray[np.int64]) -> int:
    """An int32 not among `values` (sorted)."""
    if len(values) == 0 or values[-1] < INT32.max:
        return int(values[-1] + 1) if len(values) else 0
    if values[0] > INT32.min:
        return int(values[0] - 1)
    gaps = np.flatnonzero(np.diff(values) > 1)
    return int(values[gaps[0]] + 1)

"""Raw attribute values -> the codes the models take, without NVTabular (numpy only).

Written by the build (training/build/vocabulary.py) from the fitted workflow into its feature
repo; read by the model process to encode the items and users added at run time. A value the
build never saw gets the column's out-of-vocabulary code, as the workflow gives it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

FILE_NAME = "vocabulary.npz"
Column = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], int]
"""(known raw values ascending, their codes, the out-of-vocabulary code)."""


class Vocabulary:
    def __init__(self, columns: Mapping[str, Column]) -> None:
        self.columns = dict(columns)

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        with np.load(path) as arrays:
            names = sorted({key.rsplit(".", 1)[0] for key in arrays.files})
            return cls(
                {
                    name: (
                        arrays[f"{name}.values"].astype(np.int64),
                        arrays[f"{name}.codes"].astype(np.int32),
                        int(arrays[f"{name}.oov"]),
                    )
                    for name in names
                }
            )

    def save(self, path: Path) -> None:
        arrays: dict[str, npt.NDArray[np.generic]] = {}
        for name, (values, codes, oov) in self.columns.items():
            arrays[f"{name}.values"] = values
            arrays[f"{name}.codes"] = codes
            arrays[f"{name}.oov"] = np.asarray(oov, dtype=np.int32)
        with path.open("wb") as file:
            np.savez(file, **arrays)

    def encode(self, name: str, raw: npt.ArrayLike) -> npt.NDArray[np.int32]:
        """The codes of `raw` values of column `name` (KeyError for a column it does not hold)."""
        values, codes, oov = self.columns[name]
        wanted = np.asarray(raw, dtype=np.int64).reshape(-1)
        if len(values) == 0:
            return np.full(len(wanted), oov, dtype=np.int32)
        at = np.minimum(np.searchsorted(values, wanted), len(values) - 1)
        return np.where(values[at] == wanted, codes[at], oov).astype(np.int32)

    def oov(self, name: str) -> int:
        """Column `name`'s out-of-vocabulary code."""
        return self.columns[name][2]

    def encode_rows(
        self, columns: tuple[str, ...], rows: Sequence[Mapping[str, int]]
    ) -> npt.NDArray[np.int32]:
        """int32 [len(rows), len(columns)]: each row's value of each column, encoded."""
        out = np.zeros((len(rows), len(columns)), dtype=np.int32)
        for position, name in enumerate(columns):
            out[:, position] = self.encode(name, [row[name] for row in rows])
        return out

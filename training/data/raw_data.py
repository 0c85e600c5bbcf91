"""Raw data: read and validate `DIR/{train,valid}/*.parquet`, or generate synthetic data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training.data import generators
from training.data.schema import RAW_COLUMNS, REQUIRED_COLUMNS, TARGET
from training.errors import BuildError

SPLITS = ("train", "valid")
INT32 = np.iinfo(np.int32)


@dataclass(frozen=True)
class RawData:
    train: pd.DataFrame
    valid: pd.DataFrame
    source: str


def generate(kind: str, rows: int, seed: int, valid_share: float = 0.3) -> RawData:
    if rows < 10:
        raise BuildError(f"--rows must be at least 10, got {rows}")
    if kind not in generators.GENERATORS:
        raise BuildError(
            f"unknown synthetic data kind {kind!r}: choose one of {sorted(generators.GENERATORS)}"
        )
    made = generators.generate(kind, rows, seed, valid_share)
    return RawData(
        validate(made.train, "train"), validate(made.valid, "valid"), f"synthetic:{kind}"
    )


def load(data_dir: Path) -> RawData:
    """Read `data_dir/train/*.parquet` and `data_dir/valid/*.parquet` in the raw schema."""
    if not data_dir.is_dir():
        raise BuildError(f"--data {data_dir}: not a readable directory")
    frames = {split: validate(_read_split(data_dir / split), split) for split in SPLITS}
    return RawData(frames["train"], frames["valid"], f"parquet:{data_dir.name}")


def _read_split(split_dir: Path) -> pd.DataFrame:
    files = sorted(split_dir.glob("*.parquet"))
    if not files:
        raise BuildError(f"no parquet files in {split_dir}")
    try:
        tables = [pq.read_table(path) for path in files]
        table = pa.concat_tables(tables, promote=True)
    except (OSError, pa.ArrowException) as exc:
        raise BuildError(f"cannot read parquet in {split_dir}: {_first_line(exc)}") from exc
    return table.to_pandas()


def validate(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """Check the columns the pipeline needs and return the frame in the raw schema's dtypes.

    Integer columns of any width are accepted when their values fit the schema's dtype;
    columns of the raw schema that the pipeline does not read are filled with 0 if absent.
    """
    missing = [col for col in REQUIRED_COLUMNS if col not in frame.columns]
    if missing:
        raise BuildError(f"{split}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise BuildError(f"{split}: no rows")
    out = pd.DataFrame(index=frame.index)
    for col, dtype in RAW_COLUMNS.items():
        out[col] = _checked_column(frame[col], split, dtype) if col in frame else 0
    if not out[TARGET].isin([0, 1]).all():
        raise BuildError(f"{split}: column {TARGET} must hold only 0 and 1")
    return out.astype(RAW_COLUMNS).reset_index(drop=True)


def _checked_column(values: pd.Series, split: str, dtype: str) -> pd.Series:
    name = values.name
    if not pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise BuildError(f"{split}: column {name} has dtype {values.dtype}, expected integers")
    if values.isna().any():
        raise BuildError(f"{split}: column {name} has missing values")
    limits = np.iinfo(np.dtype(dtype))
    if len(values) and (values.min() < limits.min or values.max() > limits.max):
        raise BuildError(f"{split}: column {name} has values outside {dtype}")
    return values


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

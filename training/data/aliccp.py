"""Convert the real Ali-CCP download (Tianchi dataset 408) into parquet in the raw schema.

Input, per split (``train`` and ``test``), in ``SRC`` or in ``SRC/train`` and ``SRC/test``::

    sample_skeleton_{split}.csv: sample_id,click,conversion,common_index,feature_num,features
    common_features_{split}.csv: common_index,feature_num,features

``features`` is a list of ``field\\x02feature_id\\x03value`` joined by ``\\x01``; ``field`` is
a code such as 101 (user id) or 205 (item id), see Merlin's ``_Features``. The skeleton holds
the impression (item, position, user-item fields), the common-features line the user fields.

Output: ``OUT/train/part_*.parquet`` (from the train files) and ``OUT/valid/part_*.parquet``
(from the test files), with exactly the columns and dtypes of ``training.data.schema.RAW_COLUMNS``.
Per field the feature id is kept; like Merlin, the last id of a multi-valued field (109_14,
110_14, 127_14, 150_14) wins, a common feature wins over a skeleton one of the same field, and
impressions with a conversion but no click are dropped. A field absent from a row becomes 0.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.data.schema import RAW_COLUMNS

SPLITS: dict[str, str] = {"train": "train", "valid": "test"}
"""Output split -> suffix of the Ali-CCP files it is made from."""

LABELS = ("click", "conversion")
FEATURES: tuple[str, ...] = tuple(col for col in RAW_COLUMNS if col not in LABELS)
ABSENT = -1
"""Internal marker of a field missing from a line; real feature ids are non-negative."""
MISSING = 0
"""Written for a field that neither the skeleton nor the common-features line has."""
INT32_MAX = int(np.iinfo(np.int32).max)
SEPARATORS = re.compile("[\x01\x02\x03]")


@dataclass(frozen=True)
class CommonFeatures:
    """Per common-feature index, the ids of each column of FEATURES (ABSENT if missing)."""

    index: pd.Index
    ids: npt.NDArray[np.int32]


@dataclass
class _Batch:
    """Parsed skeleton rows of one output part, kept in compact arrays."""

    keys: list[str] = field(default_factory=list)
    line_numbers: array[int] = field(default_factory=lambda: array("q"))
    labels: array[int] = field(default_factory=lambda: array("q"))
    ids: array[int] = field(default_factory=lambda: array("i"))

    def __len__(self) -> int:
        return len(self.keys)


def convert_aliccp(src_dir: Path, out_dir: Path, chunk_rows: int = 1_000_000) -> dict[str, int]:
    """Convert the four Ali-CCP csv files in `src_dir`; return rows written per output split.

    The skeleton files are streamed, at most `chunk_rows` rows per part file. Existing
    `part_*.parquet` files in `out_dir/train` and `out_dir/valid` are replaced.
    Raises ValueError if a file is missing or a line is malformed.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    sources = {split: _source_files(Path(src_dir), suffix) for split, suffix in SPLITS.items()}
    return {
        split: _convert_split(skeleton, common, Path(out_dir) / split, chunk_rows)
        for split, (skeleton, common) in sources.items()
    }


def _source_files(src_dir: Path, suffix: str) -> tuple[Path, Path]:
    names = (f"sample_skeleton_{suffix}.csv", f"common_features_{suffix}.csv")
    return _find(src_dir, suffix, names[0]), _find(src_dir, suffix, names[1])


def _find(src_dir: Path, suffix: str, name: str) -> Path:
    """The file in `src_dir`, or in `src_dir/train|test` as Merlin's prepare_aliccp expects."""
    for path in (src_dir / name, src_dir / suffix / name):
        if path.is_file():
            return path
    raise ValueError(f"missing Ali-CCP file {name} in {src_dir} (or {src_dir / suffix})")


def _convert_split(skeleton: Path, common: Path, split_dir: Path, chunk_rows: int) -> int:
    features = read_common_features(common)
    split_dir.mkdir(parents=True, exist_ok=True)
    _remove_parts(split_dir)
    rows = 0
    try:
        for number, frame in enumerate(read_skeleton(skeleton, features, chunk_rows)):
            frame.to_parquet(split_dir / f"part_{number:05d}.parquet", index=False)
            rows += len(frame)
    except BaseException:
        _remove_parts(split_dir)  # no half-converted split for a later reader to pick up
        raise
    return rows


def _remove_parts(split_dir: Path) -> None:
    for path in split_dir.glob("part_*.parquet"):
        path.unlink()


@cache
def _field_codes() -> tuple[str, ...]:
    """Ali-CCP field code of each column of FEATURES, from Merlin's own table.

    Imported lazily: any merlin import loads TensorFlow, which takes seconds.
    """
    from merlin.datasets.ecommerce.aliccp.dataset import _Features

    code_of = {name: code for code, name in _Features().by_id.items()}
    return tuple(code_of[name] for name in FEATURES)


def read_common_features(path: Path) -> CommonFeatures:
    """Read a common_features_*.csv file into a table keyed by common-feature index.

    Not Merlin's `_convert_common_features`: it keeps a dict of strings per line (far bigger
    than these int32 rows), and it misreads or crashes on malformed lines without a location.
    """
    keys: list[str] = []
    ids = array("i")
    for number, line in _lines(path):
        with _located(path, number):
            key, feature_num, features = _split_line(line, 3)
            _check_count(feature_num)
            ids.extend(_parse_features(features))
            keys.append(key)
    index = pd.Index(keys)
    if not index.is_unique:
        duplicate = index[index.duplicated()][0]
        raise ValueError(f"{path}: common feature index {duplicate!r} appears more than once")
    return CommonFeatures(index, _as_matrix(ids, len(keys)))


def read_skeleton(path: Path, common: CommonFeatures, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Yield sample_skeleton_*.csv as raw-schema frames of at most `chunk_rows` rows.

    Yields at least one (possibly empty) frame, so an empty split still gets its schema.
    Not Merlin's `_convert_data`: it needs `train/` and `test/` subdirectories, loses the rows
    after its last full chunk, fails on rows lacking a field (None cast to int32) and orders
    columns by first appearance instead of the aliccp-raw order.
    """
    batch, yielded = _Batch(), False
    for number, line in _lines(path):
        with _located(path, number):
            _add_skeleton_line(batch, line, number)
        if len(batch) == chunk_rows:
            yield _to_frame(batch, common, path)
            batch, yielded = _Batch(), True
    if len(batch) or not yielded:
        yield _to_frame(batch, common, path)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered non-blank lines of `path`, without their line ending."""
    with path.open(encoding="utf-8", errors="replace", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, line.rstrip("\r\n")


@contextmanager
def _located(path: Path, number: int) -> Iterator[None]:
    """Prefix a ValueError raised while parsing a line with `file:line`."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{path}:{number}: {exc}") from None


def _add_skeleton_line(batch: _Batch, line: str, number: int) -> None:
    _, click, conversion, key, feature_num, features = _split_line(line, 6)
    labels = (_label(click, "click"), _label(conversion, "conversion"))
    _check_count(feature_num)
    ids = _parse_features(features)
    if labels == (0, 1):
        return  # conversion without a click: dropped, as Merlin does
    batch.keys.append(key)
    batch.line_numbers.append(number)
    batch.labels.extend(labels)
    batch.ids.extend(ids)


def _split_line(line: str, columns: int) -> list[str]:
    parts = line.split(",")
    if len(parts) != columns:
        raise ValueError(f"expected {columns} comma-separated fields, got {len(parts)}")
    return parts


def _label(text: str, name: str) -> int:
    if text not in ("0", "1"):
        raise ValueError(f"{name} must be 0 or 1, got {text!r}")
    return int(text)


def _check_count(text: str) -> None:
    # Only checked to be a number: the feature list itself is validated when parsed.
    if not _is_number(text):
        raise ValueError(f"feature count must be a number, got {text!r}")


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _parse_features(text: str) -> list[int]:
    """Feature id per column of FEATURES from `field\\x02id\\x03value` items joined by \\x01.

    Split like Merlin does (one regex over all three separators; inline in its code, so not
    callable); unlike Merlin, the structure is checked, so a malformed line is reported.
    """
    if not text:
        return [ABSENT] * len(FEATURES)
    parts = SEPARATORS.split(text)
    items = len(parts) // 3
    if len(parts) % 3 or text.count("\x02") != items or text.count("\x03") != items:
        raise ValueError("malformed feature list, expected field\\x02id\\x03value items")
    # dict() keeps the last id of a repeated (multi-valued) field, as Merlin does.
    by_field = dict(zip(parts[0::3], parts[1::3], strict=True))
    return [_feature_id(by_field.get(code), code) for code in _field_codes()]


def _feature_id(text: str | None, code: str) -> int:
    if text is None:
        return ABSENT
    if not _is_number(text) or int(text) > INT32_MAX:
        raise ValueError(f"field {code} has id {text!r}, expected a non-negative int32")
    return int(text)


def _as_matrix(ids: array[int], rows: int) -> npt.NDArray[np.int32]:
    return np.frombuffer(ids, dtype=np.int32).reshape(rows, len(FEATURES))


def _to_frame(batch: _Batch, common: CommonFeatures, path: Path) -> pd.DataFrame:
    """Join a batch with its common features and return it in the raw schema."""
    positions = common.index.get_indexer(batch.keys)
    if (positions < 0).any():
        row = int(np.flatnonzero(positions < 0)[0])
        where = f"{path}:{batch.line_numbers[row]}"
        raise ValueError(f"{where}: unknown common feature index {batch.keys[row]!r}")
    user = common.ids[positions]
    ids = np.where(user != ABSENT, user, _as_matrix(batch.ids, len(batch)))
    ids[ids == ABSENT] = MISSING
    frame = pd.DataFrame(ids, columns=list(FEATURES))
    labels = np.frombuffer(batch.labels, dtype=np.int64).reshape(len(batch), len(LABELS))
    for column, name in enumerate(LABELS):
        frame[name] = labels[:, column]
    return frame.astype(RAW_COLUMNS)[list(RAW_COLUMNS)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.data.aliccp",
        description="Convert the Ali-CCP csv download into raw-schema parquet (train, valid).",
    )
    parser.add_argument("src", type=Path, help="directory with the four Ali-CCP csv files")
    parser.add_argument("out", type=Path, help="output directory for train/ and valid/")
    parser.add_argument("--chunk-rows", type=int, default=1_000_000, help="rows per part file")
    args = parser.parse_args(argv)
    # Merlin imports TensorFlow and warns about a missing PyTorch: keep that off stderr.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    warnings.filterwarnings("ignore", message="PyTorch dtype mappings")
    try:
        rows = convert_aliccp(args.src, args.out, args.chunk_rows)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for split, count in rows.items():
        print(f"{split}: {count} rows written to {args.out / split}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""loadtests/user_table.py: the build's user table and its ids."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loadtests.errors import InputError
from loadtests.user_table import USER_TABLE, check_user_table, read_user_ids


def write_table(build: Path, table: pa.Table) -> Path:
    path = build / USER_TABLE
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    return path


def test_a_build_s_user_table_is_found_and_read(tmp_path: Path) -> None:
    path = write_table(tmp_path, pa.table({"user_id": [3, None, 5], "user_age": [1, 2, 3]}))
    assert check_user_table(tmp_path) == path
    assert read_user_ids(path) == [3, 5]


def test_ids_from_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("7\n8\n\n9\n")
    assert read_user_ids(path) == [7, 8, 9]


def test_unusable_builds_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a directory"):
        check_user_table(tmp_path / "none")
    with pytest.raises(InputError, match="missing: --build is not a complete build"):
        check_user_table(tmp_path)
    write_table(tmp_path, pa.table({"other": [1]}))
    with pytest.raises(InputError, match="has no user_id values"):
        check_user_table(tmp_path)
    (tmp_path / USER_TABLE).write_text("not parquet")
    with pytest.raises(InputError, match="cannot read"):
        check_user_table(tmp_path)

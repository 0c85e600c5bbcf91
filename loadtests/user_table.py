"""The build's user table: where it is, whether it is usable, and its user ids."""

from __future__ import annotations

from pathlib import Path

from loadtests.errors import InputError

USER_TABLE = Path("feature_repo") / "data" / "user_features.parquet"
"""Inside a build directory (the Feast repository's user features)."""
USER_ID = "user_id"


def check_user_table(build: Path) -> Path:
    """The build's user table, with at least one user id."""
    if not build.is_dir():
        raise InputError(f"--build {build} is not a directory (run `make build`)")
    table = build / USER_TABLE
    if not table.is_file():
        raise InputError(f"{table} missing: --build is not a complete build")
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(table)
        rows = pq.ParquetFile(table).metadata.num_rows
    except Exception as exc:  # any unreadable file is bad input here
        raise InputError(f"cannot read {table}: {exc}") from None
    if USER_ID not in schema.names or rows == 0:
        raise InputError(f"{table} has no {USER_ID} values")
    return table


def read_user_ids(path: Path) -> list[int]:
    """Known user ids: column user_id of a parquet file, or a text file with one id a line."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        ids = pq.read_table(path, columns=[USER_ID]).column(USER_ID).to_pylist()
    else:
        ids = [int(line) for line in path.read_text().split() if line.strip()]
    return [int(user) for user in ids if user is not None]

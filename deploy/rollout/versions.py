"""The executor model's version folders in the live repository and the build each one serves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from services.ensemble.contract import BUILD_FILE


def version_dirs(model_dir: Path) -> list[int]:
    """The version folders on disk, lowest first (Triton's rule: a number without leading 0)."""
    if not model_dir.is_dir():
        return []
    return sorted(
        int(path.name)
        for path in model_dir.iterdir()
        if path.is_dir() and path.name.isdigit() and not path.name.startswith("0")
    )


def next_version(model_dir: Path, known: list[int]) -> int:
    """One above every version on disk or known to Triton."""
    return max([0, *version_dirs(model_dir), *known]) + 1


def build_of(model_dir: Path, version: int) -> str | None:
    """The build id version `version` serves (its build.json), None if it names none."""
    path = model_dir / str(version) / BUILD_FILE
    try:
        return str(json.loads(path.read_text())["build_id"])
    except (OSError, ValueError, KeyError):
        return None


def remove(model_dir: Path, version: int) -> None:
    """Delete a version folder that Triton does not serve (moved aside first: never half gone)."""
    folder = model_dir / str(version)
    if folder.exists():
        aside = model_dir.parent / f".{model_dir.name}.removed-{version}"
        shutil.rmtree(aside, ignore_errors=True)
        folder.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)


def users_of(model_dir: Path, version: int) -> tuple[int, int]:
    """(a user the version's build knows, a user it does not): from the exported feature repo."""
    import pyarrow.parquet as pq

    table = pq.read_table(
        model_dir / str(version) / "ensemble" / "feature_repo" / "data" / "user_features.parquet",
        columns=["user_id"],
    )
    users = table.column("user_id").to_pylist()
    return int(users[0]), int(max(users)) + 1

"""The build command as a user runs it: bad input, failures, a tiny catalogue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from training.build import manifest
from training.build.artifacts import ARTIFACTS
from training.data import synthetic


def run_build(*args: str, redis_url: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "-m", "training", "build", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_data(root: Path, train: pd.DataFrame, valid: pd.DataFrame) -> Path:
    for split, frame in (("train", train), ("valid", valid)):
        (root / split).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(root / split / "part_0.parquet", index=False)
    return root


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic.generate_planted(600, seed=11, valid_share=0.3)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing_column", ("missing column", "item_brand")),
        ("empty", ("no rows",)),
        ("wrong_dtype", ("user_age", "dtype")),
        ("no_valid_split", ("no parquet files", "valid")),
        ("corrupt_parquet", ("cannot read parquet",)),
        ("not_a_directory", ("not a readable directory",)),
    ],
)
def test_bad_data_exits_with_one_line(
    tmp_path: Path, redis_url: str, planted: tuple[pd.DataFrame, pd.DataFrame], case: str, words
) -> None:  # type: ignore[no-untyped-def]
    train, valid = planted
    source = tmp_path / "data"
    if case == "missing_column":
        write_data(source, train.drop(columns=["item_brand"]), valid)
    elif case == "empty":
        write_data(source, train.iloc[:0], valid)
    elif case == "wrong_dtype":
        write_data(source, train.assign(user_age=train["user_age"].astype(str)), valid)
    elif case == "no_valid_split":
        write_data(source, train, valid)
        (source / "valid" / "part_0.parquet").unlink()
    elif case == "corrupt_parquet":
        write_data(source, train, valid)
        (source / "train" / "part_0.parquet").write_bytes(b"not parquet at all")
    out = tmp_path / "out"
    result = run_build("--out", str(out), "--data", str(source), redis_url=redis_url)
    assert_one_line_error(result, *words)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))


@pytest.mark.parametrize("rows", ["0", "-5"])
def test_non_positive_rows_exit_with_one_line(tmp_path: Path, redis_url: str, rows: str) -> None:
    result = run_build("--out", str(tmp_path / "out"), "--rows", rows, redis_url=redis_url)
    assert_one_line_error(result, "--rows")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--seed", "-1"), ("--seed", ">= 0")),
        (("--dask-workers", "-1"), ("--dask-workers",)),
        (("--dask-scheduler", "tcp://127.0.0.1:9"), ("--dask-scheduler", "cannot connect")),
        (("--dask-scheduler", "nowhere"), ("--dask-scheduler", "tcp://host:8786")),
    ],
)
def test_bad_seed_or_dask_settings_exit_with_one_line(
    tmp_path: Path, redis_url: str, flags: tuple[str, ...], words: tuple[str, ...]
) -> None:
    result = run_build("--out", str(tmp_path / "out"), *flags, redis_url=redis_url, timeout=60)
    assert_one_line_error(result, *words)
    assert not (tmp_path / "out").exists()


def test_out_that_is_not_a_build_is_not_replaced(tmp_path: Path, redis_url: str) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = run_build("--out", str(out), "--rows", "100", redis_url=redis_url)
    assert_one_line_error(result, "not a build directory")
    assert (out / "notes.txt").read_text() == "keep me"


def test_failed_build_keeps_the_previous_one(tmp_path: Path, build_dir: Path) -> None:
    """An unreachable Redis fails the build after staging began: nothing half-written remains."""
    before = (build_dir / manifest.MANIFEST).read_text()
    result = run_build(
        "--out", str(build_dir), "--rows", "200", redis_url="redis://127.0.0.1:1/0", timeout=120
    )
    assert_one_line_error(result, "Redis")
    assert (build_dir / manifest.MANIFEST).read_text() == before
    assert not list(build_dir.parent.glob(f".{build_dir.name}.*"))


@pytest.mark.slow
def test_tiny_catalogue_with_sparse_ids_builds_and_retrieves(
    tmp_path: Path, redis_server: str, planted: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """Fewer than 32 items (the reference's IVF32 index fails there) and 7-digit ids."""
    train, valid = planted
    keep = train["item_id"].drop_duplicates().head(20)
    train, valid = train[train["item_id"].isin(keep)], valid[valid["item_id"].isin(keep)]
    source = write_data(tmp_path / "data", train, valid)
    out = tmp_path / "tiny"
    result = run_build("--out", str(out), "--data", str(source), redis_url=f"{redis_server}/1")
    assert result.returncode == 0, result.stderr
    document = manifest.read(out)
    assert document["items"] == pd.concat([train, valid])["item_id"].nunique() <= 20
    assert document["index"]["factory"] == "IDMap,Flat"

    import tensorflow as tf

    from training.build import index, retrieval

    users = pd.read_parquet(out / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet")
    query_tower = tf.keras.models.load_model(out / ARTIFACTS["query_tower"])
    queries = retrieval.embed(
        query_tower, users.rename(columns={"user_id": "raw", "user_id_encoded": "user_id"})
    )
    _, found = index.search(index.load(out / ARTIFACTS["faiss_index"]), queries, k=100)
    assert found.shape == (len(users), document["items"])
    assert set(found.ravel()) == set(keep)


def run_command(*args: str, redis_url: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_materialize_failure_is_one_line_with_a_log(tmp_path: Path, redis_url: str) -> None:
    """A build directory whose artifacts are gone: materialize fails inside Feast; the error
    handler (which once read the absent `args.out` and crashed) reports one line."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / manifest.MANIFEST).write_text('{"complete": true, "created_at": "x"}')
    result = run_command("materialize", "--build", str(broken), redis_url=redis_url)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip().startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    log = tmp_path / "broken.error.log"
    assert "Traceback" in log.read_text()


@pytest.mark.parametrize("command", ["materialize", "evaluate"])
def test_commands_on_a_missing_build_exit_with_one_line(
    tmp_path: Path, redis_url: str, command: str
) -> None:
    result = run_command(command, "--build", str(tmp_path / "nothing"), redis_url=redis_url)
    assert_one_line_error(result, "no complete build")


def test_evaluate_prints_the_table_of_a_build(build_dir: Path, redis_url: str) -> None:
    """In a fresh process: the saved models load with Merlin's layers registered."""
    result = run_command("evaluate", "--build", str(build_dir), redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    assert "served_ndcg_at_10" in result.stdout
    assert "true_click_probability:" in result.stdout


@pytest.mark.parametrize(
    ("flags", "words"),
    [(("--instances", "0"), ("--instances",)), (("--temperature", "-1"), ("--temperature",))],
)
def test_bad_export_numbers_exit_with_one_line(
    tmp_path: Path, flags: tuple[str, ...], words: tuple[str, ...]
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "export",
            "--build",
            str(tmp_path),
            "--out",
            str(tmp_path / "repo"),
            *flags,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_one_line_error(result, *words)
    assert not (tmp_path / "repo").exists()

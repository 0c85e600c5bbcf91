"""When `make run` exports again: no export, an export older than the build, or an export made by
other serving code (it would be served beside a gateway of this checkout)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from deploy.stack.build import ENSEMBLE_PACKAGE, export_needed, exported_code_is_current


def exported(tmp_path: Path, versions: tuple[int, ...] = (1,)) -> tuple[Path, Path]:
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    executor = tmp_path / "repository" / "executor_model"
    for version in versions:
        shutil.copytree(
            ENSEMBLE_PACKAGE,
            executor / str(version) / "services" / "ensemble",
            ignore=shutil.ignore_patterns("__pycache__", "model_template"),
        )
        shutil.copy2(ENSEMBLE_PACKAGE / "model_template" / "model.py", executor / str(version))
    later = manifest.stat().st_mtime + 10
    os.utime(executor, (later, later))
    return executor, manifest


def test_an_export_of_this_code_after_the_build_is_current(tmp_path: Path) -> None:
    executor, manifest = exported(tmp_path)
    assert exported_code_is_current(executor)
    assert export_needed(executor, manifest) == ""


def test_other_serving_code_in_the_newest_version_needs_an_export(tmp_path: Path) -> None:
    executor, manifest = exported(tmp_path, versions=(1, 2))
    (executor / "2" / "services" / "ensemble" / "contract.py").write_text("OLD = 1\n")
    os.utime(executor, (manifest.stat().st_mtime + 10,) * 2)
    assert not exported_code_is_current(executor)
    assert (
        export_needed(executor, manifest)
        == "the exported model's code differs from this checkout's"
    )


def test_no_export_or_an_older_one_needs_an_export(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    assert export_needed(tmp_path / "missing", manifest) == "no exported model"
    executor, manifest = exported(tmp_path)
    earlier = manifest.stat().st_mtime - 10
    os.utime(executor, (earlier, earlier))
    assert export_needed(executor, manifest) == "the export is older than the build"
    shutil.rmtree(executor / "1")
    os.utime(executor, (earlier + 20,) * 2)
    assert not exported_code_is_current(executor)


def test_another_model_py_in_the_newest_version_needs_an_export(tmp_path: Path) -> None:
    executor, manifest = exported(tmp_path)
    (executor / "1" / "model.py").write_text("# an older template\n")
    os.utime(executor, (manifest.stat().st_mtime + 10,) * 2)
    assert not exported_code_is_current(executor)
    (executor / "1" / "model.py").unlink()
    assert not exported_code_is_current(executor)

"""Export a build as a Triton model repository (the serving graph of services.ensemble).

The executor model is written to a staging folder and swapped into place, so a failed export
leaves the previous model intact; other folders in the repository (e.g. its README) are kept.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from training import manifest
from training.errors import BuildError


def export_repository(
    build_dir: Path,
    repository: Path,
    candidates: int = 100,
    topk: int = 10,
    temperature: float = 0.0,
    instances: int = 2,
    rules_file: Path | None = None,
) -> Path:
    try:
        manifest.read(build_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise BuildError(f"--build {build_dir}: no complete build there ({exc})") from exc
    from services.ensemble import graph
    from services.ensemble.rules import Rules

    try:
        rules = Rules.from_file(rules_file) if rules_file else Rules()
    except ValueError as exc:
        raise BuildError(str(exc)) from exc

    repository.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=repository, prefix=".export-") as staging:
        ensemble = graph.build_graph(build_dir, candidates, topk, temperature, rules)
        graph.export(ensemble, Path(staging), instances)
        target = repository / graph.MODEL_NAME
        previous = repository / f".{graph.MODEL_NAME}.previous"
        shutil.rmtree(previous, ignore_errors=True)
        if target.exists():
            target.rename(previous)
        (Path(staging) / graph.MODEL_NAME).rename(target)
        shutil.rmtree(previous, ignore_errors=True)
    return target

"""Export a build as a Triton model repository (the serving graph of services.ensemble).

The executor model is written to a staging folder and swapped into place, so a failed export
leaves the previous model intact; other folders in the repository (e.g. its README) are kept.
With `version`, only that version folder is added beside the model's other versions (the
rollout's next version): the model's config.pbtxt and its loaded versions are not touched.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from training.build import manifest
from training.errors import BuildError


def export_repository(
    build_dir: Path,
    repository: Path,
    candidates: int | None = None,
    topk: int | None = None,
    temperature: float | None = None,
    instances: int | None = None,
    rules_file: Path | None = None,
    version: int | None = None,
) -> Path:
    """Unset numbers take services.ensemble's settings (their defaults: 100, 10, 0.0, 1); the
    dynamic batcher's limits always do (RECSYS_MAX_BATCH_SIZE, RECSYS_BATCH_DELAY_US).

    Returns the model folder; with `version`, the new version's folder (which must not exist).
    """
    try:
        document = manifest.read(build_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise BuildError(f"--build {build_dir}: no complete build there ({exc})") from exc
    from services.ensemble import graph
    from services.ensemble import repository as model_repository
    from services.ensemble.contract import MODEL_NAME, STANDBY_MODEL_NAME, build_id_of
    from services.ensemble.rules import Rules
    from services.ensemble.settings import EnsembleSettings
    from training.build.feature_store import ensure_project

    defaults = EnsembleSettings()
    build_id = build_id_of(document)
    target = repository / MODEL_NAME
    if version is not None and (target / str(version)).exists():
        raise BuildError(f"{target / str(version)} exists: a version is never overwritten")
    # the exported feature repo must name the build's own Feast project (its Redis namespace)
    ensure_project(build_dir / "feature_repo", build_id, defaults.redis_url)

    try:
        rules = Rules.from_file(rules_file) if rules_file else Rules()
    except ValueError as exc:
        raise BuildError(str(exc)) from exc

    repository.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=repository, prefix=".export-") as staging:
        settings = graph.GraphSettings(
            defaults.candidate_count if candidates is None else candidates,
            defaults.topk if topk is None else topk,
            defaults.temperature if temperature is None else temperature,
            rules,
        )
        ensemble = graph.build_graph(
            build_dir, settings.candidate_count, settings.topk, settings.temperature, rules
        )
        model_repository.export(
            ensemble,
            Path(staging),
            build_id,
            defaults.instances if instances is None else instances,
            model_repository.Batching(defaults.max_batch_size, defaults.batch_delay_us),
            version=version or 1,
            standby=graph.standby_stages(build_dir, settings),
        )
        if version is not None:  # a rollout: the standby model follows the served version
            target.mkdir(exist_ok=True)
            (Path(staging) / MODEL_NAME / str(version)).rename(target / str(version))
            return target / str(version)
        model_repository.export_standby(Path(staging), Path(staging) / MODEL_NAME)
        for name in (MODEL_NAME, STANDBY_MODEL_NAME):
            replace_folder(Path(staging) / name, repository / name)
    return target


def replace_folder(new: Path, target: Path) -> None:
    """`target` replaced by `new` (the old one moved aside first, then removed)."""
    previous = target.parent / f".{target.name}.previous"
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    new.rename(target)
    shutil.rmtree(previous, ignore_errors=True)

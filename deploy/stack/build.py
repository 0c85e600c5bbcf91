"""Step 1 of `run`: a build (`python -m training build`) and its exported model repository."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from deploy.stack.settings import MERLIN_PYTHON, StackSettings
from deploy.stack.steps import run_step, say
from services.ensemble.contract import MODEL_NAME

ENSEMBLE_PACKAGE = Path(__file__).resolve().parents[2] / "services" / "ensemble"


def ensure_build(settings: StackSettings, redis_url: str) -> dict[str, object]:
    """The build's manifest; builds when there is none, exports when the export is older or
    was made by other serving code."""
    manifest_path = settings.build_dir / "manifest.json"
    env = {**os.environ, "REDIS_URL": redis_url}
    training = [str(MERLIN_PYTHON), "-m", "training"]
    if not manifest_path.is_file():
        source = f"data in {settings.data}" if settings.data else f"{settings.rows} synthetic rows"
        say(f"no build in {settings.build_dir}: building on {source} (about a minute)")
        args = ["build", "--out", str(settings.build_dir), "--rows", str(settings.rows)]
        if settings.data:
            args += ["--data", str(settings.data)]
        run_step([*training, *args], env)
    manifest: dict[str, object] = json.loads(manifest_path.read_text())
    executor = settings.model_repository / MODEL_NAME
    reason = export_needed(executor, manifest_path)
    if reason:
        say(f"{reason}: exporting the model repository to {settings.model_repository}")
        build, out = str(settings.build_dir), str(settings.model_repository)
        run_step([*training, "export", "--build", build, "--out", out], env)
    return manifest


def export_needed(executor: Path, manifest_path: Path) -> str:
    """Why the build must be exported again ("" when its export is current)."""
    if not executor.is_dir():
        return "no exported model"
    if executor.stat().st_mtime < manifest_path.stat().st_mtime:
        return "the export is older than the build"
    if not exported_code_is_current(executor):
        return "the exported model's code differs from this checkout's"
    return ""


def package_fingerprint(package: Path) -> str:
    """A digest of the package's Python sources (not the model template, which the export
    copies elsewhere)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if "__pycache__" in relative.parts or relative.parts[0] == "model_template":
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def exported_code_is_current(executor: Path) -> bool:
    """Whether the newest version folder holds this checkout's serving code: an export made by
    older code (another key layout, say) must not be served beside a newer gateway."""
    versions = sorted(int(p.name) for p in executor.iterdir() if p.name.isdigit())
    if not versions:
        return False
    version_dir = executor / str(versions[-1])
    copy, model = version_dir / "services" / "ensemble", version_dir / "model.py"
    template = ENSEMBLE_PACKAGE / "model_template" / "model.py"
    return (
        copy.is_dir()
        and package_fingerprint(copy) == package_fingerprint(ENSEMBLE_PACKAGE)
        and model.is_file()
        and model.read_bytes() == template.read_bytes()  # copied as is by the export
    )

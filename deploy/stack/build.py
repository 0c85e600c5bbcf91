"""Step 1 of `run`: a build (`python -m training build`) and its exported model repository."""

from __future__ import annotations

import json
import os

from deploy.stack.settings import MERLIN_PYTHON, StackSettings
from deploy.stack.steps import run_step, say


def ensure_build(settings: StackSettings, redis_url: str) -> dict[str, object]:
    """The build's manifest; builds when there is none, exports when the export is older."""
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
    executor = settings.model_repository / "executor_model"
    if not executor.is_dir() or executor.stat().st_mtime < manifest_path.stat().st_mtime:
        say(f"exporting the model repository to {settings.model_repository}")
        build, out = str(settings.build_dir), str(settings.model_repository)
        run_step([*training, "export", "--build", build, "--out", out], env)
    return manifest

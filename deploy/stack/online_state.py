"""Step 3 of `run`: the build's online state in Redis, refilled unless all of it is there."""

from __future__ import annotations

import os

from deploy.stack.settings import MERLIN_PYTHON, StackSettings
from deploy.stack.steps import run_step, say


def ensure_online_state(settings: StackSettings, redis_url: str, build_id: str) -> None:
    """Materialize unless Redis holds this build's state: its marker AND all of its keys
    (a Redis restarted empty, or a marker without the data, is refilled)."""
    from training.build.feature_store import missing_online_state

    missing = missing_online_state(settings.build_dir, redis_url, build_id)
    if missing is None:
        say(f"online state: build {build_id} already in Redis")
        return
    say(f"online state: {missing}; materializing build {build_id}")
    run_step(
        [str(MERLIN_PYTHON), "-m", "training", "materialize", "--build", str(settings.build_dir)],
        {**os.environ, "REDIS_URL": redis_url},
    )

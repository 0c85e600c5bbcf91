"""The standby model's graph: the executor's served version, followed.

The standby model (Triton model `standby_model`, one process without TensorFlow, about a
tenth of the executor's memory) answers from the standby stages each executor version folder
holds (`STANDBY_FILE`, built by services/ensemble/graph.py). It serves the version the
gateways are told to ask for (SERVED_VERSION_KEY in Redis; the highest folder before the
first rollout) and looks again at most every `FOLLOW_EVERY_S`, so a rollout or rollback moves
it too without a reload of its own. The gateway asks it only when the executor cannot answer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from services.ensemble.contract import SERVED_VERSION_KEY
from services.ensemble.executor import Executor
from services.ensemble.redis_store import REDIS_ERRORS
from services.ensemble.stages.base import STANDBY_FILE

FOLLOW_EVERY_S = 5.0


class FollowedExecutor:
    """The standby's Executor for the executor model's served version (`model_dir`: its
    folder in the repository)."""

    def __init__(self, model_dir: Path, redis: Any) -> None:
        self.model_dir = model_dir
        self.redis = redis
        self.version: int | None = None
        self.executor: Executor | None = None
        self.checked_at = 0.0

    def current(self) -> Executor:
        """The served version's standby Executor (loaded anew when the served version moved)."""
        now = time.monotonic()
        if self.executor is None or now - self.checked_at >= FOLLOW_EVERY_S:
            self.checked_at = now
            version = self.served_version()
            if version != self.version or self.executor is None:
                loaded = self.load(version)
                if loaded is not self.executor:  # else tried again at the next look
                    self.executor, self.version = loaded, version
        assert self.executor is not None
        return self.executor

    def load(self, version: int) -> Executor:
        """Version `version`'s standby Executor; the one already loaded if that fails (e.g.
        its folder went away under a rollback), so a failed move never stops the standby."""
        try:
            return Executor.from_version_dir(self.model_dir / str(version), STANDBY_FILE)
        except Exception:
            if self.executor is None:
                raise
            return self.executor

    def served_version(self) -> int:
        """The version named served in Redis if its folder has standby stages, else the
        highest folder that has them (FileNotFoundError when none has)."""
        present = standby_versions(self.model_dir)
        if not present:
            raise FileNotFoundError(f"no version folder of {self.model_dir} has {STANDBY_FILE}")
        try:
            named = self.redis.get(SERVED_VERSION_KEY)
        except REDIS_ERRORS:
            named = None  # keep to what the folders say: the stages report Redis themselves
        if named is not None and named.isdigit() and int(named) in present:
            return int(named)
        return max(present)


def standby_versions(model_dir: Path) -> list[int]:
    """The version folders holding standby stages, lowest first."""
    if not model_dir.is_dir():
        return []
    return sorted(
        int(path.name)
        for path in model_dir.iterdir()
        if path.name.isdigit() and (path / "ensemble" / STANDBY_FILE).is_file()
    )

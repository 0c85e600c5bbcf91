"""Settings of `python -m deploy.rollout`: where the build, the live repository, Triton and Redis
are, how many builds to keep, and the timeouts.

Read from the environment (the launchers' `EnvSettings`: pydantic 1, `NAME=` is unset, a bad
value is one line naming the variable, exit 2): BUILD_DIR, MODEL_REPOSITORY, REDIS_URL (unset:
the private Redis of `make run` on RECSYS_REDIS_PORT), TRITON_HTTP_PORT, and
RECSYS_ROLLOUT_<FIELD> for the rest (e.g. RECSYS_ROLLOUT_KEEP_BUILDS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import PositiveFloat, PositiveInt, validator

from deploy.triton.errors import LaunchError
from deploy.triton.settings import EnvSettings, Port

REPO_ROOT = Path(__file__).resolve().parents[2]


class RolloutError(LaunchError):
    """A failed step (exit 1) or bad input (exit 2): one `error: ...` line."""


class RolloutSettings(EnvSettings):
    build_dir: Path = REPO_ROOT / "artifacts"
    """The build to deploy (`deploy`); unused by `rollback`."""
    model_repository: Path = REPO_ROOT / "model_repository"
    """The repository the running Triton serves (its executor_model gets the next version)."""
    redis_url: str | None = None
    """The online store the served model reads; unset: `make run`'s private Redis."""
    redis_port: Port = Port(6390)
    triton_host: str = "127.0.0.1"
    triton_http_port: Port = Port(8000)
    keep_builds: PositiveInt = 3
    """Version folders and Redis namespaces kept (the newest; a loaded one always is)."""
    load_timeout_s: PositiveFloat = 300.0
    """How long one load request to Triton may take (a version loads in 5-30 s here)."""
    check_timeout_s: PositiveFloat = 10.0
    """Timeout of one check request to the new version."""
    switch_wait_s: PositiveFloat = 2.0
    """After naming the new version served in Redis: how long until every gateway names it and
    the requests they sent to the old version are answered (GATEWAY_SERVED_VERSION_REFRESH_S
    x 2 + GATEWAY_REQUEST_TIMEOUT_S, 0.5 x 2 + 1 s by default); then the old one is unloaded."""

    class Config:
        env_prefix = "RECSYS_ROLLOUT_"
        fields: ClassVar[dict[str, Any]] = {
            "build_dir": {"env": "BUILD_DIR"},
            "model_repository": {"env": "MODEL_REPOSITORY"},
            "redis_url": {"env": "REDIS_URL"},
            "redis_port": {"env": "RECSYS_REDIS_PORT"},
            "triton_http_port": {"env": "TRITON_HTTP_PORT"},
        }

    @validator("build_dir", "model_repository")
    def _from_repo_root(cls, value: Path) -> Path:
        return (REPO_ROOT / value.expanduser()).resolve()

    @classmethod
    def invalid(cls, message: str) -> Exception:
        return RolloutError(message, 2)

    @property
    def online_store(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

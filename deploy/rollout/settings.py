"""Settings of `python -m deploy.rollout`: where the build, the live repository, Triton and Redis
are, how many builds to keep, and the timeouts.

Read from the environment (the launchers' `deploy.settings_base.EnvSettings`: pydantic 1,
`NAME=` is unset, a bad value is one line naming the variable, exit 2): BUILD_DIR,
MODEL_REPOSITORY, REDIS_URL (unset: the private Redis of `make run` on RECSYS_REDIS_PORT),
TRITON_HTTP_PORT, and RECSYS_ROLLOUT_<FIELD> for the rest (e.g. RECSYS_ROLLOUT_KEEP_BUILDS).
The shared variables are declared once, in `deploy.settings_base`'s mixins.
"""

from __future__ import annotations

from pydantic import PositiveFloat, PositiveInt

from deploy.settings_base import REPO_ROOT, BuildPaths, RedisAddress, TritonPorts
from deploy.triton.errors import LaunchError

__all__ = ["REPO_ROOT", "RolloutError", "RolloutSettings"]


class RolloutError(LaunchError):
    """A failed step (exit 1) or bad input (exit 2): one `error: ...` line."""


class RolloutSettings(BuildPaths, RedisAddress, TritonPorts):
    """build_dir: the build to deploy (`deploy`; unused by `rollback`); model_repository: the one
    the running Triton serves (its executor_model gets the next version); redis_url: the online
    store the served model reads (unset: `make run`'s private Redis, `online_store`)."""

    triton_host: str = "127.0.0.1"
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

    @classmethod
    def invalid(cls, message: str) -> Exception:
        return RolloutError(message, 2)

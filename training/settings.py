"""Settings of the offline build, from environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseSettings, ValidationError, validator  # pydantic 1 (Merlin pins < 2)

from services.ensemble.redis_url import check_url
from services.ensemble.settings import DEFAULT_REDIS_URL
from training.errors import BuildError


class TrainingSettings(BaseSettings):
    redis_url: str = DEFAULT_REDIS_URL
    """Online store Feast materializes into (env REDIS_URL); a Redis Cluster as
    `redis+cluster://host:port[,host:port...]` (Feast's `redis_type: redis_cluster`)."""

    class Config:
        env_prefix = ""

    def __init__(self, **values: Any) -> None:
        """A bad variable is a BuildError (the CLI's one-line error, exit 2)."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            problem = exc.errors()[0]
            name = str(problem["loc"][0]).upper()
            raise BuildError(f"{name}: {problem['msg']}") from None

    @validator("redis_url")
    def _redis_url(cls, value: str) -> str:
        return check_url(value)

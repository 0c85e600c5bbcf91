"""Settings of the offline build, from environment variables."""

from __future__ import annotations

from pydantic import BaseSettings  # pydantic 1: the Merlin environment pins pydantic < 2

from services.ensemble.settings import DEFAULT_REDIS_URL


class TrainingSettings(BaseSettings):
    redis_url: str = DEFAULT_REDIS_URL
    """Online store Feast materializes into (env REDIS_URL)."""

    class Config:
        env_prefix = ""

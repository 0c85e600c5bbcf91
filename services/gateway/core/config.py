"""The gateway's settings: one object, from environment variables prefixed GATEWAY_."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True)

    triton_url: str = "127.0.0.1:8001"
    """Triton's gRPC address, host:port."""
    model_name: str = "executor_model"
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis holding the interaction sets (the same one the build wrote)."""
    request_timeout_s: float = Field(default=1.0, gt=0)
    """Longest wait for one Triton call; past it the answer is 503."""
    ready_timeout_s: float = Field(default=0.5, gt=0)
    """Longest wait for Triton's readiness in /readyz."""
    retry_after_s: int = Field(default=1, ge=0)
    """Retry-After sent with 503 answers."""
    max_k: int = Field(default=10, ge=1)
    """Items per answer at most: what the ensemble returns."""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "info"


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""Settings of the offline build, from environment variables."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from pydantic import BaseSettings  # pydantic 1: the Merlin environment pins pydantic < 2


class TrainingSettings(BaseSettings):
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Online store Feast materializes into (env REDIS_URL)."""

    class Config:
        env_prefix = ""


def feast_redis_connection(redis_url: str) -> str:
    """`redis://[:password@]host:port[/db]` -> Feast's `host:port[,db=N][,password=...]`."""
    url = urlparse(redis_url)
    if url.scheme not in ("redis", "rediss") or not url.hostname:
        raise ValueError(f"REDIS_URL must look like redis://host:port/db, got {redis_url!r}")
    parts = [f"{url.hostname}:{url.port or 6379}"]
    db = url.path.lstrip("/")
    if db and db != "0":
        parts.append(f"db={int(db)}")
    if url.password:
        parts.append(f"password={unquote(url.password)}")
    if url.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)

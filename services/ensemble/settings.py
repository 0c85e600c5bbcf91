"""Settings of the serving graph, read from the environment of the Triton server process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
READERS = ("redis", "feast")
CONNECTION_ENV = "FEAST_REDIS_CONNECTION"
"""Where Feast's feature_store.yaml reads its Redis connection from (set from REDIS_URL)."""


@dataclass(frozen=True)
class EnsembleSettings:
    redis_url: str = DEFAULT_REDIS_URL
    """Redis holding the Feast online store (env REDIS_URL)."""
    feature_reader: str = "redis"
    """`redis`: direct pipelined HMGET of Feast's layout; `feast`: the Feast SDK, as QueryFeast
    (env RECSYS_FEATURE_READER)."""

    @classmethod
    def from_env(cls) -> EnsembleSettings:
        reader = os.environ.get("RECSYS_FEATURE_READER", "redis")
        if reader not in READERS:
            raise ValueError(f"RECSYS_FEATURE_READER must be one of {READERS}, got {reader!r}")
        return cls(redis_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), feature_reader=reader)


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

"""Settings of the serving graph: every timeout and default of services.ensemble in one place.

Read from the environment of the process that builds or serves the graph (the Triton server's
for the executor model). Field -> variable: `redis_url` <- REDIS_URL, `candidate_count` <-
RECSYS_CANDIDATES, every other field <- RECSYS_<FIELD> (e.g. RECSYS_REDIS_TIMEOUT_S, RECSYS_TOPK).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseSettings, validator  # pydantic 1: the Merlin environment pins pydantic < 2

from services.ensemble.redis_url import check_url, is_cluster, parse_cluster

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CONNECTION_ENV = "FEAST_REDIS_CONNECTION"
"""Where the checked-in feature_store.yaml reads its Redis connection from (offline build)."""
REDIS_TYPE_ENV = "FEAST_REDIS_TYPE"
"""Where it reads Feast's `redis_type` from: `redis`, or `redis_cluster` for a cluster URL."""


class EnsembleSettings(BaseSettings):
    redis_url: str = DEFAULT_REDIS_URL
    """Redis holding the Feast online store and the interaction sets (env REDIS_URL); a Redis
    Cluster as `redis+cluster://host:port[,host:port...]` (see `redis_url.py`)."""
    feature_reader: Literal["redis", "feast"] = "redis"
    """`redis`: direct pipelined HMGET of Feast's layout; `feast`: the Feast SDK, as QueryFeast."""
    item_features: Literal["memory", "online_store"] = "memory"
    """`memory`: the catalogue's item features read from the online store (with
    `feature_reader`) into arrays at load, and again after the build marker changed;
    `online_store`: the candidates' features read from the online store on every request."""
    redis_timeout_s: float = 0.5
    """Connect and read timeout of every Redis call: below the gateway's 1 s Triton timeout, so
    an unreachable Redis gives a retryable error before the gateway gives up."""
    threads_per_instance: int = 1
    """TensorFlow and faiss threads per model instance (Triton runs one process per instance)."""
    candidate_count: int = 100
    """Export default: the candidate count K, items per user handed from the candidate stages
    (retrieval, merge, filter) to ranking (env RECSYS_CANDIDATES)."""
    topk: int = 10
    """Export default: the answer size k, items in each answer (k <= K; env RECSYS_TOPK)."""
    temperature: float = 0.0
    """Export default: 0 orders by score; > 0 samples softmax(score / T)."""
    instances: int = 1
    """Export default: CPU instances (processes) of the executor model. One: with dynamic
    batching one process serves more within the SLO than two, in half the memory."""
    max_batch_size: int = 64
    """Export default: most users one execute() answers (Triton's max_batch_size)."""
    batch_delay_us: int = 0
    """Export default: how long Triton's dynamic batcher may hold a request to fill a batch.
    0: a request that finds the model idle runs at once (a lone user no longer waits); under
    load requests still batch, as they queue while the previous pass runs."""

    class Config:
        env_prefix = "RECSYS_"
        fields: ClassVar[dict[str, Any]] = {
            "redis_url": {"env": "REDIS_URL"},
            "candidate_count": {"env": "RECSYS_CANDIDATES"},
        }
        allow_mutation = False

    @validator("redis_url")
    def _redis_url(cls, value: str) -> str:
        return check_url(value)

    @validator(
        "redis_timeout_s",
        "threads_per_instance",
        "candidate_count",
        "topk",
        "instances",
        "max_batch_size",
    )
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be > 0")
        return value

    @validator("temperature", "batch_delay_us")
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be >= 0")
        return value


def feast_redis_type(redis_url: str) -> str:
    """Feast's `redis_type` for the URL: `redis_cluster` for a cluster URL, else `redis`."""
    return "redis_cluster" if is_cluster(redis_url) else "redis"


def feast_redis_connection(redis_url: str) -> str:
    """`redis://[:password@]host:port[/db]` -> Feast's `host:port[,db=N][,password=...]`;
    `redis+cluster://[:password@]h1:p1,h2:p2` -> `h1:p1,h2:p2[,password=...]`."""
    if is_cluster(redis_url):
        return _feast_cluster_connection(redis_url)
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


def _feast_cluster_connection(redis_url: str) -> str:
    target = parse_cluster(redis_url)
    parts = [f"{host}:{port}" for host, port in target.nodes]
    if target.username:
        parts.append(f"username={target.username}")
    if target.password:
        parts.append(f"password={target.password}")
    if target.tls:
        parts.append("ssl=true")
    return ",".join(parts)

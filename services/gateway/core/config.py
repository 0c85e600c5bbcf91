"""The gateway's settings: one object, from environment variables prefixed GATEWAY_."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_address
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.ensemble.contract import MODEL_NAME, STANDBY_MODEL_NAME
from services.ensemble.redis_url import check_url
from services.gateway.core.ab import ABSplit, parse_split

DEFAULT_MAX_K = 10
"""k's maximum while neither GATEWAY_MAX_K nor the served model says (core/answer_size.py)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        frozen=True,
        hide_input_in_errors=True,  # keys and passwords
    )

    triton_url: str = "127.0.0.1:8001"
    """Triton's gRPC address, host:port; several replicas as a comma-separated list."""
    model_name: str = MODEL_NAME
    ab: str = ""
    """A/B split of the users over model versions, version:percent pairs (`2:90,3:10`); each
    user's version is fixed by a hash of the user id. Empty: the served version (the rollout's
    switch, read from Redis) serves everyone, or Triton's latest before any rollout."""
    served_version_refresh_s: float = Field(default=0.5, gt=0)
    """How often the served model version (set by the rollout in Redis) is read again; a
    rollout waits twice this (plus the requests in flight) before unloading the old version."""
    # click attribution: what answers showed (Redis, with a TTL) and counters per A/B arm
    attribution_share: float = Field(default=1.0, ge=0, le=1)
    """Share of /recommend answers whose items are recorded for click attribution; 0: none."""
    attribution_max_per_s: float = Field(default=100.0, ge=0)
    """Answers recorded per second at most, by each gateway (a token bucket after the share);
    0: no cap. With the TTL it bounds Redis memory: max_per_s x ttl_s records at most."""
    attribution_ttl_s: int = Field(default=1800, ge=1)
    """How long a recorded answer can be clicked: its Redis key expires after this."""
    attribution_flush_s: float = Field(default=0.2, gt=0)
    """Recorded answers and request counts are written to Redis this often, in one pipeline,
    off the request path."""
    attribution_max_pending: int = Field(default=10_000, ge=1)
    """Recorded answers waiting in memory for their write at most; more are dropped (counted)."""
    attribution_refresh_s: float = Field(default=5.0, gt=0)
    """How often the attribution counters are read from Redis for /metrics."""
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    """Redis holding the online state (the same one the build wrote); may hold a password, so
    it is kept out of reprs and logs. `rediss://` for TLS; a Redis Cluster as
    `redis+cluster://host:port[,host:port...]` (`rediss+cluster://` for TLS)."""
    redis_password: SecretStr | None = None
    """Redis's password, for a URL without one (keeps it out of the URL)."""
    redis_ca_file: Path | None = None
    """CA bundle to verify Redis's TLS certificate (rediss:// only); default: the system's."""
    request_timeout_s: float = Field(default=1.0, gt=0)
    """Longest wait for one Triton or Redis call; past it the answer is 503."""
    standby_model: str = STANDBY_MODEL_NAME
    """The model that answers while the executor cannot (no Two-Tower, no DLRM: the item-item
    model, the segment's and overall popular items; services/ensemble/standby.py). Its answers
    say `"standby": true`. Empty: none (such requests get 503)."""
    standby_after_s: float = Field(default=0.5, gt=0)
    """Longest wait for the executor before the standby answers the request instead."""
    standby_probe_s: float = Field(default=0.1, gt=0)
    """While the standby answers, the executor is probed this often; its first answer hands
    the requests back (core/standby.py)."""
    ready_timeout_s: float = Field(default=0.5, gt=0)
    """Longest wait for each readiness check in /readyz, and for a readiness probe."""
    ready_probe_s: float = Field(default=0.2, gt=0)
    """A Triton replica whose model returned no ranking for this long is asked one inference
    (a readiness probe, an unknown user); /readyz says `triton: model does not answer` once none
    came for ready_probe_s + ready_timeout_s (core/readiness.py)."""
    replica_backoff_s: float = Field(default=0.25, gt=0)
    """First wait before a failed Triton replica is probed again (doubles per failed probe)."""
    replica_backoff_max_s: float = Field(default=1.0, gt=0)
    """Longest wait between probes of a failed replica."""
    retry_after_s: int = Field(default=1, ge=0)
    """Retry-After sent with 503 answers."""
    max_k: int | None = Field(default=None, ge=1)
    """Items per answer at most: the served model's k (its config's output dims), read from
    Triton at start when unset; when set, it must equal the model's or the start is refused
    (core/answer_size.py). `k_limit` is the value in use."""
    api_key: SecretStr | None = None
    """When set (non-empty), writes (POST /interactions), GET /recommend?explain=true (a user's
    features and history) and GET /users/sample need it (Authorization: Bearer or X-API-Key)."""
    allow_anonymous: bool = False
    """Serve on a non-loopback GATEWAY_HOST without GATEWAY_API_KEY: writes, explain and
    /users/sample open to anyone who reaches the port. Off: such a start is refused."""
    metrics_require_key: bool = False
    """Also require the API key on /metrics."""
    max_body_bytes: int = Field(default=16 * 1024, ge=1)
    """Largest request body accepted; larger ones get 413."""
    body_timeout_s: float = Field(default=5.0, gt=0)
    """Longest time to receive a request body; slower clients get 408."""
    header_timeout_s: float = Field(default=5.0, gt=0)
    """Longest time from a connection's (or request's) first byte to the end of its headers."""
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    """Largest request head (request line and headers); larger ones get 431."""
    write_rate_per_s: float = Field(default=200.0, ge=0)
    """Writes per second each client address may send, sustained; more get 429. 0: no limit."""
    write_burst: int = Field(default=400, ge=1)
    """Writes a client address may send at once, beyond which write_rate_per_s applies."""
    online_items_max: int = Field(default=1000, ge=0)
    """The most items a user's online set keeps (POST /interactions); past it the oldest leave
    the set (and may be recommended again). 0: no cap. Bounds Redis' memory per user."""
    write_rate_clients: int = Field(default=10_000, ge=1)
    """Client addresses the write limit tracks at most; the least recently seen is forgotten
    first (it starts again with a full burst)."""
    keep_alive_s: int = Field(default=5, ge=1)
    """Idle keep-alive connections are closed after this long."""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "info"

    @field_validator("api_key", "redis_password", mode="after")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # Compose and shells pass unset variables as empty strings.
        return value if value is not None and value.get_secret_value() else None

    @field_validator("triton_url", mode="after")
    @classmethod
    def _triton_addresses(cls, value: str) -> str:
        addresses = [address.strip() for address in value.split(",")]
        if any(not address for address in addresses):
            raise ValueError("an empty address in the list (host:port, comma-separated)")
        if len(set(addresses)) != len(addresses):
            raise ValueError("an address listed twice")
        return ",".join(addresses)

    @field_validator("ab", mode="after")
    @classmethod
    def _ab_split(cls, value: str) -> str:
        if not value.strip():
            return ""
        return ",".join(f"{version}:{share:g}" for version, share in parse_split(value))

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_scheme(cls, value: SecretStr) -> SecretStr:
        check_url(value.get_secret_value())  # a Redis Cluster: redis+cluster://h:p,h:p
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.metrics_require_key and self.api_key is None:
            raise ValueError("GATEWAY_METRICS_REQUIRE_KEY needs GATEWAY_API_KEY")
        if self.redis_password is not None and urlsplit(self._redis_url).password is not None:
            raise ValueError(
                "a Redis password in both GATEWAY_REDIS_URL and GATEWAY_REDIS_PASSWORD"
            )
        if self.redis_ca_file is not None and not self.redis_tls:
            raise ValueError("GATEWAY_REDIS_CA_FILE needs a rediss:// GATEWAY_REDIS_URL")
        if self.replica_backoff_max_s < self.replica_backoff_s:
            raise ValueError("GATEWAY_REPLICA_BACKOFF_MAX_S is below GATEWAY_REPLICA_BACKOFF_S")
        if self.redis_ca_file is not None and not self.redis_ca_file.is_file():
            raise ValueError(f"GATEWAY_REDIS_CA_FILE {self.redis_ca_file} is not a file")
        if self.api_key is None and not self.allow_anonymous and not is_loopback(self.host):
            raise ValueError(
                f"GATEWAY_HOST {self.host} is reachable from other machines: set "
                "GATEWAY_API_KEY, or GATEWAY_ALLOW_ANONYMOUS=true to serve without a key"
            )
        return self

    @property
    def k_limit(self) -> int:
        """k's maximum in use: GATEWAY_MAX_K or the model's (set at start), else DEFAULT_MAX_K."""
        return self.max_k if self.max_k is not None else DEFAULT_MAX_K

    @property
    def triton_urls(self) -> list[str]:
        """The Triton replicas' addresses, in the configured order (index = metrics label)."""
        return self.triton_url.split(",")

    @property
    def ab_split(self) -> ABSplit | None:
        """The A/B split, or None: no version named in requests."""
        return ABSplit(parse_split(self.ab)) if self.ab else None

    @property
    def redis_tls(self) -> bool:
        return urlsplit(self._redis_url).scheme in ("rediss", "rediss+cluster")

    @property
    def _redis_url(self) -> str:
        return self.redis_url.get_secret_value()


def is_loopback(host: str) -> bool:
    """Whether a bind address is reachable from this machine only; a name other than
    localhost counts as reachable (what it resolves to may change)."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def problems_of(error: ValidationError) -> list[str]:
    """One line per invalid setting, named by its variable (inputs hidden: they may be keys)."""
    lines = []
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"GATEWAY_{name}: {message}" if name else message)
    return lines


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""Settings of the Triton launcher and its watchdog: every address, timeout and default.

Read from the environment in the launchers' style (``deploy.settings_base.EnvSettings``:
pydantic 1, an empty variable counts as unset, a bad value is a ``ConfigError`` naming the
variable, on one line): field -> ``TRITON_<FIELD>``, e.g. ``TRITON_HTTP_PORT``. The ports'
defaults are the shared ones (``deploy.settings_base.TRITON_*_PORT``), which `make run` and the
rollout read under the same names.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import NonNegativeInt, PositiveFloat

from deploy.settings_base import (
    TRITON_GRPC_PORT,
    TRITON_HTTP_PORT,
    TRITON_METRICS_PORT,
    EnvSettings,
    Port,
    check_port,
)
from deploy.triton.errors import ConfigError

__all__ = ["EnvSettings", "Port", "TritonSettings", "check_port", "default_run_dir"]


class TritonSettings(EnvSettings):
    """Bind address, ports and timeouts of one tritonserver (env ``TRITON_*``)."""

    host: str = "127.0.0.1"
    """HTTP, gRPC and metrics bind address; 0.0.0.0 exposes them."""
    http_port: Port = TRITON_HTTP_PORT
    grpc_port: Port = TRITON_GRPC_PORT
    metrics_port: Port = TRITON_METRICS_PORT
    ready_timeout_s: PositiveFloat = 120.0
    """How long `start` waits for /v2/health/ready (every model loaded)."""
    stop_timeout_s: PositiveFloat = 30.0
    """How long `stop` waits after SIGTERM before SIGKILL."""
    exit_timeout_s: NonNegativeInt = 5
    """Triton's own shutdown wait (--exit-timeout-secs, Triton's default 30): after a stub died,
    the dead instance's model version never finishes unloading and shutdown waits all of it."""
    probe_timeout_s: PositiveFloat = 1.0
    """Timeout of one readiness probe (GET /v2/health/ready)."""
    watchdog_interval_s: PositiveFloat = 0.5
    """Seconds between the watchdog's looks at the stub processes."""
    watchdog_load_timeout_s: PositiveFloat = 300.0
    """How long the watchdog waits for one model reload."""
    watchdog_stop_timeout_s: PositiveFloat = 5.0
    """How long stopping the watchdog may take before SIGKILL."""
    supervisor_stop_timeout_s: PositiveFloat = 20.0
    """How long `stop` gives the server's supervisor (`make run`'s) before SIGKILL: one caught
    restarting the server first stops the half-started server (up to 10 s)."""
    failed_start_stop_timeout_s: PositiveFloat = 10.0
    """How long a server that failed to get ready gets to stop before SIGKILL."""

    class Config:
        env_prefix = "TRITON_"

    @classmethod
    def invalid(cls, message: str) -> Exception:
        return ConfigError(message)


def default_run_dir(http_port: int) -> Path:
    """Backends, log and PID file of a server started without --run-dir."""
    return Path(tempfile.gettempdir()) / f"triton-{os.getuid()}-{http_port}"

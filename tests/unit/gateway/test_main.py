"""`python -m services.gateway` with a bad setting: one line per problem, exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.gateway"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_settings_stop_the_start_with_one_line_each() -> None:
    result = start(
        {
            **os.environ,
            "GATEWAY_MAX_BODY_BYTES": "lots",
            "GATEWAY_TRITON_URL": "triton-0:8001,,triton-1:8001",
            "GATEWAY_REDIS_URL": "http://:hunter2@cache:6379",
            "GATEWAY_AB": "2:90,3:5",
        }
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: GATEWAY_TRITON_URL: an empty address in the list (host:port, comma-separated)",
        "error: GATEWAY_AB: the shares add up to 95, not 100",
        "error: GATEWAY_REDIS_URL: must start with redis://, rediss://, unix:// or, for a Redis "
        "Cluster, redis+cluster:// or rediss+cluster://; got 'http'",
        "error: GATEWAY_MAX_BODY_BYTES: Input should be a valid integer, unable to parse string "
        "as an integer",
    ]
    assert "hunter2" not in result.stderr


def test_the_startup_heap_is_kept_out_of_full_collections() -> None:
    """A full collection over the startup heap paused every request in flight for 36-47 ms every
    2 s under load: once started, the app's long-lived objects are frozen."""
    import gc

    from starlette.testclient import TestClient

    from services.gateway.core.config import Settings
    from services.gateway.main import create_app

    gc.unfreeze()
    settings = Settings(triton_url="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")
    try:
        with TestClient(create_app(settings)):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_reachable_address_without_a_key_stops_the_start_with_one_line() -> None:
    env = {**os.environ, "GATEWAY_HOST": "0.0.0.0", "GATEWAY_API_KEY": ""}
    env.pop("GATEWAY_ALLOW_ANONYMOUS", None)
    result = start(env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: GATEWAY_HOST 0.0.0.0 is reachable from other machines: set GATEWAY_API_KEY, or "
        "GATEWAY_ALLOW_ANONYMOUS=true to serve without a key"
    ]

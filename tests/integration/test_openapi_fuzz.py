"""A property-based run over the OpenAPI document against the real gateway (schemathesis, every
check: server errors, status codes, bodies and headers against their schemas, valid input
accepted, invalid input rejected, auth enforced) on a real Triton: 0 failures, without an API
key and with one.

Each gateway writes into a Redis database of its own (holding the served build's marker, so
/readyz can be 200): the interactions the run posts never reach the session build's state."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.ensemble.contract import ONLINE_BUILD_KEY
from tests.conftest import REPO_ROOT, Gateway, flushed_db

pytestmark = pytest.mark.slow

SCHEMATHESIS = REPO_ROOT / ".venvs" / "loadtest" / "bin" / "st"
DB = 9  # a database no other test uses
KEY = "fuzz-key-0123456789abcdef"
EXAMPLES = 30
SEED = 1


@pytest.fixture(scope="module")
def fuzz_redis_url(redis_server: str, redis_url: str) -> Iterator[str]:
    served_build = redis.Redis.from_url(redis_url).get(ONLINE_BUILD_KEY)
    with flushed_db(redis_server, DB) as client:
        client.set(ONLINE_BUILD_KEY, served_build or b"")
        yield f"{redis_server}/{DB}"


def run_schemathesis(
    gateway: Gateway, workdir: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """schemathesis' CLI (its cache goes to `workdir`, not the repository)."""
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{gateway.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        *options,
    ]
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=600, check=False
    )
    print(done.stdout[-1500:])
    return done


@pytest.mark.parametrize("key", [None, KEY], ids=["without a key", "with a key"])
def test_the_gateway_keeps_its_openapi_document(
    triton,  # type: ignore[no-untyped-def]
    fuzz_redis_url: str,
    key: str | None,
    tmp_path: Path,
) -> None:
    settings = {"GATEWAY_API_KEY": key} if key else {}
    header = ["--header", f"X-API-Key: {key}"] if key else []
    with Gateway(triton.grpc_url, fuzz_redis_url, timeout_s=5.0, extra_env=settings) as gateway:
        done = run_schemathesis(gateway, tmp_path, *header)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout

"""/readyz reflects the model, on a real tritonserver (its own: the session's is shared) and a real
gateway: after SIGKILL of the executor's python stub process (Triton still calls the model ready,
every inference would wait out its timeout) /readyz turns 503 within 1 s, naming the model, and
200 again once the watchdog's reload serves the model; then /recommend answers too."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Gateway, serving

pytestmark = pytest.mark.slow

DETECT_WITHIN_S = 1.0
RELOAD_WITHIN_S = 240.0  # the model's load time: 5-11 s idle, far more on a loaded machine


@pytest.fixture(scope="module")
def own_triton(model_repository: Path, redis_url: str) -> Iterator[Any]:
    with serving(model_repository, redis_url) as server:
        yield server


@pytest.fixture(scope="module")
def own_gateway(own_triton: Any, redis_url: str) -> Iterator[Gateway]:
    gateway = Gateway(own_triton.grpc_url, redis_url, timeout_s=1.0)
    try:
        yield gateway
    finally:
        gateway.stop()


def readyz(gateway: Gateway) -> requests.Response:
    return requests.get(f"{gateway.url}/readyz", timeout=5)


def wait_for_status(gateway: Gateway, status: int, within_s: float) -> requests.Response:
    deadline = time.monotonic() + within_s
    while True:
        response = readyz(gateway)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def live_stubs(server: Any) -> list[int]:
    from deploy.triton.watchdog import stubs_of

    return [stub.pid for stub in stubs_of(server.pid) if not stub.dead and stub.model]


def test_readyz_is_503_within_a_second_of_the_model_process_dying_and_200_after_reload(
    own_triton: Any, own_gateway: Gateway
) -> None:
    assert wait_for_status(own_gateway, 200, within_s=60).status_code == 200
    killed = live_stubs(own_triton)
    assert len(killed) == 1  # the exported executor runs one instance: none is left to answer
    os.kill(killed[0], signal.SIGKILL)
    began = time.monotonic()
    response = wait_for_status(own_gateway, 503, within_s=5)
    detected_s = time.monotonic() - began
    print(f"/readyz 503 {detected_s:.2f} s after the kill: {response.json()}")
    assert response.status_code == 503
    assert "triton: model does not answer" in response.json()["problems"]
    assert detected_s < DETECT_WITHIN_S

    response = wait_for_status(own_gateway, 200, within_s=RELOAD_WITHIN_S)
    back_s = time.monotonic() - began
    print(f"/readyz 200 again {back_s:.1f} s after the kill")
    assert response.status_code == 200, response.json()
    assert set(live_stubs(own_triton)) - set(killed)  # a fresh model process serves
    answer = requests.get(f"{own_gateway.url}/recommend", params={"user_id": -1}, timeout=5)
    assert answer.status_code == 200

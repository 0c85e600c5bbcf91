"""The standby answers while the executor's process is dead, and /readyz reflects whether any
model answers: on a real tritonserver (its own: the session's is shared) and a real gateway.

SIGKILL of the executor's python stub (Triton still calls the model ready; every request sent
to it would fail after a second): under a steady load every request still gets 200 within the
gateway's timeout, the standby model's answers (`"standby": true`) within a second of the
kill, and /readyz stays 200. SIGKILL of the standby's stub as well: /readyz turns 503 within
1 s, naming the model. The watchdog reloads both; then /readyz is 200 and the executor
answers again."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from services.ensemble.contract import MODEL_NAME, STANDBY_MODEL_NAME
from tests.conftest import Gateway, serving

pytestmark = pytest.mark.slow

DETECT_WITHIN_S = 1.0
STANDBY_WITHIN_S = 1.0
RELOAD_WITHIN_S = 240.0  # the model's load time: 5-11 s idle, far more on a loaded machine
CLIENTS = 4


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


def live_stubs(server: Any) -> dict[str, int]:
    """model name -> the pid of its (one) live python stub."""
    from deploy.triton.watchdog import stubs_of

    return {stub.model: stub.pid for stub in stubs_of(server.pid) if not stub.dead and stub.model}


@dataclass
class Load:
    """CLIENTS threads asking /recommend in a loop: (sent at, seconds, status, standby)."""

    url: str
    answers: list[tuple[float, float, int, bool]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                sent = time.monotonic()
                response = session.get(f"{self.url}/recommend", params={"user_id": -1}, timeout=5)
                body = response.json() if response.status_code == 200 else {}
                seconds = time.monotonic() - sent
                self.answers.append(
                    (sent, seconds, response.status_code, bool(body.get("standby")))
                )


def test_the_standby_answers_while_the_executor_is_dead_and_readyz_follows_the_models(
    own_triton: Any, own_gateway: Gateway
) -> None:
    assert wait_for_status(own_gateway, 200, within_s=60).status_code == 200
    stubs = live_stubs(own_triton)
    assert set(stubs) == {MODEL_NAME, STANDBY_MODEL_NAME}
    load = Load(own_gateway.url)
    threads = [threading.Thread(target=load.run) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        os.kill(stubs[MODEL_NAME], signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(3.0)
        ready = readyz(own_gateway)  # the standby answers, and it says so
        assert ready.status_code == 200
        assert ready.json()["replicas"][0]["state"] == "ready, the standby answers"
    finally:
        load.stop.set()
        for thread in threads:
            thread.join()
    after = [answer for answer in load.answers if answer[0] >= killed_at]
    print(
        f"{len(after)} requests after the kill: slowest {max(a[1] for a in after):.3f} s, "
        f"{sum(a[3] for a in after)} from the standby"
    )
    assert [a for a in load.answers if a[2] != 200] == []
    assert max(a[1] for a in after) < 1.0
    first_standby = min(a[0] + a[1] for a in after if a[3])
    assert first_standby - killed_at < STANDBY_WITHIN_S

    os.kill(stubs[STANDBY_MODEL_NAME], signal.SIGKILL)
    began = time.monotonic()
    response = wait_for_status(own_gateway, 503, within_s=5)
    detected_s = time.monotonic() - began
    print(f"/readyz 503 {detected_s:.2f} s after both were killed: {response.json()}")
    assert response.status_code == 503
    assert "triton: model does not answer" in response.json()["problems"]
    assert detected_s < DETECT_WITHIN_S

    response = wait_for_status(own_gateway, 200, within_s=RELOAD_WITHIN_S)
    print(f"/readyz 200 again {time.monotonic() - began:.1f} s after both were killed")
    assert response.status_code == 200, response.json()
    deadline = time.monotonic() + RELOAD_WITHIN_S
    while (
        set(live_stubs(own_triton).values()) & set(stubs.values())
        or len(live_stubs(own_triton)) < 2
    ):
        assert time.monotonic() < deadline, "the watchdog did not bring both models back"
        time.sleep(0.5)
    time.sleep(1.5)  # past the gateway's standby hold
    answer = requests.get(f"{own_gateway.url}/recommend", params={"user_id": -1}, timeout=5)
    assert answer.status_code == 200 and answer.json()["standby"] is False

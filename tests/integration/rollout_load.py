"""The load of tests/integration/test_rollout.py: gateway and direct gRPC requests from threads,
every answer recorded with the version that gave it and when it was asked and answered (wall
clock), the changes of the served-version key in Redis with their times, and the figures."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import redis
import requests

from services.ensemble.contract import INPUT, MODEL_NAME, SERVED_VERSION_KEY
from tests.conftest import Gateway

THREADS = 6  # gateway requests; one more thread sends direct gRPC requests


@dataclass
class Stack:
    url: str
    repository: Path
    triton: object
    gateway: Gateway
    more_gateways: list[Gateway] = field(default_factory=list)
    """Further gateways on the same Triton and Redis: the load spreads over all of them."""

    @property
    def gateway_urls(self) -> list[str]:
        return [gateway.url for gateway in (self.gateway, *self.more_gateways)]


def answers(
    stack: Stack,
    users: list[int],
    version: str = "",
    client: object = None,
    model: str = MODEL_NAME,
) -> tuple[dict[int, list[int]], str]:
    """Each user's items from one gRPC request (to `version`, or the served one) and the version."""
    import tritonclient.grpc as grpcclient

    client = client or grpcclient.InferenceServerClient(stack.triton.grpc_url)  # type: ignore[attr-defined]
    request = grpcclient.InferInput(INPUT, [len(users), 1], "INT32")
    request.set_data_from_numpy(np.array(users, dtype=np.int32).reshape(-1, 1))
    result = client.infer(model, [request], model_version=version)
    ids = result.as_numpy("ordered_ids")
    return {u: ids[i].tolist() for i, u in enumerate(users)}, result.get_response().model_version


@dataclass
class Load:
    """Gateway requests from THREADS threads and direct gRPC requests from one, until stopped."""

    stack: Stack
    users: list[int]
    stop: threading.Event = field(default_factory=threading.Event)
    records: list[tuple[str, int, int, tuple[int, ...], bool, str, float, float, float]] = field(
        default_factory=list
    )
    """(gateway|grpc, user, status, items, fallback, version, seconds, asked at, answered at)"""
    failures: list[str] = field(default_factory=list)
    standby: list[float] = field(default_factory=list)
    """When the standby model answered (the executor was too slow): not in `records`, whose
    versions the checks compare."""

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self._gateway, args=(i,)) for i in range(THREADS)]
        self.threads.append(threading.Thread(target=self._grpc))
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.seconds = time.monotonic() - self.started

    def _gateway(self, offset: int) -> None:
        session = requests.Session()
        url = self.stack.gateway_urls[offset % len(self.stack.gateway_urls)]
        count = offset
        while not self.stop.is_set():
            user = self.users[count % len(self.users)]
            count += 1
            began, asked = time.perf_counter(), time.time()
            try:
                reply = session.get(f"{url}/recommend", params={"user_id": user}, timeout=15)
            except requests.RequestException as exc:
                self.failures.append(f"gateway: {exc}")
                continue
            took = time.perf_counter() - began
            if reply.status_code != 200:
                self.failures.append(f"gateway {reply.status_code}: {reply.text[:200]}")
                continue
            body = reply.json()
            if body.get("standby"):
                self.standby.append(asked)
                continue
            items = tuple(item["item_id"] for item in body["items"])
            version = str(body.get("model_version") or "")
            record = ("gateway", user, 200, items, body["fallback"], version, took)
            self.records.append((*record, asked, time.time()))

    def _grpc(self) -> None:
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(self.stack.triton.grpc_url)  # type: ignore[attr-defined]
        count = 0
        while not self.stop.is_set():
            user = self.users[count % len(self.users)]
            count += 1
            began, asked = time.perf_counter(), time.time()
            try:
                got, version = answers(self.stack, [user], client=client)
            except Exception as exc:  # any failure counts
                self.failures.append(f"grpc: {exc}")
                continue
            took = time.perf_counter() - began
            record = ("grpc", user, 200, tuple(got[user]), False, version, took)
            self.records.append((*record, asked, time.time()))


@dataclass
class ServedKeyWatch:
    """Polls SERVED_VERSION_KEY every few ms: each change as (new value, written after, written
    by), wall-clock times bracketing the write (the poll before saw the old value)."""

    url: str
    changes: list[tuple[str | None, float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> ServedKeyWatch:
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url)
        before, last = time.time(), client.get(SERVED_VERSION_KEY)
        while not self.stop.is_set():
            began = time.time()
            value = client.get(SERVED_VERSION_KEY)
            if value != last:
                self.changes.append((value.decode() if value else None, before, time.time()))
                last = value
            before = began
            time.sleep(0.005)


def from_one_version(record: tuple, expected: dict[str, dict[int, list[int]]]) -> bool:  # type: ignore[type-arg]
    """The answer is the whole answer of the version that gave it (or, without a version, of
    either version), up to the order of equal scores."""
    _, user, _, items, _, version, *_ = record
    candidates = [expected[version]] if version in expected else list(expected.values())
    return any(set(items) == set(answer[user]) for answer in candidates)


def report(load: Load, what: str) -> None:
    latencies = sorted(record[6] for record in load.records)
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    rate = len(load.records) / load.seconds
    line = (
        f"{what}: {len(load.records)} answers in {load.seconds:.0f} s ({rate:.0f}/s), "
        f"{len(load.standby)} more from the standby, "
        f"{len(load.failures)} failed, p99 {p99 * 1000:.0f} ms, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(line)
    with (Path(os.environ.get("TMPDIR", "/tmp")) / "rollout-figures.txt").open("a") as out:
        out.write(line + "\n")

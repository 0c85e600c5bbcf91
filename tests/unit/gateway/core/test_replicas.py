"""The replica pool with stub replicas: round robin, failed replicas skipped and probed back,
one retry on another replica within the request's budget, all down -> 503."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from services.gateway.api import deps
from services.gateway.core import readiness
from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics
from services.gateway.core.replicas import ReplicaPool, ReplicaState
from services.gateway.core.triton import ModelState, Ranking, TritonFailed, TritonUnavailable
from tests.unit.gateway.stubs import StubOnlineStore, StubRecommender, failed, unavailable


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Replica(StubRecommender):
    """A stub replica that fails its next `failures` calls, each taking `takes_s` of the clock."""

    failures: list[Exception] = field(default_factory=list)
    clock: FakeClock | None = None
    takes_s: float = 0.0
    timeouts: list[float | None] = field(default_factory=list)

    async def rank(
        self, user_id: int, timeout_s: float | None = None, version: int | None = None
    ) -> Ranking:
        self.calls.append(user_id)
        self.versions.append(version)
        self.timeouts.append(timeout_s)
        if self.clock is not None:
            self.clock.now += self.takes_s
        if self.failures:
            raise self.failures.pop(0)
        return self.ranking


def pool_of(*replicas: Replica, clock: FakeClock | None = None, **settings: float) -> ReplicaPool:
    return ReplicaPool(
        Settings(**settings),  # type: ignore[arg-type]
        Metrics(),
        replicas,
        clock=clock or FakeClock(),
    )


def rank(pool: ReplicaPool, times: int = 1) -> None:
    async def run() -> None:
        for user in range(times):
            await pool.rank(user)

    asyncio.run(run())


def sample(pool: ReplicaPool, name: str, **labels: str) -> float:
    value = pool._metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_settings_take_a_list_and_one_address_stays_valid() -> None:
    assert Settings(triton_url="a:8001").triton_urls == ["a:8001"]
    assert Settings(triton_url="a:8001, b:8001").triton_urls == ["a:8001", "b:8001"]
    for bad in ("a:8001,,b:8001", "a:8001,a:8001", " "):
        with pytest.raises(ValueError):
            Settings(triton_url=bad)


def test_round_robin_over_the_replicas() -> None:
    replicas = [Replica(), Replica(), Replica()]
    pool = pool_of(*replicas)
    rank(pool, times=6)
    assert [r.calls for r in replicas] == [[0, 3], [1, 4], [2, 5]]


def test_a_replica_that_went_away_is_retried_once_elsewhere_then_skipped() -> None:
    gone, healthy = Replica(failures=[unavailable()]), Replica()
    pool = pool_of(gone, healthy)
    rank(pool, times=4)
    assert gone.calls == [0] and healthy.calls == [0, 1, 2, 3]
    assert pool.up == [1]
    assert sample(pool, "gateway_triton_retries_total") == 1
    assert sample(pool, "gateway_triton_replica_up", replica="0") == 0
    assert sample(pool, "gateway_triton_replica_calls_total", replica="0", outcome="unavailable")
    assert sample(pool, "gateway_triton_replica_calls_total", replica="1", outcome="ok") == 4


def test_unknown_model_while_shutting_down_is_retried_elsewhere() -> None:
    closing, healthy = Replica(failures=[unavailable("model_unavailable")]), Replica()
    pool = pool_of(closing, healthy)
    rank(pool)
    assert healthy.calls == [0] and pool.up == [1]


def test_retried_once_only() -> None:
    replicas = [Replica(failures=[unavailable()]) for _ in range(3)]
    pool = pool_of(*replicas)
    with pytest.raises(TritonUnavailable):
        rank(pool)
    assert sum(len(r.calls) for r in replicas) == 2


@pytest.mark.parametrize("failure", [failed(), unavailable("timeout")])
def test_model_errors_and_timeouts_are_not_retried(failure: Exception) -> None:
    first, second = Replica(failures=[failure]), Replica()
    pool = pool_of(first, second)
    with pytest.raises((TritonFailed, TritonUnavailable)):
        rank(pool)
    assert second.calls == [] and pool.up == [0, 1]


def test_the_retry_gets_what_is_left_of_the_budget() -> None:
    clock = FakeClock()
    first = Replica(failures=[unavailable()], clock=clock, takes_s=0.3)
    second = Replica()
    pool = pool_of(first, second, clock=clock, request_timeout_s=1.0)
    rank(pool)
    assert first.timeouts == [1.0] and second.timeouts == [pytest.approx(0.7)]


def test_no_retry_beyond_the_budget() -> None:
    clock = FakeClock()
    first = Replica(failures=[unavailable()], clock=clock, takes_s=1.2)
    second = Replica()
    pool = pool_of(first, second, clock=clock, request_timeout_s=1.0)
    with pytest.raises(TritonUnavailable):
        rank(pool)
    assert second.calls == []


def test_all_down_gives_503_with_retry_after_without_calling_them(
    make_client: Callable[..., TestClient],
) -> None:
    replicas = [Replica(failures=[unavailable()] * 2) for _ in range(2)]
    pool = pool_of(*replicas)
    client = make_client(retry_after_s=3)
    client.app.dependency_overrides[deps.get_recommender] = lambda: pool  # type: ignore[attr-defined]
    for _ in range(3):
        response = client.get("/recommend", params={"user_id": 1})
        assert response.status_code == 503 and response.headers["Retry-After"] == "3"
        assert "10.0.0.9" not in response.text
    assert [len(r.calls) for r in replicas] == [1, 1]  # then skipped: no replica up


def test_a_failed_replica_is_probed_back_with_backoff() -> None:
    gone = Replica(failures=[unavailable()], state=unavailable())
    probes: list[float] = []

    async def model_state() -> ModelState:
        probes.append(asyncio.get_running_loop().time())
        return await StubRecommender.model_state(gone)

    gone.model_state = model_state  # type: ignore[method-assign]

    async def run() -> None:
        pool = ReplicaPool(
            Settings(replica_backoff_s=0.05, replica_backoff_max_s=0.2),
            Metrics(),
            [gone, Replica()],
        )
        pool.start()
        await pool.rank(1)
        assert pool.up == [1]
        await asyncio.sleep(0.6)
        assert pool.up == [1], "probed back while still unreachable"
        gone.state = ModelState(ready=True, build_id="build-1")
        await asyncio.sleep(0.35)
        assert pool.up == [0, 1]
        await pool.close()

    asyncio.run(run())
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert 2 <= len(probes) <= 8, probes  # 0.05, 0.1, 0.2, 0.2, ... not every tick
    assert max(gaps) >= 0.15


def test_ready_when_one_replica_is_ready_and_states_name_no_address() -> None:
    pool = pool_of(
        Replica(state=unavailable()),
        Replica(state=ModelState(ready=False, build_id=None)),
        Replica(),
    )
    report = asyncio.run(readiness.check(pool, StubOnlineStore(), timeout_s=1))
    assert report.problems == []
    assert report.replicas == [
        ReplicaState(0, "unreachable"),
        ReplicaState(1, "model not ready"),
        ReplicaState(2, "ready", "build-1"),
    ]
    assert pool.up == [2]


def test_not_ready_when_no_replica_is_ready() -> None:
    pool = pool_of(Replica(state=unavailable()), Replica(state=unavailable()))
    report = asyncio.run(readiness.check(pool, StubOnlineStore(), timeout_s=1))
    assert report.problems == ["triton: unreachable"]

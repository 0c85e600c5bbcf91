"""Stand-ins for the gateway's two edges (our own Recommender and OnlineStore), for route tests.
The real ones are tested against real Triton and Redis in tests/integration/test_gateway.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.core.replicas import ReplicaState, replica_state
from services.gateway.core.triton import ModelState, Ranking, TritonFailed, TritonUnavailable


@dataclass
class StubRecommender:
    ranking: Ranking = field(
        default_factory=lambda: Ranking(
            item_ids=list(range(100, 110)),
            scores=[1 - i / 10 for i in range(10)],
            fallback=False,
            model_version=1,
        )
    )
    failure: Exception | None = None
    state: ModelState | Exception = field(
        default_factory=lambda: ModelState(ready=True, build_id="build-1")
    )
    calls: list[int] = field(default_factory=list)
    versions: list[int | None] = field(default_factory=list)

    async def rank(
        self, user_id: int, timeout_s: float | None = None, version: int | None = None
    ) -> Ranking:
        self.calls.append(user_id)
        self.versions.append(version)
        if self.failure is not None:
            raise self.failure
        return self.ranking

    async def model_state(self) -> ModelState:
        if isinstance(self.state, Exception):
            raise self.state
        return self.state

    async def replica_states(self, timeout_s: float) -> list[ReplicaState]:
        return [await replica_state(0, self, timeout_s)]

    async def close(self) -> None:
        pass


@dataclass
class StubOnlineStore:
    held_build: str | None = "build-1"
    down: bool = False
    sets: dict[int, set[int]] = field(default_factory=dict)

    async def record_interaction(self, user_id: int, item_id: int) -> bool:
        if self.down:
            raise OnlineStoreUnavailable("Redis SADD failed: ConnectionError('10.0.0.7:6379')")
        items = self.sets.setdefault(user_id, set())
        new = item_id not in items
        items.add(item_id)
        return new

    async def build_id(self) -> str | None:
        if self.down:
            raise OnlineStoreUnavailable("Redis GET failed: ConnectionError('10.0.0.7:6379')")
        return self.held_build


def unavailable(outcome: str = "unavailable") -> TritonUnavailable:
    return TritonUnavailable("StatusCode.UNAVAILABLE: connect to 10.0.0.9:8001 failed", outcome)


def failed() -> TritonFailed:
    return TritonFailed("StatusCode.INTERNAL: KeyError: 'item_category' at 10.0.0.9")
